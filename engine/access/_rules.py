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

from collections.abc import Collection
from dataclasses import dataclass

from leadflow.definitions import LeadflowError, ProcessDefinition
from leadflow.engine._types import Instance
from leadflow.engine.access._definition_rules import (
    base_role,
    granted,
    hidden_fields,
    narrowed,
    role_rule,
)

__all__ = [
    "LEAD_VERBS",
    "ROLES",
    "VERBS",
    "AccessDecision",
    "AccessDenied",
    "Actor",
    "LeadScope",
    "explain_access",
    "hidden_fields",
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
    """The owners whose leads of ``definition``'s process ``actor`` lists (leads that a team
    field or a sharing rule opens to it are read one by one, not listed)."""
    rule = role_rule(actor.role, definition)
    role = _scoped(base_role(actor.role, definition), rule.scope if rule else None)
    if role in ("admin", "ops", "viewer"):
        return LeadScope(all=True)
    if role == "manager" and actor.team is not None:
        return LeadScope(False, team_members(definition, actor.team), unassigned=True)
    if role == "rep":
        return LeadScope(False, frozenset({actor.id}), unassigned=True)
    return LeadScope(False)


def explain_access(
    actor: Actor,
    verb: str,
    lead: Instance | None = None,
    definition: ProcessDefinition | None = None,
    *,
    trigger: str | None = None,
    fields: Collection[str] = (),
    new_owner: str | None = None,
) -> AccessDecision:
    """Which rule lets ``actor`` do ``verb`` (to ``lead``, of ``definition``), or refuses it.

    ``trigger`` is the trigger a ``fire`` fires and ``fields`` the fields a change writes: the
    definition's ``access:`` rules may restrict both (see :mod:`._definition_rules`).
    ``new_owner`` is the owner a ``start`` or ``assign`` gives the lead: a rep may give leads
    only to themselves, a manager only to their team.
    """
    role = base_role(actor.role, definition)
    if role not in ROLES:
        known = ", ".join((*ROLES, *(definition.access.roles if definition else ())))
        return _no(f"role:{actor.role}", f"'{actor.role}' is not a role ({known})")
    if verb not in VERBS:
        return _no("verb", f"'{verb}' is not a verb ({', '.join(VERBS)})")
    rule = role_rule(actor.role, definition)
    decision = _builtin(actor, role, verb, lead, definition, rule.scope if rule else None)
    if not decision.allowed and lead is not None and verb in LEAD_VERBS:
        grant = granted(actor.id, actor.role, actor.team, verb, lead, definition)
        if grant is not None:
            decision = AccessDecision(True, *grant)
    if decision.allowed:
        refusal = narrowed(actor.role, verb, definition, trigger, fields)
        if refusal is None and verb in ("start", "assign") and new_owner is not None:
            refusal = _giving(actor, role, new_owner, definition)
        if refusal is not None:
            return _no(*refusal)
    return decision


def _giving(
    actor: Actor, role: str, owner: str, definition: ProcessDefinition | None
) -> tuple[str, str] | None:
    """(rule, reason) when ``actor`` may not make ``owner`` the lead's owner."""
    if role == "rep" and owner != actor.id:
        return "role:rep:own", f"a rep may give leads only to themselves, not to {owner}"
    if role == "manager" and actor.team is not None:
        members = team_members(definition, actor.team) if definition else frozenset()
        if owner not in members:
            return (
                "role:manager:team",
                f"{owner} is not in team {actor.team}; a manager gives leads to their team",
            )
    return None


def _builtin(
    actor: Actor,
    role: str,
    verb: str,
    lead: Instance | None,
    definition: ProcessDefinition | None,
    scope: str | None,
) -> AccessDecision:
    """The built-in role's decision, with the definition's ``scope`` for lead verbs."""
    if verb in LEAD_VERBS:
        role = _scoped(role, scope)
    if verb in _GLOBAL[role]:
        return AccessDecision(True, f"role:{actor.role}", f"{actor.role} may {verb}")
    if verb not in LEAD_VERBS or role not in ("manager", "rep"):
        return _no(f"role:{actor.role}", f"{actor.role} may not {_words(verb)}")
    owner = lead.owner if lead is not None else None
    if role == "manager":
        return _manager(actor, verb, owner, lead is None, definition)
    return _rep(actor, verb, owner, lead is None)


def require(
    actor: Actor,
    verb: str,
    lead: Instance | None = None,
    definition: ProcessDefinition | None = None,
    *,
    trigger: str | None = None,
    fields: Collection[str] = (),
    new_owner: str | None = None,
) -> AccessDecision:
    """:func:`explain_access`, raising :class:`AccessDenied` when it refuses."""
    decision = explain_access(
        actor, verb, lead, definition, trigger=trigger, fields=fields, new_owner=new_owner
    )
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


_SCOPE_ROLE = {"all": "admin", "team": "manager", "own": "rep"}
"""The built-in role whose lead rules a definition's ``scope`` stands for."""


def _scoped(role: str, scope: str | None) -> str:
    """The role whose lead rules apply: a definition's ``scope`` replaces those of a role
    that acts on leads (admin, manager, rep); read-only roles keep theirs."""
    return _SCOPE_ROLE[scope] if scope is not None and role in _SCOPE_ROLE.values() else role


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
