"""What every report shares: its error, the process's stages across versions, periods, percentiles.

A report reads the leads of one process, optionally of one definition version. Stage order,
titles, probabilities and closed kinds come from the deployed definitions: the latest (or the
requested) version first, then stages only older versions have.
"""

from __future__ import annotations

import calendar
import itertools
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from leadflow.definitions import FieldType, LeadflowError, ProcessDefinition
from leadflow.engine._clock import as_utc
from leadflow.engine._engine import Engine

__all__ = [
    "CLOSE_DATE_FIELDS",
    "PERIODS",
    "VALUE_FIELDS",
    "Period",
    "ProcessInfo",
    "ReportError",
    "StageInfo",
    "add_period",
    "as_of_or_now",
    "check_period",
    "cohort_key",
    "from_ts",
    "number",
    "percentile",
    "process_info",
    "stage_order",
    "utc",
    "windows",
]

Period = Literal["day", "week", "month", "quarter", "year"]
PERIODS: tuple[str, ...] = ("day", "week", "month", "quarter", "year")
VALUE_FIELDS = ("amount", "value", "deal_value")
"""Fields tried, in order, when the caller names no value field."""
CLOSE_DATE_FIELDS = ("close_date", "expected_close_date", "expected_close")
"""Fields tried, in order, for a lead's expected close date (naive forecast)."""
_NUMERIC = {FieldType.NUMBER, FieldType.INTEGER}
_DATES = {FieldType.DATE, FieldType.DATETIME}


class ReportError(LeadflowError, ValueError):
    """A report was asked for something it cannot do; ``parameter`` names the culprit."""

    code = "report-invalid"

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        super().__init__(f"{parameter}: {message}")


@dataclass(frozen=True, slots=True)
class StageInfo:
    """One stage as reports see it."""

    name: str
    title: str
    closed: str | None
    probability: int | None
    category: str = "pipeline"
    """The stage's forecast category (given, or derived from its probability)."""


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """The process's stages (ordered), its value and loss fields, and its main path."""

    process: str
    version: int | None
    stages: dict[str, StageInfo]
    main_path: tuple[str, ...]
    value_field: str | None
    loss_field: str | None
    close_date_field: str | None

    @property
    def open_stages(self) -> tuple[str, ...]:
        """Open stages in order."""
        return tuple(n for n, s in self.stages.items() if s.closed is None)

    def closed_kind(self, stage: str) -> str | None:
        """``won``/``lost`` for a closed stage, None for an open (or unknown) one."""
        info = self.stages.get(stage)
        return info.closed if info else None

    def category(self, stage: str) -> str:
        """The stage's forecast category (``pipeline`` for an unknown stage)."""
        info = self.stages.get(stage)
        return info.category if info else "pipeline"

    def probability(self, stage: str) -> float:
        """The stage's win probability as a fraction (0 when it declares none)."""
        info = self.stages.get(stage)
        return (info.probability or 0) / 100 if info else 0.0


def _walk(definition: ProcessDefinition) -> list[str]:
    """From the initial stage, the first forward transition out of each stage, to a closed one."""
    path = [definition.initial_stage]
    while definition.stages[path[-1]].closed is None:
        nxt = next(
            (
                t.to
                for t in definition.transitions
                if path[-1] in t.sources and not t.backward and t.to not in path
            ),
            None,
        )
        if nxt is None:
            break
        path.append(nxt)
    return path


def stage_order(definition: ProcessDefinition) -> list[str]:
    """The stages in a stable order: the main path, then as transitions first name them.

    Open stages come first, closed ones last. The order is derived from the transitions (a
    list) rather than from the stages mapping: a definition read back from the database has
    its stages in alphabetical order (the canonical JSON sorts keys).
    """
    seen = dict.fromkeys(_walk(definition))
    for t in definition.transitions:
        for name in (*t.sources, t.to):
            if name in definition.stages:
                seen.setdefault(name)
    for name in definition.stages:
        seen.setdefault(name)
    order = list(seen)
    return [s for s in order if definition.stages[s].closed is None] + [
        s for s in order if definition.stages[s].closed is not None
    ]


def _main_path(definition: ProcessDefinition) -> tuple[str, ...]:
    """The walk of :func:`_walk` when it ends in a won stage; else every open stage in order and
    the first won stage."""
    path = _walk(definition)
    if definition.stages[path[-1]].closed == "won":
        return tuple(path)
    order = stage_order(definition)
    won = [n for n in order if definition.stages[n].closed == "won"]
    return (*(n for n in order if definition.stages[n].closed is None), *won[:1])


def _field(
    definition: ProcessDefinition,
    parameter: str,
    given: str | None,
    defaults: Sequence[str],
    types: set[FieldType],
    kind: str,
    hidden: Collection[str],
) -> str | None:
    declared = [n for n, f in definition.fields.items() if f.type in types and n not in hidden]
    if given is not None and given in hidden:
        raise ReportError(parameter, f"'{given}' is a field you may not read")
    if given is None:
        return next((n for n in defaults if n in declared), None)
    if given not in declared:
        allowed = ", ".join(declared) or "none"
        raise ReportError(
            parameter,
            f"'{given}' is not a {kind} field of {definition.process} v{definition.version} "
            f"({kind} fields: {allowed})",
        )
    return given


def process_info(
    engine: Engine,
    process: str,
    version: int | None = None,
    *,
    value_field: str | None = None,
    loss_field: str | None = None,
    close_date_field: str | None = None,
    path: Sequence[str] | None = None,
    hidden: Collection[str] = (),
) -> ProcessInfo:
    """Stages, fields and main path of ``process`` (raises ``UnknownProcess``, ReportError).

    Fields in ``hidden`` (those the caller's role may not read) are never used: a default
    skips them, and naming one is a ReportError."""
    if version is not None and (not isinstance(version, int) or version < 1):
        raise ReportError("version", f"must be a positive whole number, not {version!r}")
    definition = engine.definition(process, version)
    others = [] if version is not None else engine.processes().get(process, [])
    stages: dict[str, StageInfo] = {}
    for d in [definition, *(engine.definition(process, v) for v in reversed(others))]:
        for name in stage_order(d):
            stage = d.stages[name]
            if name not in stages:
                title = stage.title or name
                stages[name] = StageInfo(
                    name, title, stage.closed, stage.probability, stage.category
                )
    if path is None:
        main = _main_path(definition)
    else:
        unknown = [s for s in path if s not in stages]
        if unknown or len(path) < 2 or len(set(path)) != len(path):
            what = f"unknown stages {', '.join(unknown)}" if unknown else "needs 2+ distinct stages"
            raise ReportError("path", f"{what} (stages: {', '.join(stages)})")
        main = tuple(path)
    loss: str | None = loss_field if loss_field is not None else "lost_reason"
    if loss in hidden:
        if loss_field is not None:
            raise ReportError("loss_field", f"'{loss_field}' is a field you may not read")
        loss = None
    if loss is not None and loss not in definition.fields:
        if loss_field is not None:
            fields = ", ".join(definition.fields) or "none"
            raise ReportError(
                "loss_field", f"'{loss_field}' is not a field of {process} (fields: {fields})"
            )
        loss = None
    return ProcessInfo(
        process=process,
        version=version,
        stages=stages,
        main_path=main,
        value_field=_field(
            definition, "value_field", value_field, VALUE_FIELDS, _NUMERIC, "number", hidden
        ),
        loss_field=loss,
        close_date_field=_field(
            definition,
            "close_date_field",
            close_date_field,
            CLOSE_DATE_FIELDS,
            _DATES,
            "date",
            hidden,
        ),
    )


# -- periods ----------------------------------------------------------------------------------


def stage_titles(engine: Engine, process: str, version: int | None = None) -> dict[str, str]:
    """Stage id -> title (the id when the stage has none) of the stages reports of
    ``version`` show: every deployed version's when it is None, the newest title winning."""
    stages = process_info(engine, process, version).stages
    return {name: info.title for name, info in stages.items()}


def check_period(period: str, parameter: str = "period") -> None:
    """Raise :class:`ReportError` unless ``period`` is one of :data:`PERIODS`."""
    if period not in PERIODS:
        raise ReportError(parameter, f"{period!r} is not a period; use one of {', '.join(PERIODS)}")


def _add_months(value: datetime, months: int) -> datetime:
    year, month0 = divmod(value.month - 1 + months, 12)
    year += value.year
    day = min(value.day, calendar.monthrange(year, month0 + 1)[1])
    return value.replace(year=year, month=month0 + 1, day=day)


def add_period(start: datetime, period: str, count: int) -> datetime:
    """``start`` moved by ``count`` periods (calendar months for month, quarter and year)."""
    check_period(period)
    if period == "day":
        return start + timedelta(days=count)
    if period == "week":
        return start + timedelta(weeks=count)
    return _add_months(start, count * {"month": 1, "quarter": 3, "year": 12}[period])


def windows(start: datetime, period: str, count: int) -> list[tuple[datetime, datetime]]:
    """``count`` consecutive periods from ``start``: ``[(start, end), ...]``, end exclusive."""
    edges = [add_period(start, period, k) for k in range(count + 1)]
    return list(itertools.pairwise(edges))


def cohort_key(when: datetime, period: str | None) -> str:
    """The calendar period ``when`` falls in: ``2017-03``, ``2017-W09``, ``2017-Q1``, ..."""
    if period is None:
        return "all"
    if period == "day":
        return when.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _ = when.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return when.strftime("%Y-%m")
    if period == "quarter":
        return f"{when.year}-Q{(when.month - 1) // 3 + 1}"
    return str(when.year)


def utc(value: datetime, parameter: str) -> datetime:
    """An aware UTC datetime; naive values are refused, naming ``parameter``."""
    if not isinstance(value, datetime):
        raise ReportError(parameter, f"must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None:
        raise ReportError(parameter, "must be timezone-aware (e.g. datetime(..., tzinfo=UTC))")
    return as_utc(value)


def as_of_or_now(engine: Engine, as_of: datetime | None) -> datetime:
    """``as_of`` checked (aware, UTC), or the engine clock's now."""
    return utc(as_of, "as_of") if as_of is not None else utc(engine.clock.now(), "engine.clock")


def number(value: object) -> float:
    """An amount as a float; anything else (unset, text, NaN) counts as 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) else 0.0


def from_ts(seconds: float) -> datetime:
    """An epoch timestamp as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC)


# -- statistics -------------------------------------------------------------------------------


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of sorted values, linearly interpolated; None when empty."""
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
