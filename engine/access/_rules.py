"""Who may do what to which lead: the built-in roles and their scopes.

Roles, as the HTTP service's tokens carry them (``leadflow token create --role``):

========  ==============================================================================
admin     everything
ops       read every lead, deploy definitions, operate the outbox, every report
manager   act on the leads of their team (owned by its members, its lead or its queue) and
          on unassigned leads; every report
rep       act on their own leads; read and claim unassigned leads; the SLA board
viewer    read every lead and every report; change nothing
board     the SLA board and aggregate reports only: no lead data
========  ==============================================================================

A lead's team comes from the definition's ``teams:`` (the team whose member, lead or queue
owns it). :func:`explain_access` says which rule allowed or refused; :func:`require` raises
:class:`AccessDenied` naming it. Refusals change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from leadflow.definitions import LeadflowError, ProcessDefinition
from leadflow.engine._types import Instance

__all__ = [
    "LEAD_VERBS",
    "ROLES",
    "VERBS",
    "AccessDecision",
    "AccessDenied",
    "Actor",
    "LeadScope",
    "explain_access",
    "lead_scope",
    "require",
    "team_members",
]

ROLES = ("admin", "ops", "manager", "rep", "viewer", "board")
"""The built-in roles, from most to least powerful."""

LEAD_VERBS = ("read", "start", "fire", "update", "record", "assign")
"""Verbs on one lead."""

VERBS = (*LEAD_VERBS, "deploy", "outbox", "reports", "lead_reports", "board")
"""Every verb: ``reports`` are aggregates, ``lead_reports`` list leads (stuck), ``board`` is
the SLA board."""

_WRITES = frozenset({"start", "fire", "update", "record", "assign"})
_GLOBAL: dict[str, frozenset[str]] = {
    "admin": frozenset(VERBS),
    "ops": frozenset({"read", "deploy", "outbox", "reports", "lead_reports", "board"}),
    "manager": frozenset({"reports", "lead_reports", "board"}),
    "rep": frozenset({"board"}),
    "viewer": frozenset({"read", "reports", "lead_reports", "board"}),
    "board": frozenset({"reports", "board"}),
}


@dataclass(frozen=True, slots=True)
class Actor:
    """A person (or system) acting, with a role."""

    id: str
    """Who acts: a rep's or manager's owner id (as leads name owners), or a token's name."""
    role: str
    """One of :data:`ROLES`."""
    team: str | None = None
    """The team a manager manages (or a rep belongs to), as the definition names it."""


@dataclass(frozen=True, slots=True)
class AccessDecision:
    """Whether an actor may do a verb (to a lead), and the rule that decided."""

    allowed: bool
    rule: str
    """A stable name: ``role:manager:team`` and the like."""
    reason: str
    """The decision in words."""


class AccessDenied(LeadflowError, PermissionError):
    """The actor's role does not allow this; ``rule`` names the rule that refused."""

    code = "access-denied"

    def __init__(self, actor: Actor, verb: str, decision: AccessDecision) -> None:
        self.actor = actor
        self.verb = verb
        self.rule = decision.rule
        super().__init__(decision.reason)


@dataclass(frozen=True, slots=True)
class LeadScope:
    """Which leads an actor may read: all, or those of ``owners`` (and unassigned ones)."""

    all: bool
    owners: frozenset[str] = frozenset()
    unassigned: bool = False


def team_members(definition: ProcessDefinition, team: str) -> frozenset[str]:
    """Owner ids that belong to ``team``: its members, its lead and its queue owner."""
    spec = definition.teams.get(team)
    if spec is None:
        return frozenset()
    ids = {m.id for m in spec.members} | {spec.queue_owner(team)}
    if spec.lead:
        ids.add(spec.lead)
    return frozenset(ids)


def lead_scope(actor: Actor, definition: ProcessDefinition) -> LeadScope:
    """The leads of ``definition``'s process that ``actor`` may read."""
    if actor.role in ("admin", "ops", "viewer"):
        return LeadScope(all=True)
    if actor.role == "manager" and actor.team is not None:
        return LeadScope(False, team_members(definition, actor.team), unassigned=True)
    if actor.role == "rep":
        return LeadScope(False, frozenset({actor.id}), unassigned=True)
    return LeadScope(False)


def explain_access(
    actor: Actor,
    verb: str,
    lead: Instance | None = None,
    definition: ProcessDefinition | None = None,
) -> AccessDecision:
    """Which rule lets ``actor`` do ``verb`` (to ``lead``, of ``definition``), or refuses it."""
    if actor.role not in ROLES:
        return _no(f"role:{actor.role}", f"'{actor.role}' is not a role ({', '.join(ROLES)})")
    if verb not in VERBS:
        return _no("verb", f"'{verb}' is not a verb ({', '.join(VERBS)})")
    if verb in _GLOBAL[actor.role]:
        return AccessDecision(True, f"role:{actor.role}", f"{actor.role} may {verb}")
    if verb not in LEAD_VERBS or actor.role not in ("manager", "rep"):
        return _no(f"role:{actor.role}", f"{actor.role} may not {_words(verb)}")
    owner = lead.owner if lead is not None else None
    if actor.role == "manager":
        return _manager(actor, verb, owner, lead is None, definition)
    return _rep(actor, verb, owner, lead is None)


def require(
    actor: Actor,
    verb: str,
    lead: Instance | None = None,
    definition: ProcessDefinition | None = None,
) -> AccessDecision:
    """:func:`explain_access`, raising :class:`AccessDenied` when it refuses."""
    decision = explain_access(actor, verb, lead, definition)
    if not decision.allowed:
        raise AccessDenied(actor, verb, decision)
    return decision


def _manager(
    actor: Actor, verb: str, owner: str | None, new: bool, definition: ProcessDefinition | None
) -> AccessDecision:
    if actor.team is None:
        return _no("role:manager:team", "a manager token without a team acts on no lead")
    if new or owner is None:
        return AccessDecision(True, "role:manager:unassigned", "managers act on new leads")
    members = team_members(definition, actor.team) if definition is not None else frozenset()
    if owner in members:
        return AccessDecision(True, "role:manager:team", f"{owner} is in team {actor.team}")
    return _no(
        "role:manager:team",
        f"the lead belongs to {owner}, who is not in team {actor.team}; "
        f"a manager may {_words(verb)} only the leads of their team",
    )


def _rep(actor: Actor, verb: str, owner: str | None, new: bool) -> AccessDecision:
    if owner == actor.id:
        return AccessDecision(True, "role:rep:own", "reps act on their own leads")
    if new and verb == "start":
        return AccessDecision(True, "role:rep:own", "reps start leads for themselves")
    if owner is None and verb in ("read", "assign"):
        return AccessDecision(True, "role:rep:unassigned", "reps may read and claim open leads")
    whose = "an unassigned lead" if owner is None else f"a lead of {owner}"
    return _no("role:rep:own", f"a rep may not {_words(verb)} {whose}, only their own leads")


def _no(rule: str, reason: str) -> AccessDecision:
    return AccessDecision(False, rule, reason)


def _words(verb: str) -> str:
    return {
        "read": "read",
        "start": "start leads",
        "fire": "fire triggers on",
        "update": "update",
        "record": "record activities on",
        "assign": "assign",
        "deploy": "deploy definitions",
        "outbox": "operate the outbox",
        "reports": "read reports",
        "lead_reports": "read reports that list leads",
        "board": "read the SLA board",
    }[verb]
