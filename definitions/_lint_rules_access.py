"""Lint rules over the ``access:`` section: a trigger no role can fire, a field no role can read.

Roles without a rule keep what they have built in: admin fires every trigger and reads every
field, so these rules only speak when the definition restricts admin too.
"""

from __future__ import annotations

from collections.abc import Iterator

from ._access_model import BUILTIN_ROLES, AccessSpec
from ._lint_rules_base import Issue, rule
from ._model import ProcessDefinition
from .suggest import allowed

__all__ = ["RULES", "field_no_role_can_read", "trigger_no_role_can_fire"]

FIRING_ROLES = ("admin", "manager", "rep")
"""Built-in roles that fire triggers (on the leads their scope gives them)."""
READING_ROLES = ("admin", "ops", "manager", "rep", "viewer")
"""Built-in roles that read lead data (``board`` sees aggregates only)."""


def _roles(access: AccessSpec, kinds: tuple[str, ...], verb: str) -> list[str]:
    """Every role (built-in or custom) whose base role is one of ``kinds``, or that a sharing
    rule grants ``verb``."""
    shared = {s.role for s in access.sharing if verb in s.verbs}
    out: list[str] = []
    for name in dict.fromkeys((*BUILTIN_ROLES, *access.roles)):
        spec = access.roles.get(name)
        base = spec.like if spec is not None and spec.like is not None else name
        if base in kinds or name in shared:
            out.append(name)
    return out


@rule("LF207", "trigger-no-role-can-fire", "warning", "A trigger that no role may fire")
def trigger_no_role_can_fire(d: ProcessDefinition) -> Iterator[Issue]:
    """The ``access`` rules list the triggers each role may ``fire``; a trigger that is in no
    list of a role that fires (admin, manager, rep, the custom roles like them, and roles a
    sharing rule lets fire) and that no SLA mark fires can never be fired. A built-in role
    without a rule fires every trigger, so this needs a rule for admin too."""
    access = d.access
    roles = _roles(access, FIRING_ROLES, "fire")
    firable: set[str] = set()
    for name in roles:
        spec = access.roles.get(name)
        if spec is None or spec.fire == "*":
            return
        firable.update(spec.fire)
    for sla in d.slas.values():
        firable.update(step.fire.trigger for step in sla.ladder if step.fire is not None)
    reported: set[str] = set()
    for i, t in enumerate(d.transitions):
        if t.name in firable or t.name in reported:
            continue
        reported.add(t.name)
        yield Issue(
            ("transitions", i, "name"),
            f"trigger '{t.name}' can never be fired: no role may fire it ({allowed(roles)} list "
            "their triggers without it) and no SLA mark fires it; add it to a role's fire list "
            "(access.roles.admin.fire, say), or remove the transition",
        )


@rule("LF405", "field-no-role-can-read", "warning", "A field that every role has hidden")
def field_no_role_can_read(d: ProcessDefinition) -> Iterator[Issue]:
    """A field in the ``hidden`` list of every role that reads leads (admin, ops, manager, rep,
    viewer, the custom roles like them, and roles a sharing rule lets read) is absent from
    every answer: no one ever sees it. A built-in role without a rule reads every field, so
    this needs a rule for admin too."""
    access = d.access
    roles = _roles(access, READING_ROLES, "read")
    hidden: set[str] | None = None
    for name in roles:
        spec = access.roles.get(name)
        mine = set(spec.hidden) if spec is not None else set()
        hidden = mine if hidden is None else hidden & mine
    for name in d.fields:
        if hidden and name in hidden:
            yield Issue(
                ("fields", name),
                f"field '{name}' is hidden from every role that reads leads ({allowed(roles)}): "
                "no answer ever shows it; take it out of one role's hidden list "
                "(access.roles.admin.hidden, say)",
                key=True,
            )


RULES = (trigger_no_role_can_fire, field_no_role_can_read)
"""The access rules, in code order."""
