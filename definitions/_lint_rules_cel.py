"""Lint rules over CEL expressions: comparisons against the field types, conditions that never hold.

Both read the tree of :mod:`._lint_rules_celparse` and look only at comparisons whose one side
is a field read (``lead.score``, ``lead["score"]``) and whose other side is a literal or a list of
literals: decidable cases, with the field's declared type, enum values and min/max as the truth.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from ._lint_rules_base import Issue, cel_sites, rule
from ._lint_rules_celparse import COMPARISONS, Node, parse, walk
from ._model import CelCriterion, Criterion, FieldSpec, FieldType, ProcessDefinition
from .suggest import allowed, did_you_mean

__all__ = [
    "RULES",
    "cel_type_mismatch",
    "condition_never_holds",
    "constant_mismatch",
    "criterion_never_holds",
    "mismatch_message",
    "never_holds",
    "unknown_enum_value",
]

_NUMERIC_LITERALS = frozenset({"int", "uint", "double"})
_NUMERIC_FIELDS = frozenset({FieldType.INTEGER, FieldType.NUMBER})
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_EXPECTED = {
    FieldType.INTEGER: "a number such as 60",
    FieldType.NUMBER: "a number such as 1000.0",
    FieldType.STRING: "text in quotes",
    FieldType.ENUM: "one of its values in quotes",
    FieldType.BOOLEAN: "true or false",
    FieldType.DATE: "a timestamp such as timestamp('2025-01-31T00:00:00Z')",
    FieldType.DATETIME: "a timestamp such as timestamp('2025-01-31T09:00:00Z')",
    FieldType.LIST: "a list such as ['a', 'b']",
}


def _fits(kind: FieldType, lit: Node) -> bool | None:
    """Whether literal ``lit`` can equal a value of type ``kind`` (None: cannot tell)."""
    if lit.kind == "list":
        return kind is FieldType.LIST
    if lit.kind != "lit" or lit.type == "null":
        return None
    if kind in _NUMERIC_FIELDS:
        return lit.type in _NUMERIC_LITERALS
    if kind in (FieldType.STRING, FieldType.ENUM):
        return lit.type == "string"
    if kind is FieldType.BOOLEAN:
        return lit.type == "bool"
    return False  # dates and datetimes are timestamps in CEL; lists are not scalars


def _shown(lit: Node) -> str:
    if lit.kind == "list":
        return "a list"
    if lit.type == "string":
        return f'the text "{lit.value}"' if lit.value is not None else "a text"
    if lit.type == "bool":
        return str(lit.value).lower()
    if lit.type in _NUMERIC_LITERALS:
        return f"the number {lit.value!r}"
    return f"a {lit.type} value"


@dataclass(frozen=True, slots=True)
class _Comparison:
    """``lead.<name> <op> <literal>``, the field on the left (operators flipped to make it so)."""

    name: str
    op: str
    literal: Node
    offset: int


def _comparisons(node: Node) -> list[_Comparison]:
    """The field-vs-literal comparisons ``node`` itself makes (``in`` lists give one per item)."""
    if node.kind == "cmp" and node.op in COMPARISONS:
        left, right = node.children
        if left.kind == "field" and right.kind in ("lit", "list"):
            return [_Comparison(left.value, node.op, right, right.offset)]
        if right.kind == "field" and left.kind in ("lit", "list"):
            return [_Comparison(right.value, _FLIP[node.op], left, left.offset)]
    if node.kind == "in":
        left, right = node.children
        if left.kind == "field" and right.kind == "list":
            return [_Comparison(left.value, "in", item, item.offset) for item in right.children]
    return []


def _item_checks(node: Node) -> list[_Comparison]:
    """``"x" in lead.tags``: the literal against the list field's item type (op ``item``)."""
    if node.kind == "in":
        left, right = node.children
        if right.kind == "field" and left.kind == "lit":
            return [_Comparison(right.value, "item", left, left.offset)]
    return []


def _mismatch(c: _Comparison, spec: FieldSpec) -> bool:
    if c.op == "item":
        return (
            spec.type is FieldType.LIST
            and spec.items is not None
            and _fits(spec.items, c.literal) is False
        )
    return _fits(spec.type, c.literal) is False


def _unknown_value(c: _Comparison, spec: FieldSpec) -> bool:
    return (
        spec.type is FieldType.ENUM
        and c.op != "item"
        and c.literal.kind == "lit"
        and c.literal.type == "string"
        and c.literal.value is not None
        and c.literal.value not in (spec.values or ())
    )


def _all_comparisons(tree: Node) -> Iterator[_Comparison]:
    for node in walk(tree):
        yield from _comparisons(node)
        yield from _item_checks(node)


@rule(
    "LF101",
    "cel-type-mismatch",
    "error",
    "A CEL comparison mixes a field with a literal of another type",
)
def cel_type_mismatch(d: ProcessDefinition) -> Iterator[Issue]:
    """``lead.score == "60"`` on an integer field is always false (CEL does not convert types),
    and ``lead.score > "60"`` fails to evaluate, so the condition counts as unmet. Dates and
    datetimes are timestamps in CEL: compare them with ``timestamp('...')``, not with text.
    (When such a comparison makes a criterion constant, the definition does not load at all.)"""
    for site in cel_sites(d):
        tree = parse(site.expression)
        if tree is None:
            continue
        for c in _all_comparisons(tree):
            spec = d.fields.get(c.name)
            if spec is not None and _mismatch(c, spec):
                yield Issue(site.path, mismatch_message(site.owner, c, spec), offset=c.offset)


def mismatch_message(owner: str, c: _Comparison, spec: FieldSpec) -> str:
    """What a field-vs-literal comparison of mismatched types does, and what to compare with."""
    if c.op == "item":
        assert spec.items is not None
        what = f"lead.{c.name} holds {spec.items.value} items, but is searched for"
        hint = _EXPECTED[spec.items]
    else:
        article = "an" if spec.type.value[0] in "aeiou" else "a"
        what = f"lead.{c.name} is {article} {spec.type.value} field, but is compared with"
        hint = _EXPECTED[spec.type]
    if c.op in ("==", "in", "item"):
        effect = "so this is always false"
    elif c.op == "!=":
        effect = "so this is always true"
    else:
        effect = "so evaluating it fails and the condition counts as unmet"
    return (
        f"{owner}: {what} {_shown(c.literal)}; CEL does not convert between types, "
        f"{effect} (compare with {hint})"
    )


def constant_mismatch(
    node: Node, fields: Mapping[str, FieldSpec]
) -> tuple[bool, _Comparison, FieldSpec] | None:
    """Whether a type mismatch makes ``node`` constant: (its constant truth, the comparison
    to blame, its field), or None. An evaluation error counts as false (unmet), as the engine
    counts it; ``&&`` is false with any false part, ``||`` true with any true part."""
    if node.kind in ("cmp", "in"):
        for c in _comparisons(node) + _item_checks(node):
            spec = fields.get(c.name)
            if spec is not None and _mismatch(c, spec):
                return c.op == "!=", c, spec
        return None
    if node.kind == "not":
        inner = constant_mismatch(node.children[0], fields)
        return (not inner[0], inner[1], inner[2]) if inner is not None else None
    if node.kind in ("and", "or"):
        decisive = node.kind == "or"  # the value that decides: true for ||, false for &&
        parts = [constant_mismatch(child, fields) for child in node.children]
        for part in parts:
            if part is not None and part[0] is decisive:
                return part
        if all(part is not None for part in parts):
            return parts[0]
    return None


@rule(
    "LF102",
    "unknown-enum-value",
    "error",
    "A CEL comparison uses a value the enum field does not have",
)
def unknown_enum_value(d: ProcessDefinition) -> Iterator[Issue]:
    """``lead.segment == "smbb"`` compares an enum field with a value it can never hold (a typo,
    or a value renamed in ``values``): the comparison is always false."""
    for site in cel_sites(d):
        tree = parse(site.expression)
        if tree is None:
            continue
        for c in _all_comparisons(tree):
            spec = d.fields.get(c.name)
            if spec is None or not _unknown_value(c, spec):
                continue
            values = spec.values or ()
            yield Issue(
                site.path,
                f"{site.owner}: '{c.literal.value}' is not a value of enum field '{c.name}'"
                f"{did_you_mean(str(c.literal.value), values)} (values: {allowed(values)})",
                offset=c.offset,
            )


# -- conditions that can never hold -------------------------------------------------------------


@dataclass
class _Bounds:
    """What a conjunction requires of one field."""

    lo: float = -math.inf
    lo_strict: bool = False
    hi: float = math.inf
    hi_strict: bool = False
    points: set[object] | None = None
    excluded: set[object] = field(default_factory=set)
    said: list[str] = field(default_factory=list)
    offset: int = 0

    def add(self, c: _Comparison, numeric: bool) -> None:
        value = c.literal.value
        self.said.append(f"{c.op} {value!r}" if c.op != "in" else f"== {value!r}")
        if c.op in ("==", "in"):
            return  # collected by the caller into one set per comparison node
        strict = c.op in (">", "<")
        if c.op == "!=":
            self.excluded.add(value)
        elif not numeric:
            return
        elif c.op in (">", ">=") and (value > self.lo or (value == self.lo and strict)):
            self.lo, self.lo_strict = float(value), strict
        elif c.op in ("<", "<=") and (value < self.hi or (value == self.hi and strict)):
            self.hi, self.hi_strict = float(value), strict

    def restrict(self, values: set[object]) -> None:
        self.points = values if self.points is None else self.points & values

    def empty(self, spec: FieldSpec) -> bool:
        integer = spec.type is FieldType.INTEGER
        if spec.type in _NUMERIC_FIELDS:
            lo, hi = self.lo, self.hi
            if integer and math.isfinite(lo):
                lo = math.floor(lo) + 1 if self.lo_strict else math.ceil(lo)
            if integer and math.isfinite(hi):
                hi = math.ceil(hi) - 1 if self.hi_strict else math.floor(hi)
            touching = lo == hi and not integer and (self.lo_strict or self.hi_strict)
            if lo > hi or touching:
                return True
            if self.points is None and math.isfinite(lo) and math.isfinite(hi):
                # every value left in a small range excluded one by one (x != 0 on 0..0)
                count = int(hi - lo) + 1 if integer else (1 if lo == hi else 0)
                if 0 < count <= len(self.excluded):
                    values = range(int(lo), int(hi) + 1) if integer else [lo]
                    return all(v in self.excluded for v in values)
        if self.points is None:
            return False
        left = {p for p in self.points if p not in self.excluded and self._inside(p, spec)}
        return not left

    def _inside(self, value: object, spec: FieldSpec) -> bool:
        if spec.type not in _NUMERIC_FIELDS:
            return True
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        if spec.type is FieldType.INTEGER and value != int(value):
            return False
        above = value > self.lo or (value == self.lo and not self.lo_strict)
        below = value < self.hi or (value == self.hi and not self.hi_strict)
        return above and below


def _seeded(spec: FieldSpec, offset: int) -> _Bounds:
    """Bounds that start from the field's own ``min``/``max`` (for numbers)."""
    b = _Bounds(offset=offset)
    if spec.type in _NUMERIC_FIELDS:
        b.lo = spec.min if spec.min is not None else -math.inf
        b.hi = spec.max if spec.max is not None else math.inf
    return b


def _usable(c: _Comparison, spec: FieldSpec) -> bool:
    """A comparison the interval reasoning may use: right types, known value, no enum typo."""
    if (
        c.literal.kind != "lit"
        or c.literal.value is None
        or _fits(spec.type, c.literal) is not True
    ):
        return False
    return not _unknown_value(c, spec)


def _strict_never(node: Node, fields: Mapping[str, FieldSpec]) -> str | None:
    """With ``strict``: a comparison that is false by its types alone."""
    for c in _comparisons(node):
        spec = fields.get(c.name)
        if spec is None or c.op in ("!=",):
            continue
        if _mismatch(c, spec):
            return f"lead.{c.name} is compared with {_shown(c.literal)}, another type"
        if c.op in ("==", "in") and _unknown_value(c, spec) and node.kind == "cmp":
            return f"'{c.literal.value}' is not a value of lead.{c.name}"
    if node.kind == "in" and node.children[1].kind == "list":
        comps = _comparisons(node)
        if comps and all(
            (s := fields.get(c.name)) is not None and (_mismatch(c, s) or _unknown_value(c, s))
            for c in comps
        ):
            return f"no item of the list can be a value of lead.{comps[0].name}"
    return None


def _conjunction_never(items: tuple[Node, ...], fields: Mapping[str, FieldSpec]) -> str | None:
    bounds: dict[str, _Bounds] = {}
    for node in items:
        comps = _comparisons(node)
        if not comps:
            continue
        name = comps[0].name
        spec = fields.get(name)
        if spec is None:
            continue
        usable = [c for c in comps if _usable(c, spec)]
        if node.kind == "in" and len(usable) != len(comps):
            continue  # one unknown item keeps the whole list open
        numeric = spec.type in _NUMERIC_FIELDS
        b = bounds.get(name) or bounds.setdefault(name, _seeded(spec, comps[0].offset))
        for c in usable:
            b.add(c, numeric)
        if usable and usable[0].op in ("==", "in"):
            b.restrict({c.literal.value for c in usable})
    for name, b in bounds.items():
        spec = fields[name]
        if not b.empty(spec):
            continue
        said = list(b.said)
        if spec.min is not None and spec.type in _NUMERIC_FIELDS:
            said.append(f">= {spec.min:g} (the field's min)")
        if spec.max is not None and spec.type in _NUMERIC_FIELDS:
            said.append(f"<= {spec.max:g} (the field's max)")
        return f"lead.{name} would have to be {' and '.join(said)}"
    return None


def never_holds(
    expression: str, fields: Mapping[str, FieldSpec], *, strict: bool = False
) -> str | None:
    """Why ``expression`` can never be true, or None when it may be (or we cannot tell).

    Decides conjunctions of comparisons of one field with literals, against the field's
    min/max; ``||`` never holds when none of its sides can. With ``strict``, a comparison that
    is false by its types (an integer field compared with text, an unknown enum value) counts.
    """
    tree = parse(expression)
    return None if tree is None else _never(tree, fields, strict)


def _never(node: Node, fields: Mapping[str, FieldSpec], strict: bool) -> str | None:
    if node.kind == "lit" and node.type == "bool" and node.value is False:
        return "it is the constant false"
    if node.kind == "or":
        reasons = [_never(c, fields, strict) for c in node.children]
        if all(reasons):
            return "; ".join(r for r in reasons if r)
        return None
    items = node.children if node.kind == "and" else (node,)
    for item in items:
        if item.kind in ("or", "and") or (item.kind == "lit" and item.type == "bool"):
            reason = _never(item, fields, strict)
            if reason:
                return reason
        if strict:
            reason = _strict_never(item, fields)
            if reason:
                return reason
    return _conjunction_never(items, fields)


def criterion_never_holds(c: Criterion, fields: Mapping[str, FieldSpec]) -> str | None:
    """Why criterion ``c`` can never be met, or None (only CEL criteria without ``when``)."""
    if isinstance(c, CelCriterion) and c.when is None:
        return never_holds(c.cel, fields, strict=True)
    return None


@rule("LF103", "condition-never-holds", "warning", "A CEL condition can never be true")
def condition_never_holds(d: ProcessDefinition) -> Iterator[Issue]:
    """A condition whose comparisons contradict each other or the field's ``min``/``max``
    (``lead.score > 100`` when score has ``max: 100``; ``lead.amount > 10 && lead.amount < 5``)
    is never true: a criterion with it is never met, a ``when`` with it never applies."""
    for site in cel_sites(d):
        tree = parse(site.expression)
        if tree is None:
            continue
        reason = _never(tree, d.fields, False)
        if reason is not None:
            yield Issue(
                site.path,
                f"{site.owner}: the condition can never hold: {reason}; "
                "fix the comparison or the field's bounds",
                offset=0,
            )


RULES = (cel_type_mismatch, unknown_enum_value, condition_never_holds)
"""The CEL rules, in code order."""
