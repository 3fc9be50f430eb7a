"""SLA clocks and calendars in the language (teams, routing, schedules and CRM subscriptions
are in ``_routing_model`` and re-exported here).

An SLA policy is a clock that runs while a lead is in some stages: a ``target`` (``5m business``)
measured from an ``anchor``, met by a condition (``fulfilled_by``), paused in some stages or while
a CEL condition holds, with a ``ladder`` of marks (warnings before the target, the breach at it,
escalations after it), each running actions: notify, set a field, reassign, fire a trigger.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from ._base import ActivityRequirement, Name, _Model, as_tuple
from ._hours import parse_hours
from ._routing_model import (
    Member,
    RerouteRule,
    RoutingRule,
    Schedule,
    ShareCap,
    SubscriptionSpec,
    Team,
    check_timezone,
)
from ._sla_clock_model import DEFAULT_RULE, Handoff, RearmRule, TargetRule
from ._spans import Offset, Span, Span_, Target

__all__ = [
    "CalendarSpec",
    "FireAction",
    "Fulfilment",
    "HolidaySpec",
    "LadderStep",
    "Member",
    "ReassignAction",
    "RerouteRule",
    "RoutingRule",
    "Schedule",
    "ShareCap",
    "SlaPolicy",
    "SnoozeRule",
    "SubscriptionSpec",
    "TaskPlan",
    "Team",
]

ANCHORS = ("stage_entered", "lead_created", "last_activity", "assigned", "event")
NOTIFY_ROLES = ("owner", "team_lead", "team")
"""Who a ladder mark can notify besides named people: the lead's owner, its team's lead or all
members of its team."""


def _office_hours() -> dict[str, str | tuple[str, ...]]:
    return {"mon-fri": "09:00-17:00"}


class HolidaySpec(_Model):
    """Public holidays from the ``holidays`` package, by country and subdivision."""

    country: str = Field(pattern=r"^[A-Z]{2,3}$")
    """ISO 3166 country code (``US``, ``DE``, ``GB``)."""
    subdivision: str | None = None
    """A state or province code of that country (``NY``, ``BY``)."""

    @model_validator(mode="after")
    def _known(self) -> HolidaySpec:
        import holidays

        supported = holidays.list_supported_countries()
        if self.country not in supported:
            raise ValueError(f"'{self.country}' is not a country the holidays package knows")
        subdivisions = supported[self.country]
        if self.subdivision is not None and self.subdivision not in subdivisions:
            shown = ", ".join(subdivisions[:20]) + (" ..." if len(subdivisions) > 20 else "")
            raise ValueError(
                f"'{self.subdivision}' is not a subdivision of {self.country}"
                + (f" (allowed: {shown})" if subdivisions else " (it has none)")
            )
        return self


class CalendarSpec(_Model):
    """When the clock counts ``business`` time: weekly hours in a timezone, minus holidays."""

    timezone: str = "UTC"
    """IANA timezone of the hours (``America/New_York``)."""
    timezone_field: Name | None = None
    """A lead field holding the lead's IANA timezone (territory); ``timezone`` when unset."""
    hours: dict[str, str | tuple[str, ...]] = Field(default_factory=_office_hours)
    """Weekly hours: ``{"mon-fri": "09:00-17:00", "sat": ["10:00-12:00"]}``."""
    holidays: HolidaySpec | None = None
    """Public holidays to skip."""
    closed: tuple[date, ...] = ()
    """Extra closed dates (company shutdown), ``YYYY-MM-DD``."""

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: dict[str, Any]) -> dict[str, Any]:
        parse_hours(value)
        return value


class FireAction(_Model):
    """Fire a trigger on the lead, through the same guards as any other fire."""

    trigger: Name
    """The trigger to fire."""
    data: dict[str, Any] = Field(default_factory=dict)
    """Data the event carries (``lost_reason: no_response``)."""


def _fire_shorthand(value: Any) -> Any:
    return {"trigger": value} if isinstance(value, str) else value


class ReassignAction(_Model):
    """Give the lead to someone else: in ``team``, or where the routing rules send it."""

    team: Name | None = None
    """The team to pick from; the routing rules decide when absent."""


def _reassign_shorthand(value: Any) -> Any:
    if value is True:
        return {}
    if isinstance(value, str):
        return {"team": value}
    return value


class LadderStep(_Model):
    """A mark on the SLA clock and what happens when the clock reaches it."""

    at: Span_
    """``80%`` of the target or an amount of clock time (``10m``); ``100%`` is the breach."""
    level: Literal["warning", "breach", "escalation"] | None = None
    """Defaults to warning before the target, breach at it, escalation after it."""
    message: str | None = None
    """What the notification says."""
    notify: Annotated[
        tuple[str, ...], BeforeValidator(as_tuple, json_schema_input_type=str | list[str])
    ] = ()
    """``owner``, ``team_lead``, ``team`` or people's ids; put on the event for the adapters."""
    set: dict[Name, Any] | None = None
    """Lead fields to set (``priority: high``)."""
    reassign: Annotated[
        ReassignAction | None,
        BeforeValidator(
            _reassign_shorthand, json_schema_input_type=bool | str | ReassignAction | None
        ),
    ] = None
    """Reassign the lead (``true``: by the routing rules; a team name: within that team)."""
    fire: Annotated[
        FireAction | None,
        BeforeValidator(_fire_shorthand, json_schema_input_type=str | FireAction | None),
    ] = None
    """Fire a trigger (``lose`` with ``lost_reason: no_response``)."""


class Fulfilment(_Model):
    """What meets the SLA; exactly one key. Leaving the SLA's stages meets it when absent."""

    activity: ActivityRequirement | None = None
    """Activities of a type recorded since the clock started (``{type: call, min: 1}``)."""
    field_set: Name | None = None
    """A field gets a value."""
    cel: str | None = None
    """A CEL condition over the lead becomes true."""
    trigger: Name | None = None
    """This trigger is fired on the lead (``accept``), even one that leaves the SLA's stages."""

    @model_validator(mode="after")
    def _one(self) -> Fulfilment:
        keys = ("activity", "field_set", "cel", "trigger")
        given = [k for k in keys if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "'fulfilled_by' needs exactly one of activity, field_set or cel (or trigger)"
            )
        return self


class TaskPlan(_Model):
    """A planned cadence of attempts: each offset creates a follow-up task event."""

    activity: Name
    """The activity type each task asks for (``call``)."""
    at: tuple[Offset, ...] = Field(min_length=1)
    """Offsets from the clock's start (``[0d, 1d, 3d, 7d, 13d]``)."""
    title: str | None = None
    """The task subject; ``{n}`` and ``{total}`` are filled in (``Call attempt {n} of {total}``)."""
    skip_done: bool = True
    """Skip a task when that many activities were already recorded since the clock started."""


class SnoozeRule(_Model):
    """Who may snooze an SLA clock by hand, and by how much at most."""

    max: Target
    """The most a clock may be snoozed in all (``1d``, ``4h business``; the clock's own kind of
    time)."""
    roles: tuple[Name, ...] = ("manager", "admin", "ops")
    """The roles that may snooze (a custom role by its name)."""


class SlaPolicy(_Model):
    """A clock with a target, measured while the lead is in some stages."""

    title: str | None = None
    """A label for people (``Call new leads within 5 minutes``)."""
    description: str | None = None
    """Why the SLA exists."""
    stages: Annotated[
        tuple[str, ...], BeforeValidator(as_tuple, json_schema_input_type=str | list[str])
    ] = Field(min_length=1)
    """The stages the clock runs in (``"*"``: every open stage)."""
    pause_in: Annotated[
        tuple[str, ...], BeforeValidator(as_tuple, json_schema_input_type=str | list[str])
    ] = ()
    """Stages where the clock is paused, not stopped (``waiting_on_customer``)."""
    pause_when: str | None = None
    """A CEL condition: the clock is paused while it holds."""
    applies_when: str | None = None
    """A CEL condition (lead fields, ``owner``, ``team``, ``stage``, ``now``): the SLA applies to
    a lead only while it holds. A lead it does not apply to gets no clock (it is absent from the
    SLA board, neither met nor breached); a running clock whose lead stops matching is
    withdrawn, and starts afresh if the lead matches again while in the SLA's stages."""
    anchor: Literal["stage_entered", "lead_created", "last_activity", "assigned", "event"] = (
        "stage_entered"
    )
    """Where the clock starts: entering the stages, the lead's creation, the last activity
    (restarts on each one), the last owner change (restarts on reassignment) or the first
    ``rearm`` event (``event``: no clock until one happens)."""
    anchor_activity: Name | None = None
    """With ``anchor: last_activity``, only activities of this type restart the clock."""
    target: Target | None = None
    """How long until the breach: ``5m business``, ``14d``; with ``targets``, the default for
    leads no rule matches (a lead neither matches gets no clock)."""
    targets: tuple[TargetRule, ...] = ()
    """The target matrix: ordered rules over lead fields, the first match gives the target
    (``{match: {segment: enterprise}, target: 5m business}``); chosen when the clock starts."""
    calendar: Name | None = None
    """The calendar ``business`` amounts count in."""
    fulfilled_by: Fulfilment | None = None
    """What meets the SLA; leaving the SLA's stages meets it when absent."""
    ladder: tuple[LadderStep, ...] = ()
    """Warnings, the breach and escalations, in clock order."""
    tasks: TaskPlan | None = None
    """Planned follow-up tasks (the call cadence)."""
    snooze: SnoozeRule | None = None
    """Manual snoozes of a running clock (with a reason, recorded in history); none without."""
    rearm: RearmRule | None = None
    """Events that start a new cycle of the clock (every inbound reply), counted in history."""
    handoff: Handoff | None = None
    """A hand-off SLA: the clock starts when the lead moves from one team to another (or a
    hand-off transition fires) and runs until the receiving team acts (``fulfilled_by``)."""

    @model_validator(mode="after")
    def _consistent(self) -> SlaPolicy:
        if self.anchor_activity is not None and self.anchor != "last_activity":
            raise ValueError("'anchor_activity' is only allowed with anchor: last_activity")
        _check_matrix(self)
        _check_rearm(self)
        business = self.business
        spans = [(f"ladder mark '{s.at}'", s.at) for s in self.ladder]
        if self.tasks:
            spans += [(f"task offset '{o}'", o) for o in self.tasks.at]
        if self.snooze:
            spans.append((f"snooze max '{self.snooze.max}'", self.snooze.max))
        for what, span in spans:
            zero = span.amount is not None and not span.amount
            if span.percent is None and not zero and span.business != business:
                kind = "business" if business else "calendar"
                raise ValueError(
                    f"{what}: the target counts {kind} time, so every amount must too "
                    f"(write it {'with' if business else 'without'} 'business')"
                )
        amounts = [*self.all_targets, *(s.at for s in self.ladder)]
        amounts += list(self.tasks.at) if self.tasks else []
        amounts += [self.snooze.max] if self.snooze else []
        in_days = [str(x) for x in amounts if x.days is not None]
        in_hours = [str(x) for x in amounts if x.days is None and x.business and x.amount]
        if in_days and in_hours:
            raise ValueError(
                f"{in_days[0]} and {in_hours[0]}: an SLA counts in business days or in open "
                "hours, not both; write every amount one way (or as a share such as 50%)"
            )
        for label, span in self.labelled_targets:
            target = span.resolve(timedelta(0))
            under = f" under target '{span}' ({label})" if self.targets else ""
            marks = [s.at.resolve(target) for s in self.ladder]
            if marks != sorted(marks):
                raise ValueError(
                    f"the ladder's marks must be in clock order (earliest first){under}"
                    + ("; write them as shares of the target (80%)" if under else "")
                )
            if len(set(marks)) != len(marks):
                raise ValueError(f"two ladder marks fall on the same moment{under}; merge them")
        return self

    @property
    def business(self) -> bool:
        """Whether the clock counts business time (the target says ``business``)."""
        return self.all_targets[0].business

    @property
    def all_targets(self) -> list[Span]:
        """The default target (when given), then each rule's target."""
        return [span for _, span in self.labelled_targets]

    @property
    def labelled_targets(self) -> list[tuple[str, Span]]:
        """(label, target) of the default (``default``) and of each rule (its name)."""
        rules = [(r.label(i), r.target) for i, r in enumerate(self.targets)]
        return ([(DEFAULT_RULE, self.target)] if self.target is not None else []) + rules

    @property
    def target_text(self) -> str:
        """The target as people read it: ``5m business``, or the matrix's targets in rule order
        (``enterprise 5m business, smb 1h business, default 4h business``)."""
        if not self.targets and self.target is not None:
            return str(self.target)
        shown = [*self.labelled_targets[1:], *self.labelled_targets[:1]]
        if self.target is None:
            shown = self.labelled_targets
        return ", ".join(f"{label} {span}" for label, span in shown)


def _check_rearm(policy: SlaPolicy) -> None:
    """``anchor: event`` needs ``rearm``; the restarting anchors and ``rearm`` exclude each
    other."""
    if policy.anchor == "event" and policy.rearm is None:
        raise ValueError(
            "anchor: event starts the clock at the first re-arm event; add rearm: {events: "
            "[{activity: ...}]}"
        )
    if policy.handoff is not None and ("anchor" in policy.model_fields_set or policy.rearm):
        raise ValueError("a hand-off SLA starts at each hand-off; leave out 'anchor' and 'rearm'")
    if policy.rearm is not None and policy.anchor in ("last_activity", "assigned"):
        raise ValueError(
            f"anchor: {policy.anchor} already restarts the clock; use it or 'rearm', not both"
        )


def _check_matrix(policy: SlaPolicy) -> None:
    """A target or a matrix; one kind of time; rule names unique and not ``default``."""
    if policy.target is None and not policy.targets:
        raise ValueError(
            "an SLA needs a 'target' (5m business, 14d), or a 'targets' matrix of rules"
        )
    kinds = {span.business for span in policy.all_targets}
    if len(kinds) > 1:
        raise ValueError(
            "every target of one SLA counts the same kind of time: write all of them with "
            "'business' or none (" + ", ".join(str(s) for s in policy.all_targets) + ")"
        )
    names = [r.name for r in policy.targets if r.name is not None]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"target rule name used twice: {', '.join(twice)}")
    if DEFAULT_RULE in names:
        raise ValueError(f"'{DEFAULT_RULE}' names the SLA's own target; give the rule another name")
