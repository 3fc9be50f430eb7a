"""The process definition language as frozen pydantic models.

These models check what one node can check on its own (types, ranges, which keys exist).
Checks that need the whole definition (names resolve, stages are reachable, CEL references
declared fields) live in :mod:`leadflow.definitions._checks` and run after these.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from ._access_model import AccessSpec
from ._account_model import AccountMatch
from ._base import (
    INT32_MAX,
    PROCESS_PATTERN,
    ActivityRequirement,
    Bound,
    Name,
    WholeNumber,
    _Model,
    as_tuple,
)
from ._durations import Duration
from ._frozen import FrozenDict
from ._lint_model import LintSettings
from ._sla_model import (
    CalendarSpec,
    RerouteRule,
    RoutingRule,
    Schedule,
    SlaPolicy,
    SubscriptionSpec,
    Team,
)

__all__ = [
    "ActivityCriterion",
    "ActivityRequirement",
    "CelCriterion",
    "ChecklistCriterion",
    "Criterion",
    "FieldSetCriterion",
    "FieldSpec",
    "FieldType",
    "ForecastCategory",
    "PlaybookItem",
    "ProcessDefinition",
    "Stage",
    "Transition",
]


class FieldType(StrEnum):
    """The types a lead field can have."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    ENUM = "enum"
    LIST = "list"


_BOUNDED = {FieldType.STRING, FieldType.INTEGER, FieldType.NUMBER, FieldType.LIST}


class FieldSpec(_Model):
    """One field of the lead's data contract."""

    type: FieldType
    """The field's type; values of another type are rejected on start, update and fire."""
    required: bool = False
    """A lead cannot be started, or keep existing, without this field."""
    min: Bound | None = None
    """Lowest value (integer, number), shortest length (string) or fewest items (list)."""
    max: Bound | None = None
    """Highest value (integer, number), longest length (string) or most items (list)."""
    values: tuple[str, ...] | None = None
    """The allowed values of an ``enum`` field."""
    items: FieldType | None = None
    """The type of each item of a ``list`` field (any JSON value when absent)."""
    pattern: str | None = None
    """A regular expression a ``string`` field must match (``re.fullmatch``)."""
    title: str | None = None
    """A label for people (forms, reports)."""
    description: str | None = None
    """What the field means and who fills it."""

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        if self.type is FieldType.ENUM and not self.values:
            raise ValueError("an enum field needs 'values', the list of allowed values")
        if self.type is not FieldType.ENUM and self.values is not None:
            raise ValueError(f"'values' is only allowed on enum fields, not on {self.type.value}")
        if self.values is not None and len(set(self.values)) != len(self.values):
            raise ValueError("'values' lists the same value twice")
        if (self.min is not None or self.max is not None) and self.type not in _BOUNDED:
            raise ValueError(
                f"'min'/'max' are not allowed on {self.type.value} fields "
                "(allowed on string, integer, number and list)"
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"'min' ({self.min:g}) is above 'max' ({self.max:g})")
        if self.items is not None and self.type is not FieldType.LIST:
            raise ValueError("'items' is only allowed on list fields")
        if self.items in (FieldType.LIST, FieldType.ENUM):
            raise ValueError("list items may be string, integer, number, boolean, date or datetime")
        if self.pattern is not None:
            if self.type is not FieldType.STRING:
                raise ValueError("'pattern' is only allowed on string fields")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"'pattern' is not a valid regular expression: {exc}") from exc
        return self


class PlaybookItem(_Model):
    """An action a rep takes in a stage, with the template that helps (call script, email)."""

    id: Name
    """Unique within the stage; a recorded activity of this type (or of ``activity``) ticks it."""
    title: str = Field(min_length=1)
    """What to do, in the rep's words."""
    template: str | None = None
    """A path or URL of the script or template to use."""
    description: str | None = None
    """More detail for the rep."""
    activity: Name | None = None
    """The activity type that completes this item; defaults to the item's ``id``."""

    @property
    def activity_type(self) -> str:
        """The activity type whose recording ticks this item."""
        return self.activity or self.id


class _CriterionBase(_Model):
    id: Name
    """Unique within its stage or transition; reported back when the criterion fails."""
    message: str = Field(min_length=1)
    """What the rep must do to meet the criterion, shown when it is unmet."""
    when: str | None = None
    """A CEL condition: the criterion applies only when it holds (always when absent)."""


class FieldSetCriterion(_CriterionBase):
    """Met when the lead has a value for a field."""

    field_set: Name
    """The field that must be set (not missing, not null, not an empty string or list)."""


class ActivityCriterion(_CriterionBase):
    """Met when enough activities of a type were recorded."""

    activity: ActivityRequirement
    """The activity type and count required."""


class CelCriterion(_CriterionBase):
    """Met when a Common Expression Language expression is true."""

    cel: str = Field(min_length=1)
    """A CEL expression over ``lead``, ``activities``, ``stage``, ``owner`` and ``now``."""


class ChecklistCriterion(_CriterionBase):
    """Met when the named playbook items of the current stage are done."""

    checklist: tuple[Name, ...] = Field(min_length=1)
    """Playbook item ids of the stage the lead is leaving."""


CRITERION_KINDS: tuple[str, ...] = ("field_set", "activity", "cel", "checklist")
"""The keys that tell the kinds of criterion apart; a criterion has exactly one of them."""


def _criterion_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return next(k for k in CRITERION_KINDS if hasattr(value, k))
    if not isinstance(value, dict):
        return None
    kinds = [k for k in CRITERION_KINDS if k in value]
    return kinds[0] if len(kinds) == 1 else None


Criterion = Annotated[
    Annotated[FieldSetCriterion, Tag("field_set")]
    | Annotated[ActivityCriterion, Tag("activity")]
    | Annotated[CelCriterion, Tag("cel")]
    | Annotated[ChecklistCriterion, Tag("checklist")],
    Discriminator(
        _criterion_kind,
        custom_error_type="criterion_kind",
        custom_error_message=(
            "a criterion needs exactly one of field_set, activity, cel or checklist"
        ),
    ),
]
"""A stage exit criterion or transition guard; the key present picks the kind."""


ForecastCategory = Literal["pipeline", "best_case", "commit", "closed"]
"""Where a stage's deals count in a forecast, as in Salesforce: ``commit`` (sure to close),
``best_case`` (could close), ``pipeline`` (early), ``closed`` (won or lost)."""

ROTTING_AFTER = timedelta(days=14)
"""How long a lead may sit in a stage with no change and no activity before a board shows it
as rotting, where the stage says nothing else (``rotting_after``)."""
COMMIT_FROM = 80
"""Open stages without a ``forecast_category`` and at least this probability count as commit."""
BEST_CASE_FROM = 50
"""... and at least this one (below :data:`COMMIT_FROM`) as best case; the rest as pipeline."""


class Stage(_Model):
    """A stage of the process: open (being worked) or closed (won or lost)."""

    initial: bool = False
    """New leads start here; exactly one stage is initial."""
    closed: Literal["won", "lost"] | None = None
    """Marks a terminal stage; leads leave it only by a transition marked ``reopen``."""
    probability: WholeNumber | None = Field(default=None, ge=0, le=100)
    """Chance to win, in percent, for weighted pipeline and forecasts."""
    forecast_category: ForecastCategory | None = None
    """Where this stage's deals count in the forecast; see :attr:`category` for the default."""
    rotting_after: Duration | None = None
    """How long a lead may sit here with no stage change and no activity before the board
    shows it as rotting (``7d``); :data:`ROTTING_AFTER` (14 days) when absent."""
    title: str | None = None
    """A label for people."""
    description: str | None = None
    """What this stage means."""
    playbook: tuple[PlaybookItem, ...] = ()
    """The actions reps take here, with their templates."""
    exit_criteria: tuple[Criterion, ...] = ()
    """Must all hold to leave this stage by any transition to a stage that is not closed-lost."""

    @model_validator(mode="after")
    def _consistent(self) -> Stage:
        if self.initial and self.closed:
            raise ValueError("a stage cannot be both initial and closed")
        if self.closed and self.forecast_category not in (None, "closed"):
            raise ValueError(
                f"forecast_category: a closed stage is in the 'closed' category, "
                f"not {self.forecast_category!r}"
            )
        if not self.closed and self.forecast_category == "closed":
            raise ValueError(
                "forecast_category: 'closed' is for closed stages; "
                "use pipeline, best_case or commit for an open one"
            )
        return self

    @property
    def rots_after(self) -> timedelta:
        """``rotting_after``, or the default of 14 days."""
        return self.rotting_after or ROTTING_AFTER

    @property
    def category(self) -> ForecastCategory:
        """``forecast_category`` when given; else ``closed`` for a closed stage, ``commit`` from
        a probability of 80, ``best_case`` from 50, and ``pipeline`` otherwise (no probability
        too)."""
        if self.forecast_category is not None:
            return self.forecast_category
        if self.closed:
            return "closed"
        p = self.probability or 0
        return "commit" if p >= COMMIT_FROM else "best_case" if p >= BEST_CASE_FROM else "pipeline"


class AutoRule(_Model):
    """When a transition fires by itself (``auto: {when: "lead.score < 50"}``)."""

    when: str = Field(min_length=1)
    """A CEL condition: after each start, fire, update, activity and assignment of a lead in one
    of the transition's stages, the transition fires by itself when this holds and its criteria
    are met (through the same guarded path as a fire, with actor ``rule:<name>`` in history)."""


class Transition(_Model):
    """A trigger that moves a lead from one or more stages to another."""

    name: Name
    """The trigger that fires this transition; several transitions may share one trigger."""
    source: Annotated[
        tuple[str, ...],
        BeforeValidator(as_tuple, json_schema_input_type=str | list[str]),
        Field(alias="from"),
    ]
    """A stage, a list of stages, or ``"*"`` for every open stage."""
    to: str
    """The stage the lead moves to."""
    guard: tuple[Criterion, ...] = ()
    """Criteria this transition needs, on top of the exit criteria of the stage it leaves."""
    requires: tuple[Name, ...] = ()
    """Fields the event's data must set when firing this transition (a lost reason, say)."""
    reopen: bool = False
    """Allows leaving a closed stage (reopening a lost or won lead)."""
    backward: bool = False
    """A step back (revise the proposal): the exit criteria of the stage left do not apply."""
    clears: tuple[Name, ...] = ()
    """Fields unset when the transition fires (a recycled lead's old lost reason)."""
    title: str | None = None
    """A label for people (button text)."""
    description: str | None = None
    """When to use this transition."""
    auto: AutoRule | None = None
    """Fire by itself when a condition holds (it can still be fired by hand)."""

    @field_validator("source")
    @classmethod
    def _source_not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("'from' lists no stage")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Transition:
        both = sorted(set(self.requires) & set(self.clears))
        if both:
            raise ValueError(f"{', '.join(both)}: a field cannot be both required and cleared")
        if self.auto is not None and self.requires:
            raise ValueError(
                "an automatic transition fires with no data, so it cannot 'require' fields; "
                "drop requires, or auto (and fire it by hand)"
            )
        if self.auto is not None and self.reopen:
            raise ValueError("an automatic transition cannot reopen closed leads")
        return self

    @property
    def sources(self) -> tuple[str, ...]:
        """The ``from`` stages as written (``("*",)`` for every open stage)."""
        return self.source


class ProcessDefinition(_Model):
    """A sales process: its lead data, stages and transitions."""

    process: str = Field(pattern=PROCESS_PATTERN, max_length=64)
    """The process id, stable across versions (``inbound-lead``)."""
    version: WholeNumber = Field(ge=1, le=INT32_MAX)
    """A positive integer; a deployed version never changes, so edits get a new number."""
    title: str | None = None
    """A label for people."""
    description: str | None = None
    """What the process is for and who runs it."""
    extra: Literal["forbid", "allow"] = "forbid"
    """Whether lead data may carry fields the definition does not declare."""
    fields: dict[Name, FieldSpec] = Field(default_factory=dict)
    """The lead's data contract, by field name."""
    stages: dict[Name, Stage] = Field(min_length=2)
    """The stages in order (the main path first); at least one open and one closed."""
    transitions: tuple[Transition, ...] = Field(min_length=1)
    """Every allowed move between stages."""
    calendars: dict[Name, CalendarSpec] = Field(default_factory=dict)
    """Business-hours calendars SLA clocks and teams count in, by name."""
    slas: dict[Name, SlaPolicy] = Field(default_factory=dict)
    """SLA clocks, by id (``speed_to_call``)."""
    teams: dict[Name, Team] = Field(default_factory=dict)
    """Teams leads are routed to, by name."""
    routing: tuple[RoutingRule, ...] = ()
    """Rules that pick a team for a new lead (and on reassignment); the first match wins."""
    reroute: tuple[RerouteRule, ...] = ()
    """When a lead is routed again: a change of named fields (the first matching rule wins)."""
    match_account: AccountMatch | None = None
    """Before the routing rules: a lead matching an imported account goes to its owner."""
    schedules: dict[Name, Schedule] = Field(default_factory=dict)
    """Cron-like jobs the worker runs: batch releases and SLA digests."""
    subscriptions: dict[Name, SubscriptionSpec] = Field(default_factory=dict)
    """What each adapter (by its name in the deployment configuration) receives."""
    access: AccessSpec = Field(default_factory=AccessSpec)
    """Access rules: built-in roles narrowed or widened, custom roles, the field naming a lead's
    owning team, and criteria-based sharing (every role as built in when absent)."""
    lint: LintSettings = Field(default_factory=LintSettings)
    """Lint codes this definition ignores, each with the reason (docs/lint.md)."""

    @model_validator(mode="after")
    def _read_only_mappings(self) -> ProcessDefinition:
        # a frozen model still hands out its dicts; make them read-only as well
        object.__setattr__(self, "fields", FrozenDict(self.fields))
        object.__setattr__(self, "stages", FrozenDict(self.stages))
        for name in ("calendars", "slas", "teams", "schedules", "subscriptions"):
            object.__setattr__(self, name, FrozenDict(getattr(self, name)))
        return self

    @property
    def initial_stage(self) -> str:
        """The name of the stage new leads start in."""
        return next(name for name, stage in self.stages.items() if stage.initial)

    @property
    def open_stages(self) -> tuple[str, ...]:
        """Stages that are not closed, in definition order."""
        return tuple(name for name, stage in self.stages.items() if stage.closed is None)

    def source_stages(self, transition: Transition) -> tuple[str, ...]:
        """The stages ``transition`` leaves from, with ``"*"`` expanded to every open stage."""
        out: list[str] = []
        for source in transition.sources:
            for name in self.open_stages if source == "*" else (source,):
                if name not in out:
                    out.append(name)
        return tuple(out)

    def triggers_from(self, stage: str) -> tuple[str, ...]:
        """The trigger names allowed from ``stage``, in definition order, without repeats."""
        out: list[str] = []
        for transition in self.transitions:
            if stage in self.source_stages(transition) and transition.name not in out:
                out.append(transition.name)
        return tuple(out)
