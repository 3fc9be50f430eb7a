"""CEL expressions: compile once, and find which lead fields an expression reads.

``common-expression-language`` compiles and evaluates CEL; its ``Program.variables()`` lists
only top-level names (``lead``), so field references (``lead.score``, ``lead["score"]``) are found
by a small scan over the expression that skips string literals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import cel

from .suggest import did_you_mean

__all__ = [
    "CEL_VARIABLES",
    "CelIssue",
    "FieldReference",
    "accessed_keys",
    "check_expression",
    "compile_expression",
    "field_references",
]

CEL_VARIABLES: dict[str, str] = {
    "lead": "the lead's data: a map from field name to value (unset fields are absent)",
    "activities": "a map from activity type to the number of activities recorded",
    "stage": "the name of the lead's current stage",
    "owner": "the owner's id, or null when unassigned",
    "team": "the owner's team (the first of the definition's teams that lists them), or null",
    "now": "the time of the event, a timestamp",
}
"""The variables every leadflow CEL expression may use, with what they hold."""

_SYNTAX = re.compile(r"<input>:(\d+):(\d+): (.*)")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MACROS = frozenset({"all", "exists", "exists_one", "filter", "map"})


@dataclass(frozen=True, slots=True)
class FieldReference:
    """``lead.<name>`` (or ``lead["name"]``) at a 0-based character offset of the expression."""

    name: str
    offset: int


@dataclass(frozen=True, slots=True)
class CelIssue:
    """Something wrong with an expression, at a 0-based offset into it."""

    message: str
    code: str
    offset: int = 0


def compile_expression(expression: str) -> Any:
    """Compile ``expression`` into a ``cel.Program``; raise ``ValueError`` on a syntax error."""
    return cel.compile(expression)


def _string_end(text: str, start: int) -> int:
    """Index just past the string literal whose prefix or quote starts at ``start``."""
    i = start
    raw = False
    while i < len(text) and text[i] in "rRbB":
        raw = raw or text[i] in "rR"
        i += 1
    quote = text[i]
    triple = text[i : i + 3] == quote * 3
    closing = quote * 3 if triple else quote
    i += len(closing)
    while i < len(text):
        if not raw and text[i] == "\\":
            i += 2
            continue
        if text.startswith(closing, i):
            return i + len(closing)
        if not triple and text[i] == "\n":
            return i
        i += 1
    return len(text)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, offset) tokens: ``ident``, ``string``, ``punct``; whitespace dropped."""
    out: list[tuple[str, str, int]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "'\"" or (
            ch in "rRbB"
            and (m := re.match(r"[rRbB]{1,2}['\"]", text[i:])) is not None
            and m.end() > 0
        ):
            end = _string_end(text, i)
            out.append(("string", text[i:end], i))
            i = end
            continue
        m = _IDENT.match(text, i)
        if m:
            out.append(("ident", m.group(), i))
            i = m.end()
            continue
        out.append(("punct", ch, i))
        i += 1
    return out


def _literal_value(token: str) -> str | None:
    body = token.lstrip("rRbB")
    quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
    if not body.endswith(quote) or len(body) < 2 * len(quote):
        return None
    inner = body[len(quote) : len(body) - len(quote)]
    return None if "\\" in inner else inner


def field_references(expression: str, variable: str = "lead") -> list[FieldReference]:
    """Every ``lead.<field>`` / ``lead["field"]`` the expression reads, in order.

    ``variable`` picks another map variable (``activities`` for activity types).
    """
    toks = _tokens(expression)
    refs: list[FieldReference] = []
    for i, (kind, text, _) in enumerate(toks):
        if kind != "ident" or text != variable:
            continue
        if i > 0 and toks[i - 1][1] == "." and toks[i - 1][0] == "punct":
            continue  # x.lead: a member of something else
        nxt = toks[i + 1 : i + 4]
        if len(nxt) >= 2 and nxt[0][1] == "." and nxt[1][0] == "ident":
            refs.append(FieldReference(nxt[1][1], nxt[1][2]))
        elif len(nxt) >= 3 and nxt[0][1] == "[" and nxt[1][0] == "string" and nxt[2][1] == "]":
            value = _literal_value(nxt[1][1])
            if value is not None:
                refs.append(FieldReference(value, nxt[1][2]))
    return refs


def accessed_keys(expression: str, variable: str) -> tuple[str, ...] | None:
    """The keys of map ``variable`` the expression reads, when it only reads keys.

    ``lead.score >= 60 && has(lead.budget)`` gives ``("score", "budget")``; an expression that
    uses the map itself (``size(lead)``, ``lead.exists(k, ...)``) gives None. Evaluating with
    only those keys in the map is then exactly the same as with the whole map.
    """
    toks = _tokens(expression)
    keys: dict[str, None] = {}
    for i, (kind, text, _) in enumerate(toks):
        if kind != "ident" or text != variable:
            continue
        if i > 0 and toks[i - 1][1] == "." and toks[i - 1][0] == "punct":
            continue
        nxt = toks[i + 1 : i + 4]
        if len(nxt) >= 2 and nxt[0][1] == "." and nxt[1][0] == "ident":
            if len(nxt) == 3 and nxt[2][1] == "(":
                return None  # a method or macro on the map itself
            keys[nxt[1][1]] = None
        elif len(nxt) >= 3 and nxt[0][1] == "[" and nxt[1][0] == "string" and nxt[2][1] == "]":
            value = _literal_value(nxt[1][1])
            if value is None:
                return None
            keys[value] = None
        else:
            return None
    return tuple(keys)


def _syntax_issue(exc: ValueError, expression: str) -> CelIssue:
    text = str(exc)
    match = _SYNTAX.search(text)
    if not match:
        return CelIssue(f"CEL syntax error: {text.splitlines()[0]}", "cel-syntax")
    line, column = int(match.group(1)), int(match.group(2))
    lines = expression.split("\n")
    offset = sum(len(x) + 1 for x in lines[: line - 1]) + max(column - 1, 0)
    detail = match.group(3).strip().removeprefix("Syntax error: ")
    return CelIssue(f"CEL syntax error: {detail}", "cel-syntax", min(offset, len(expression)))


def _loop_variables(toks: list[tuple[str, str, int]]) -> set[str]:
    """Names bound by the macros ``all``, ``exists``, ``exists_one``, ``filter``, ``map``."""
    names: set[str] = set()
    for i in range(len(toks) - 3):
        if (
            toks[i][1] == "."
            and toks[i + 1][1] in _MACROS
            and toks[i + 2][1] == "("
            and toks[i + 3][0] == "ident"
            and i + 4 < len(toks)
            and toks[i + 4][1] == ","
        ):
            names.add(toks[i + 3][1])
    return names


def check_expression(
    expression: str,
    fields: set[str] | dict[str, Any],
    *,
    allow_unknown_fields: bool = False,
) -> tuple[Any | None, list[CelIssue]]:
    """Compile ``expression`` and check its names; return the program (or None) and issues."""
    try:
        program = compile_expression(expression)
    except ValueError as exc:
        return None, [_syntax_issue(exc, expression)]
    issues: list[CelIssue] = []
    toks = _tokens(expression)
    bound = _loop_variables(toks)
    for name in program.variables():
        if name in CEL_VARIABLES or name in bound:
            continue
        offset = next(
            (
                off
                for i, (kind, text, off) in enumerate(toks)
                if kind == "ident" and text == name and (i == 0 or toks[i - 1][1] != ".")
            ),
            0,
        )
        issues.append(
            CelIssue(
                f"unknown variable '{name}' in CEL expression "
                f"(available: {', '.join(CEL_VARIABLES)})",
                "cel-unknown-variable",
                offset,
            )
        )
    if not allow_unknown_fields:
        for ref in field_references(expression):
            if ref.name not in fields:
                issues.append(
                    CelIssue(
                        f"CEL expression reads lead.{ref.name}, which is not a declared field"
                        f"{did_you_mean(ref.name, fields)}",
                        "cel-unknown-field",
                        ref.offset,
                    )
                )
    return (program if not issues else None), issues
