"""Whole-definition checks of the ``access:`` section; they run on every load.

Roles are built-in or declared ``like`` one; ``fire`` names triggers, ``update`` and ``hidden``
name fields, ``team_field`` is a string or enum field, and a sharing rule names a role and a CEL
condition over ``lead`` and ``owner`` only.
"""

from __future__ import annotations

from collections.abc import Iterator

from ._access_model import BUILTIN_ROLES, RoleRule
from ._checks import Finding, Path
from ._model import FieldType, ProcessDefinition
from .expressions import (
    CEL_VARIABLES,
    _loop_variables,
    _tokens,
    check_expression,
    compile_expression,
)
from .suggest import allowed, did_you_mean

__all__ = ["ACCESS_CHECKS", "SHARING_VARIABLES", "check_access_roles", "check_sharing"]

SHARING_VARIABLES = ("lead", "owner")
"""The CEL variables a sharing rule's condition may read."""

_TEAM_FIELD_TYPES = (FieldType.STRING, FieldType.ENUM)


def _triggers(d: ProcessDefinition) -> list[str]:
    out: list[str] = []
    for t in d.transitions:
        if t.name not in out:
            out.append(t.name)
    return out


def _names(
    path: Path, owner: str, names: tuple[str, ...], known: list[str], what: str, code: str
) -> Iterator[Finding]:
    """Each of ``names`` that is not in ``known``, with a suggestion or the list of ``what``."""
    for j, name in enumerate(names):
        if name in known:
            continue
        hint = did_you_mean(name, known) or (
            f" ({what}s: {allowed(known)})" if known else f" (the process declares no {what}s)"
        )
        yield Finding((*path, j), f"{owner}: unknown {what} '{name}'{hint}", code)


def _role(d: ProcessDefinition, name: str, rule: RoleRule) -> Iterator[Finding]:
    path: Path = ("access", "roles", name)
    owner = f"access role '{name}'"
    builtin = name in BUILTIN_ROLES
    if builtin and rule.like is not None:
        yield Finding(
            (*path, "like"),
            f"{owner} is a built-in role and cannot be 'like' another; remove 'like', or give "
            f"the custom role a name of its own (built-in roles: {allowed(BUILTIN_ROLES)})",
            "builtin-role-with-like",
        )
    if not builtin and rule.like is None:
        hint = did_you_mean(name, BUILTIN_ROLES)
        yield Finding(
            path,
            f"{owner} is not a built-in role{hint}; a custom role names the built-in role it is "
            f"based on with 'like: ...' (built-in roles: {allowed(BUILTIN_ROLES)})",
            "custom-role-without-like",
            key=True,
        )
    if rule.fire != "*":
        yield from _names(
            (*path, "fire"), owner, rule.fire, _triggers(d), "trigger", "unknown-trigger"
        )
    if d.extra == "allow":
        return
    fields = list(d.fields)
    for key, names in (("update", rule.update), ("hidden", rule.hidden)):
        if names != "*":
            yield from _names((*path, key), owner, names, fields, "field", "unknown-field")


def check_access_roles(d: ProcessDefinition) -> Iterator[Finding]:
    """Roles are built-in or ``like`` one; their lists name triggers and fields; the team field
    is a declared string or enum field."""
    access = d.access
    if access.team_field is not None:
        path: Path = ("access", "team_field")
        spec = d.fields.get(access.team_field)
        if spec is None and d.extra != "allow":
            yield Finding(
                path,
                f"access team_field: unknown field '{access.team_field}'"
                f"{did_you_mean(access.team_field, d.fields)}",
                "unknown-field",
            )
        elif spec is not None and spec.type not in _TEAM_FIELD_TYPES:
            yield Finding(
                path,
                f"access team_field: field '{access.team_field}' is {spec.type.value}; the team "
                "field must be a string or enum field naming the lead's team",
                "team-field-type",
            )
    for name, rule in access.roles.items():
        yield from _role(d, name, rule)


def _variable_offset(expression: str, name: str) -> int:
    toks = _tokens(expression)
    return next(
        (
            off
            for i, (kind, text, off) in enumerate(toks)
            if kind == "ident" and text == name and (i == 0 or toks[i - 1][1] != ".")
        ),
        0,
    )


def _sharing_condition(
    d: ProcessDefinition, path: Path, owner: str, expr: str
) -> Iterator[Finding]:
    """The condition compiles, reads declared fields, and only ``lead`` and ``owner``."""
    available = f"(available: {', '.join(SHARING_VARIABLES)})"
    _, issues = check_expression(expr, d.fields, allow_unknown_fields=d.extra == "allow")
    for issue in issues:
        message = issue.message
        if issue.code == "cel-unknown-variable":
            message = message.split(" (available:", 1)[0] + f" {available}"
        yield Finding(path, f"{owner}: {message}", issue.code, offset=issue.offset)
    if any(issue.code == "cel-syntax" for issue in issues):
        return
    program = compile_expression(expr)
    bound = _loop_variables(_tokens(expr))
    for name in program.variables():
        if name in CEL_VARIABLES and name not in SHARING_VARIABLES and name not in bound:
            yield Finding(
                path,
                f"{owner}: a sharing rule cannot read '{name}' {available}; it decides on the "
                "lead's data and owner alone",
                "cel-unknown-variable",
                offset=_variable_offset(expr, name),
            )


def check_sharing(d: ProcessDefinition) -> Iterator[Finding]:
    """A sharing rule names a built-in or declared role; its condition compiles and reads only
    ``lead`` (declared fields) and ``owner``."""
    roles = list(dict.fromkeys((*BUILTIN_ROLES, *d.access.roles)))
    for i, share in enumerate(d.access.sharing):
        path: Path = ("access", "sharing", i)
        owner = f"sharing rule {i + 1}"
        if share.role not in roles:
            hint = did_you_mean(share.role, roles) or f" (roles: {allowed(roles)})"
            yield Finding(
                (*path, "role"),
                f"{owner}: unknown role '{share.role}'{hint}; a custom role must be declared "
                "under access.roles",
                "unknown-role",
            )
        yield from _sharing_condition(d, (*path, "when"), owner, share.when)


ACCESS_CHECKS = (check_access_roles, check_sharing)
"""The checks of this module, run after the SLA checks."""
