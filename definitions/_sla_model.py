"""SLA clocks, calendars, teams, routing, schedules and CRM subscriptions in the language.

An SLA policy is a clock that runs while a lead is in some stages: a ``target`` (``5m business``)
measured from an ``anchor``, met by a condition (``fulfilled_by``), paused in some stages or while
a CEL condition holds, with a ``ladder`` of marks (warnings before the target, the breach at it,
escalations after it), each running actions: notify, set a field, reassign, fire a trigger.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, field_validator, model_validator

from ._base import INT32_MAX, ActivityRequirement, Name, WholeNumber, _Model, as_tuple
from ._durations import Duration
from ._hours import parse_hours
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

_CRON_FIELDS = 5


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown timezone '{value}'; use an IANA name such as Europe/Berlin, "
            "America/New_York or UTC"
        ) from exc
    return value


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
        return _check_timezone(value)

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


class Member(_Model):
    """A member of a team."""

    id: str = Field(min_length=1, max_length=255)
    """The owner id leads get (the rep's id in your systems)."""
    weight: WholeNumber = Field(default=1, ge=1, le=1000)
    """Share of leads under ``weighted_round_robin`` (2 gets twice as many as 1)."""
    capacity: WholeNumber | None = Field(default=None, ge=0, le=INT32_MAX)
    """Most open leads at once; the team's ``capacity`` when absent."""
    calendar: Name | None = None
    """Working hours; the team's calendar when absent (always available when neither)."""


def _member_shorthand(value: Any) -> Any:
    return {"id": value} if isinstance(value, str) else value


def _strip_percent(value: Any) -> Any:
    if isinstance(value, str) and value.strip().endswith("%"):
        return value.strip()[:-1]
    return value


class ShareCap(_Model):
    """At most ``max`` percent of the process's routed leads over a rolling ``window``."""

    max: Annotated[
        float,
        BeforeValidator(_strip_percent, json_schema_input_type=float | str),
        Field(gt=0, le=100),
    ]
    """Percent of leads (``2`` or ``2%`` for the fast track's 2%)."""
    window: Duration
    """The rolling window (``30d``)."""


class Team(_Model):
    """People leads are routed to, and how."""

    title: str | None = None
    """A label for people."""
    members: tuple[
        Annotated[Member, BeforeValidator(_member_shorthand, json_schema_input_type=str | Member)],
        ...,
    ] = ()
    """The members, as ids or ``{id, weight, capacity, calendar}``. A team with none is a
    queue: every lead routed to it goes to its queue owner (``queue``, default
    ``queue:<team>``) and stays there until someone takes it."""
    strategy: Literal["round_robin", "weighted_round_robin", "least_loaded"] = "round_robin"
    """How a member is picked among those available."""
    capacity: WholeNumber | None = Field(default=None, ge=0, le=INT32_MAX)
    """Default most open leads per member."""
    calendar: Name | None = None
    """Working hours of the members: outside them a member is not available."""
    lead: str | None = None
    """The team lead's id (``notify: team_lead``)."""
    queue: str | None = Field(default=None, min_length=1, max_length=255)
    """The owner given when nobody is available, and while leads wait for a batch release;
    ``queue:<team>`` when absent."""
    share_cap: ShareCap | None = None
    """Route at most this share of leads here (the fast track's 2%)."""
    catch_up: bool = False
    """Whether a member the rotation skipped while out of office or at capacity is owed the
    turn and takes the next leads when available again (``round_robin`` and
    ``weighted_round_robin``); false: a skipped turn is lost."""
    catch_up_limit: WholeNumber | None = Field(default=None, ge=1, le=INT32_MAX)
    """The most turns owed to one member at once (``catch_up: true``); none: no limit."""

    @field_validator("members")
    @classmethod
    def _unique(cls, members: tuple[Member, ...]) -> tuple[Member, ...]:
        ids = [m.id for m in members]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"member listed twice: {', '.join(twice)}")
        return members

    def queue_owner(self, name: str) -> str:
        """The owner leads of team ``name`` wait under."""
        return self.queue or f"queue:{name}"


class RoutingRule(_Model):
    """Send leads whose data matches ``when`` to ``team`` (the first matching rule wins)."""

    when: str | None = None
    """A CEL condition over the lead; always matches when absent."""
    team: Name
    """The team to route to."""


class RerouteRule(_Model):
    """Route a lead again when named fields change (a rescore), by the routing rules."""

    on: Annotated[
        tuple[Name, ...], BeforeValidator(as_tuple, json_schema_input_type=str | list[str])
    ] = Field(min_length=1)
    """The fields whose change reroutes the lead (``[score]``)."""
    when: str | None = None
    """A CEL condition over the lead after the change; always when absent."""
    stages: Annotated[
        tuple[str, ...], BeforeValidator(as_tuple, json_schema_input_type=str | list[str])
    ] = ("*",)
    """The stages a lead is rerouted in (``"*"``, the default: every open stage)."""


_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,\-?]+$")


class Schedule(_Model):
    """Something the worker runs on a cron schedule: a batch release or an SLA digest."""

    cron: str
    """Five cron fields: minute hour day month weekday (``0 18 * * sun``)."""
    timezone: str = "UTC"
    """IANA timezone the cron fields are read in."""
    release: Name | None = None
    """Release the leads waiting in this team's queue (assign them by the team's strategy)."""
    digest: Literal["sla"] | None = None
    """Emit an SLA digest event (per-owner figures since the previous run)."""

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return _check_timezone(value)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != _CRON_FIELDS or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError(
                f"'{value}' is not a cron expression; write 5 fields: minute hour day month "
                "weekday, such as '0 18 * * sun'"
            )
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"'{value}' is not a valid cron expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _one(self) -> Schedule:
        if (self.release is None) == (self.digest is None):
            raise ValueError("a schedule needs exactly one of 'release' or 'digest'")
        return self


class SubscriptionSpec(_Model):
    """What one adapter receives and how leadflow's names map onto the CRM's."""

    events: Annotated[
        tuple[str, ...], BeforeValidator(as_tuple, json_schema_input_type=str | list[str])
    ] = ("*",)
    """Event types (``leadflow.lead.stage_changed``) or ``*`` for all."""
    stages: dict[Name, str] = Field(default_factory=dict)
    """leadflow stage -> the CRM's stage id (HubSpot ``dealstage``, Pipedrive ``stage_id``)."""
    fields: dict[Name, str] = Field(default_factory=dict)
    """Lead field -> CRM property."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Adapter-specific settings (``object: deals``, ``id_field: hubspot_deal_id``)."""

    @field_validator("events")
    @classmethod
    def _events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for event in value:
            if event != "*" and not re.fullmatch(r"leadflow\.[a-z_]+\.[a-z_]+", event):
                raise ValueError(
                    f"'{event}' is not an event type; write one such as "
                    "leadflow.lead.stage_changed, or '*' for all"
                )
        return value
