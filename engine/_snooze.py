"""Snoozing an SLA clock by hand: audited, limited, for the roles a definition allows.

``slas: <id>: snooze: {max: 1d, roles: [manager]}`` lets those roles take time off a running
(or paused) clock: a snooze of 2 h makes the clock count 2 h less, so its marks and its breach
move 2 h later (in the clock's own kind of time: open hours for a business SLA). Every snooze
needs a reason and is one change in the lead's history (``sla_snoozed``, the policy, by how
much, the total so far, the reason, who); the total per clock is capped by ``max``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from leadflow.definitions import format_duration, parse_duration
from leadflow.engine._compiler import CompiledProcess
from leadflow.engine._errors import LeadflowError
from leadflow.engine._planning import Planner
from leadflow.engine.access import AccessDecision, AccessDenied, Actor
from leadflow.engine.store import Change, InstanceRow

__all__ = ["SnoozeRefused", "plan_snooze", "snooze_amount"]

_ACTIVE = ("running", "paused")


class SnoozeRefused(LeadflowError, ValueError):
    """A snooze the definition does not allow (no ``snooze:``, over the maximum, no running
    clock, no reason); nothing was changed. A role the rule does not list is
    :class:`AccessDenied`."""

    code = "snooze-refused"

    def __init__(self, process: str, lead_id: str, policy: str, reason: str) -> None:
        self.process = process
        self.lead_id = lead_id
        self.policy = policy
        super().__init__(f"lead '{lead_id}' in '{process}': cannot snooze SLA '{policy}': {reason}")


def snooze_amount(by: timedelta | str) -> timedelta:
    """``by`` as a positive duration (``30m``, ``2h``, or a ``timedelta``); ``ValueError`` else."""
    amount = parse_duration(by)
    if amount <= timedelta(0):  # pragma: no cover - parse_duration refuses it first
        raise ValueError("a snooze must be longer than zero")
    return amount


def plan_snooze(
    planner: Planner,
    compiled: CompiledProcess,
    row: InstanceRow,
    policy: str,
    by: timedelta,
    reason: str,
    actor: str | Actor | None,
    at: datetime,
) -> Change:
    """The change that snoozes ``policy``'s clock on ``row`` by ``by`` (see the module)."""

    def refuse(why: str) -> SnoozeRefused:
        return SnoozeRefused(row.process, row.lead_id, policy, why)

    sla = compiled.definition.slas.get(policy)
    if sla is None:
        known = ", ".join(compiled.definition.slas) or "none"
        raise refuse(f"the process has no such SLA (SLAs: {known})")
    rule = sla.snooze
    if rule is None:
        raise refuse("its definition does not allow snoozing (add snooze: {max: 1d})")
    if not reason.strip():
        raise refuse("say why (a reason is required and kept in the history)")
    if isinstance(actor, Actor) and actor.role not in rule.roles:
        why = (
            f"the {actor.role} role may not snooze SLA '{policy}' "
            f"(roles allowed: {', '.join(rule.roles)})"
        )
        decision = AccessDecision(False, f"slas.{policy}.snooze.roles", why)
        raise AccessDenied(actor, "snooze", decision)
    clock: dict[str, Any] | None = (row.sla or {}).get(policy)
    if clock is None or clock.get("s") not in _ACTIVE:
        raise refuse("the lead has no running clock of it")
    assert rule.max.amount is not None or rule.max.days is not None
    limit = rule.max.resolve(timedelta(0), compiled.sla.by_id[policy].day)
    total = timedelta(seconds=float(clock.get("sn", 0.0))) + by
    if total > limit:
        raise refuse(f"{format_duration(total)} in all would pass the maximum of {rule.max}")
    after = row.copy()
    changed = {**clock, "el": float(clock["el"]) - by.total_seconds()}
    changed["sn"] = total.total_seconds()
    after.sla = {**(row.sla or {}), policy: changed}
    who = actor.id if isinstance(actor, Actor) else actor
    entry = {
        "policy": policy,
        "event": "snoozed",
        "by": by.total_seconds(),
        "total": total.total_seconds(),
        "reason": reason.strip(),
    }
    return planner.change(
        compiled,
        row,
        after,
        kind="sla_snoozed",
        event_type="leadflow.lead.sla_snoozed",
        at=at,
        actor=who,
        details={"sla": [entry]},
    )
