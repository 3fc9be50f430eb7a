"""How an SLA clock picks its target (the target matrix) and when it starts again (re-arming).

.. code-block:: yaml

    slas:
      speed_to_call:
        stages: [new]
        calendar: office
        target: 4h business              # the default, for leads no rule matches
        targets:
          - {name: enterprise, match: {segment: enterprise}, target: 5m business}
          - {name: hot, when: "has(lead.score) && lead.score >= 80", target: 30m business}
          - {name: smb, match: {segment: [smb, startup]}, target: 1h business}

The rules are tried in order when the clock starts; the first whose ``when`` holds and whose
``match`` fields all have one of the listed values gives the target. A rule with neither is a
catch-all.

.. code-block:: yaml

    slas:
      reply:
        stages: [working]
        anchor: event                    # no clock until the first re-arm event
        target: 4h business
        calendar: office
        fulfilled_by: {activity: {type: email_sent}}
        rearm:
          events: [{activity: email_received}, {trigger: reply}]
          running: restart               # or keep

Each re-arm event starts a new cycle of the clock (the count is in the history).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from ._base import Name, _Model
from ._spans import Target

__all__ = ["DEFAULT_RULE", "Handoff", "MatchValue", "RearmEvent", "RearmRule", "TargetRule"]

DEFAULT_RULE = "default"
"""The label the history and the board give a clock that got the SLA's ``target``."""

MatchValue = StrictStr | StrictBool | StrictInt | StrictFloat
"""A value a ``match`` field may be compared with (text, a whole or decimal number, a boolean)."""


def _as_values(value: Any) -> Any:
    """A lone value as a one-item tuple (``segment: smb`` means ``segment: [smb]``)."""
    if isinstance(value, dict):
        return {k: v if isinstance(v, list | tuple) else (v,) for k, v in value.items()}
    return value


class TargetRule(_Model):
    """One row of an SLA's target matrix: the target of the leads it matches."""

    name: Name | None = None
    """A label for the history and the SLA board (``enterprise``); ``rule <n>`` when absent."""
    when: str | None = None
    """A CEL condition over the lead, ``owner``, ``team``, ``stage`` and ``now`` (as in
    ``applies_when``)."""
    match: Annotated[
        dict[Name, tuple[MatchValue, ...]],
        BeforeValidator(_as_values, json_schema_input_type=dict[str, Any]),
    ] = Field(default_factory=dict)
    """Lead fields and the values they must have (``segment: enterprise``; a list: any one of
    them). An unset field matches nothing."""
    target: Target
    """The target of the leads this rule matches (``5m business``)."""

    @property
    def catch_all(self) -> bool:
        """Whether the rule matches every lead (no ``when``, no ``match``)."""
        return self.when is None and not self.match

    def label(self, index: int) -> str:
        """The rule's name, or ``rule <n>`` (1-based) when it has none."""
        return self.name or f"rule {index + 1}"


class RearmEvent(_Model):
    """An event that re-arms an SLA clock; exactly one key."""

    activity: Name | None = None
    """An activity of this type recorded on the lead (``email_received``)."""
    trigger: Name | None = None
    """This trigger fired on the lead (a transition that stays in the SLA's stages)."""

    @model_validator(mode="after")
    def _one(self) -> RearmEvent:
        if (self.activity is None) == (self.trigger is None):
            raise ValueError("a re-arm event needs exactly one of 'activity' or 'trigger'")
        return self


class RearmRule(_Model):
    """When an SLA clock starts a new cycle, besides entering its stages."""

    events: tuple[RearmEvent, ...] = Field(min_length=1)
    """The events that start a new cycle (``[{activity: email_received}, {trigger: reply}]``)."""
    running: Literal["restart", "keep"] = "restart"
    """What an event does while a cycle is still running (or paused): ``restart`` ends it as
    ``superseded`` (its marks not yet fired are cancelled) and starts the next; ``keep`` lets it
    run on, so the earliest unanswered event sets the deadline. After a cycle was met (or
    stopped) an event always starts the next."""

    def hit(self, activity: str | None, trigger: str | None) -> bool:
        """Whether a change that recorded ``activity`` or fired ``trigger`` re-arms the clock."""
        return any(
            (e.activity is not None and e.activity == activity)
            or (e.trigger is not None and e.trigger == trigger)
            for e in self.events
        )


def _names(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


class Handoff(_Model):
    """A hand-off between teams: the clock runs from it until the receiving team acts."""

    from_: Annotated[
        tuple[Name, ...],
        BeforeValidator(_names, json_schema_input_type=str | list[str]),
        Field(alias="from"),
    ] = ()
    """The teams a lead is handed off from (``marketing``); any team, or none, when empty."""
    to: Annotated[
        tuple[Name, ...],
        BeforeValidator(_names, json_schema_input_type=str | list[str]),
        Field(min_length=1),
    ]
    """The teams that receive it (``sdr``)."""
    triggers: Annotated[
        tuple[Name, ...], BeforeValidator(_names, json_schema_input_type=str | list[str])
    ] = ()
    """Transitions that are hand-offs themselves (``qualify``), whoever owns the lead then."""
