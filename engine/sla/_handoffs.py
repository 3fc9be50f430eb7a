"""Hand-off SLAs: a clock from a hand-off between teams until the receiving team acts.

A hand-off is an owner change that moves the lead from one team to another (the team of an
owner is the first team listing them as a member, or whose queue owner they are), with the
new team in ``to`` and the old one in ``from`` (any, or none, when ``from`` is empty); or a
transition named in ``triggers``, whose pair is the old owner's team (or the one ``from`` team)
and the new owner's (or the one ``to`` team). Each hand-off starts a cycle of the SLA's clock
(:mod:`._cycles`) that records the pair (``ho`` in the clock state, ``handoff`` in the history).
A further hand-off of the same pair while the clock runs changes nothing (the trigger, then the
routing that follows it); one of another pair supersedes it; an owner change to a team that is
not the receiving one stops it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadflow.definitions import Handoff, ProcessDefinition

__all__ = ["HandoffRule", "Pair", "tag"]

Pair = tuple[str | None, str]
"""(from team or None, to team)."""


class HandoffRule:
    """One SLA's ``handoff``, with the team of every member and queue owner."""

    def __init__(self, spec: Handoff, definition: ProcessDefinition) -> None:
        self.spec = spec
        self.team_of: dict[str, str] = {}
        for name, team in definition.teams.items():
            for member in team.members:
                self.team_of.setdefault(member.id, name)
            self.team_of.setdefault(team.queue_owner(name), name)

    def team(self, owner: str | None) -> str | None:
        """The team of ``owner`` (None for nobody or someone in no team)."""
        return self.team_of.get(owner or "")

    def detect(
        self,
        previous_owner: str | None,
        owner: str | None,
        owner_changed: bool,
        trigger: str | None,
    ) -> Pair | None:
        """The hand-off pair a change makes, or None."""
        spec = self.spec
        before, after = self.team(previous_owner), self.team(owner)
        moved = owner_changed and after is not None and after != before
        if moved and after in spec.to and (not spec.from_ or before in spec.from_):
            assert after is not None
            return before, after
        if trigger is None or trigger not in spec.triggers:
            return None
        source = before if not spec.from_ or before in spec.from_ else None
        if source is None and len(spec.from_) == 1:
            source = spec.from_[0]
        target = after if after in spec.to else (spec.to[0] if len(spec.to) == 1 else None)
        if target is None or (spec.from_ and source is None):
            return None
        return source, target

    def left(self, clock: Mapping[str, Any], owner: str | None) -> bool:
        """Whether the lead's owner is not of the receiving team of ``clock`` (asked after an
        owner change only: a hand-off by trigger may come before the routing does)."""
        pair = clock.get("ho")
        return pair is not None and owner is not None and self.team(owner) != pair[1]


def tag(events: list[dict[str, Any]], policy: str, clock: dict[str, Any], pair: Pair) -> None:
    """Record ``pair`` on a clock that a hand-off just started, and on its start event."""
    clock["ho"] = list(pair)
    for event in reversed(events):
        if event["policy"] == policy and event["event"] in ("started", "rearmed"):
            event["handoff"] = {"from": pair[0], "to": pair[1]}
            return
