"""Teams, routing rules, schedules and CRM subscriptions in the language (the SLA clocks and
calendars are in ``_sla_model``)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, field_validator, model_validator

from ._base import INT32_MAX, Name, WholeNumber, _Model, as_tuple
from ._durations import Duration

__all__ = [
    "Member",
    "RerouteRule",
    "RoutingRule",
    "Schedule",
    "ShareCap",
    "SubscriptionSpec",
    "Team",
    "check_timezone",
]

_CRON_FIELDS = 5


def check_timezone(value: str) -> str:
    """``value`` if it names an IANA time zone; ``ValueError`` saying what is allowed if not."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown timezone '{value}'; use an IANA name such as Europe/Berlin, "
            "America/New_York or UTC"
        ) from exc
    return value


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
        return check_timezone(value)

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
