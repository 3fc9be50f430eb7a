"""A definition's own ``access:`` rules on top of the built-in roles.

``roles.<role>`` narrows or widens a role: ``scope`` (own, team, all), the triggers it may
``fire``, the fields it may ``update`` and the fields ``hidden`` from it; a custom role names the
built-in role it is ``like``. ``team_field`` gives a lead an owning team whose members act on it
as on their own; ``sharing`` grants verbs on leads a CEL condition selects.
"""

from __future__ import annotations

from collections.abc import Collection

from leadflow.definitions import ProcessDefinition, RoleRule
from leadflow.engine._criteria import holds
from leadflow.engine._types import Instance

__all__ = ["base_role", "granted", "hidden_fields", "narrowed", "role_rule"]


def role_rule(role: str, definition: ProcessDefinition | None) -> RoleRule | None:
    """The definition's rule for ``role``, if it has one."""
    return definition.access.roles.get(role) if definition is not None else None


def base_role(role: str, definition: ProcessDefinition | None) -> str:
    """The built-in role ``role`` is (itself, or the one a custom role is ``like``)."""
    rule = role_rule(role, definition)
    return rule.like if rule is not None and rule.like is not None else role


def hidden_fields(role: str, definition: ProcessDefinition | None) -> frozenset[str]:
    """Fields ``role`` may not read."""
    rule = role_rule(role, definition)
    return frozenset(rule.hidden) if rule is not None else frozenset()


def narrowed(
    role: str,
    verb: str,
    definition: ProcessDefinition | None,
    trigger: str | None,
    fields: Collection[str],
) -> tuple[str, str] | None:
    """(rule, reason) when the role's ``fire`` or ``update`` list refuses; None when it allows."""
    rule = role_rule(role, definition)
    if rule is None:
        return None
    if verb == "fire" and trigger is not None and rule.fire != "*" and trigger not in rule.fire:
        allowed = ", ".join(rule.fire) or "none"
        return (
            f"access:roles.{role}.fire",
            f"{role} may not fire '{trigger}' (the definition allows: {allowed})",
        )
    if verb in ("start", "fire", "update") and rule.update != "*":
        refused = sorted(set(fields) - set(rule.update))
        if refused:
            allowed = ", ".join(rule.update) or "none"
            return (
                f"access:roles.{role}.update",
                f"{role} may not change {', '.join(refused)} (the definition allows: {allowed})",
            )
    return None


def granted(
    actor_id: str,
    role: str,
    team: str | None,
    verb: str,
    lead: Instance,
    definition: ProcessDefinition | None,
) -> tuple[str, str] | None:
    """(rule, reason) when the lead's owning team or a sharing rule grants ``verb``."""
    if definition is None:
        return None
    access = definition.access
    if access.team_field and team is not None and lead.data.get(access.team_field) == team:
        return "access:team_field", f"the lead belongs to team {team} ({access.team_field})"
    for index, share in enumerate(access.sharing):
        if share.role == role and verb in share.verbs and _selects(share.when, lead):
            return f"access:sharing[{index}]", f"shared with {role}: {share.when}"
    return None


def _selects(expression: str, lead: Instance) -> bool:
    return holds(expression, {"lead": lead.data, "owner": lead.owner})
