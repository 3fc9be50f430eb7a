"""Simulation specs: where the leads come from (a replayed history or a generator).

A spec is a small YAML or JSON file with one top-level key, ``replay`` or ``generator``,
validated by the frozen pydantic models below. Problems are reported all at once with the
file, line and column of the offending key (the definitions loader's YAML reader keeps every
node's position), as :class:`SpecError`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from leadflow.definitions import LeadflowError, Problem, parse_duration
from leadflow.definitions.yaml_source import Document, SourceError, parse_document
from leadflow.engine.simulate._draw import exponential, lognormal

__all__ = [
    "Arrivals",
    "Distribution",
    "GeneratorSpec",
    "Join",
    "Outcome",
    "Rep",
    "ReplaySpec",
    "SpecError",
    "StageBehaviour",
    "load_spec",
    "parse_spec",
]

DEFAULT_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""Monday 5 January 2026, 09:00 UTC: where generated arrivals begin unless ``start`` says."""


class SpecError(LeadflowError, ValueError):
    """A simulation spec is malformed or does not fit the definition; ``problems`` say where."""

    code = "simulation-spec-invalid"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def _duration(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    return parse_duration(value) if isinstance(value, str) else value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
"""``"5m"``, ``"1d 4h"``, or a number of seconds."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class _Located(_Model):
    _source: Document | None = PrivateAttr(None)
    """The parsed file (node positions), when the spec was read from text."""


class Fixed(_Model):
    """Always the same delay."""

    dist: Literal["fixed"] = "fixed"
    value: Duration

    def sample(self, u: float) -> timedelta:
        return self.value


class Exponential(_Model):
    """Memoryless delays with mean ``mean``."""

    dist: Literal["exponential"]
    mean: Duration

    def sample(self, u: float) -> timedelta:
        return exponential(u, self.mean)


class LogNormal(_Model):
    """Right-skewed delays: half are below ``median``; ``sigma`` widens the tail."""

    dist: Literal["lognormal"]
    median: Duration
    sigma: float = Field(1.0, ge=0, le=5)

    def sample(self, u: float) -> timedelta:
        return lognormal(u, self.median, self.sigma)


class Uniform(_Model):
    """Any delay between ``low`` and ``high`` alike."""

    dist: Literal["uniform"]
    low: Duration
    high: Duration

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("high must not be below low")
        return self

    def sample(self, u: float) -> timedelta:
        return self.low + (self.high - self.low) * u


def _fixed(value: Any) -> Any:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return {"dist": "fixed", "value": value}
    return value


Distribution = Annotated[
    Fixed | Exponential | LogNormal | Uniform,
    Field(discriminator="dist"),
    BeforeValidator(_fixed),
]
"""A delay: a duration, or ``{dist: exponential|lognormal|uniform|fixed, ...}``."""


class Outcome(_Model):
    """What a successful step does: fire ``trigger`` with ``data``."""

    trigger: str
    weight: float = Field(1.0, ge=0)
    """Relative chance among the stage's outcomes."""
    data: dict[str, Any] = Field(default_factory=dict)
    """Lead data sent with the trigger (values as in the generator's ``data``)."""
    if_blocked: Outcome | None = None
    """Fired at once instead when a guard refuses ``trigger`` (else the lead waits)."""


class StageBehaviour(_Model):
    """How the owner works a lead in one stage."""

    wait: Distribution | None = None
    """Delay before the first step in the stage (default: the owner's response time)."""
    activity: str | None = None
    """The activity each attempt records (``call``), before any trigger."""
    attempts: int = Field(1, ge=1, le=100)
    success: float = Field(1.0, ge=0, le=1)
    """Chance that an attempt leads to one of the ``outcomes``."""
    retry: Distribution = Fixed(value=timedelta(days=1))
    """Delay between attempts."""
    outcomes: list[Outcome] = Field(default_factory=list)
    give_up: Outcome | None = None
    """Fired after the last unsuccessful attempt (leave it out to let an SLA decide)."""


class Rep(_Model):
    """One rep's (or everyone's, under ``default``) behaviour."""

    response: Distribution
    """Time from getting a lead to working it, in the rep's working hours."""


class Arrivals(_Model):
    """When leads arrive: a Poisson stream."""

    per_hour: float = Field(gt=0, le=1_000_000)
    profile: Literal["flat", "business"] = "business"
    """``business``: leads arrive only in ``calendar``'s open hours."""
    calendar: str | None = None
    """A calendar of the definition (default: its first)."""


class GeneratorSpec(_Located):
    """Leads made up from distributions, worked by simulated reps."""

    leads: int = Field(ge=1, le=10_000_000)
    arrivals: Arrivals
    start: datetime = DEFAULT_START
    horizon: Duration = timedelta(days=30)
    """How long the run goes on after the last arrival."""
    data: dict[str, Any] = Field(default_factory=dict)
    """Lead data at start: constants (``"{n}@example.com"``), ``{choice: {a: 3, b: 1}}`` or
    ``{uniform: [low, high]}``."""
    reps: dict[str, Rep] = Field(default_factory=dict)
    owners: list[str] = Field(default_factory=list)
    """Owners dealt round robin when the definition has no routing."""
    stages: dict[str, StageBehaviour] = Field(default_factory=dict)
    working_hours: bool = True
    """Reps act only in their team calendar's open hours."""
    sweep_window: Duration = timedelta(minutes=1)
    """SLA marks due within this much of each other are fired together."""

    @model_validator(mode="after")
    def _aware(self) -> GeneratorSpec:
        if self.start.tzinfo is None:
            raise ValueError("start needs a timezone offset, such as 2026-01-05T09:00:00Z")
        return self


class EventColumns(_Model):
    """Long format: one row per event of a lead."""

    time: str
    type: str
    """A stage of ``stages`` (a stage change) or an activity type."""


class Join(_Model):
    """Another file whose rows are joined onto the main file's rows (a left join)."""

    path: Path
    """The file, relative to the spec file."""
    format: Literal["csv", "jsonl"] | None = None
    """Default: from the file's extension."""
    on: str | list[str] | dict[str, str]
    """The key: a column both files have, several (a composite key), or ``{column of the rows
    so far: column of this file}`` when the names differ."""
    prefix: str = ""
    """Put before this file's column names (not the key's), when they clash with others."""

    @field_validator("on", mode="before")
    @classmethod
    def _key_shape(cls, value: Any) -> Any:
        texts = (
            isinstance(value, str)
            or (isinstance(value, list) and all(isinstance(v, str) for v in value))
            or (isinstance(value, dict) and all(isinstance(v, str) for v in value.values()))
        )
        if not texts:
            raise ValueError(
                "give a column, a list of columns, or {column of the rows so far: column of "
                "this file}"
            )
        return value

    @model_validator(mode="after")
    def _keyed(self) -> Join:
        if not self.pairs():
            raise ValueError("on: name at least one key column")
        return self

    def pairs(self) -> list[tuple[str, str]]:
        """(column of the rows so far, column of this file) for each part of the key."""
        if isinstance(self.on, str):
            return [(self.on, self.on)]
        if isinstance(self.on, list):
            return [(c, c) for c in self.on]
        return list(self.on.items())


class ReplaySpec(_Located):
    """A history of leads read from CSV or JSONL files."""

    path: Path
    """The main file, relative to the spec file: one row per lead (or per event)."""
    format: Literal["csv", "jsonl"] | None = None
    """Default: from the file's extension."""
    join: list[Join] = Field(default_factory=list)
    """More files joined onto the main file's rows on a key, in order (a left join: every row
    of the main file is kept; joined rows no main row matches are reported)."""
    lead_id: str
    created: list[str] = Field(default_factory=list)
    """Columns holding the creation time, tried in order (wide format)."""
    undated: Literal["end", "skip", "error"] = "error"
    """Rows with no creation time: start at the end of the data, skip, or fail."""
    stage: str | None = None
    """The column of the current stage (wide format). Without it a lead ends in the last stage
    of ``stage_times`` it has a time for, or stays in the initial stage."""
    stages: dict[str, str] = Field(default_factory=dict)
    """Stage names of the data -> stages of the definition."""
    stage_times: dict[str, str] = Field(default_factory=dict)
    """Definition stage -> the column of the time the lead entered it."""
    activity_times: dict[str, str] = Field(default_factory=dict)
    """Activity type -> the column of the time it happened (wide format): ``{call:
    first_contact_date}`` records a call then (an empty cell records none)."""
    events: EventColumns | None = None
    activities: dict[str, str] = Field(default_factory=dict)
    """Event types of the data -> activity types (long format; others keep their name)."""
    owner: str | None = None
    fields: dict[str, str] = Field(default_factory=dict)
    """Definition field -> column, set at start."""
    stage_fields: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Definition stage -> {field: column}, sent with the trigger that enters it."""
    timezone: str = "UTC"
    """The zone of times written without an offset."""
    time_formats: dict[str, str] = Field(default_factory=dict)
    """Column -> ``strptime`` format (``"%d/%m/%Y %H:%M"``); other columns hold ISO 8601 times
    or dates (a date alone is midnight in ``timezone``)."""
    bad_rows: Literal["error", "skip"] = "error"
    """A row with an unreadable time or value, an unknown stage or no lead id: stop before
    writing anything and name every such row (``error``), or leave it out and report it."""
    end: datetime | None = None
    """When the replay stops (default: the last time in the data)."""
    sweep_window: Duration = timedelta(minutes=1)

    @field_validator("time_formats")
    @classmethod
    def _formats(cls, value: dict[str, str]) -> dict[str, str]:
        for column, pattern in value.items():
            if "%" not in pattern:
                raise ValueError(
                    f"{column}: {pattern!r} is not a strptime format (such as %Y-%m-%d %H:%M)"
                )
        return value

    @model_validator(mode="after")
    def _shape(self) -> ReplaySpec:
        if self.events is None and self.stage is None and not self.stage_times:
            raise ValueError(
                "give stage or stage_times (one row per lead), or events (one row per event)"
            )
        if self.events is None and not self.created:
            raise ValueError("created: name the column(s) with each lead's creation time")
        return self


class _File(_Model):
    replay: ReplaySpec | None = None
    generator: GeneratorSpec | None = None

    @model_validator(mode="after")
    def _one(self) -> _File:
        if (self.replay is None) == (self.generator is None):
            raise ValueError("a spec has exactly one of the keys replay or generator")
        return self


def _problem(doc: Document, loc: tuple[str | int, ...], message: str) -> Problem:
    path = tuple(p for p in loc if not (isinstance(p, str) and (p in _UNION_TAGS or "[" in p)))
    where = ".".join(str(p) for p in path)
    line, column = doc.position(path, key=True)
    text = f"{where}: {message}" if where else message
    return Problem(text, "simulation-spec-invalid", doc.file, line, column)


_UNION_TAGS = {"fixed", "exponential", "lognormal", "uniform"}
"""pydantic puts the chosen variant of a tagged union into an error's location; not a key."""


def parse_spec(text: str | bytes, file: str = "<string>") -> ReplaySpec | GeneratorSpec:
    """The spec in ``text``; :class:`SpecError` naming every problem with its position."""
    try:
        doc = parse_document(text, file)
    except SourceError as exc:
        raise SpecError(list(exc.problems)) from exc
    try:
        parsed = _File.model_validate(doc.data)
    except ValidationError as exc:
        problems = [
            _problem(doc, tuple(e["loc"]), e["msg"].removeprefix("Value error, "))
            for e in exc.errors()
        ]
        raise SpecError(problems) from exc
    spec = parsed.replay or parsed.generator
    assert spec is not None
    if isinstance(spec, ReplaySpec) and file != "<string>":
        spec = _relative_to(spec, Path(file).parent)
    spec._source = doc
    return spec


def _relative_to(spec: ReplaySpec, folder: Path) -> ReplaySpec:
    """``spec`` with its data files' relative paths made relative to ``folder``."""
    joins = [j.model_copy(update={"path": folder / j.path}) for j in spec.join]
    return spec.model_copy(update={"path": folder / spec.path, "join": joins})


def load_spec(path: str | Path) -> ReplaySpec | GeneratorSpec:
    """Read and validate a spec file (YAML or JSON); :class:`SpecError` if it is not right."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        message = f"cannot read the spec: {exc.strerror or exc}"
        raise SpecError([Problem(message, "simulation-spec-invalid", str(path))]) from exc
    return parse_spec(raw, str(path))


def spec_problem(
    spec: ReplaySpec | GeneratorSpec, path: tuple[str | int, ...], message: str
) -> Problem:
    """A problem at ``path`` of a loaded spec (positioned when it came from text)."""
    doc = spec._source
    where = ".".join(str(p) for p in path)
    if doc is None:
        return Problem(f"{where}: {message}", "simulation-spec-invalid")
    kind = "replay" if isinstance(spec, ReplaySpec) else "generator"
    line, column = doc.position((kind, *path), key=True)
    return Problem(f"{kind}.{where}: {message}", "simulation-spec-invalid", doc.file, line, column)
