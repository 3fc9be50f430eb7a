"""Whether automatic transitions can loop: a witness search over sample lead data.

Automatic transitions (``auto: {when: ...}``) that form a cycle of stages loop forever when
every condition on the cycle can hold for the same lead data (moving changes no data). Deciding
that for arbitrary CEL is out of reach, so the check looks for a witness: lead data built from
the values that matter to the conditions (the literals they compare with, one either side, the
enum values, true and false, an unset field) is tried against every condition of the cycle,
each evaluated in the stage it leaves from. A witness is a load error naming the data; none
found lets the cycle load (``nurture`` when ``score < 50`` and back when ``score >= 50`` is no
loop), and the engine still stops a chain that comes back to a stage it left.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ._model import FieldType, ProcessDefinition
from .expressions import compile_expression, field_references

__all__ = ["loop_witness"]

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_STRING = re.compile(r"\"([^\"\\]*)\"|'([^'\\]*)'")
_UNSET = object()
_MAX_TRIES = 4096
_NOW = datetime(2000, 1, 1, tzinfo=UTC)


def loop_witness(d: ProcessDefinition, steps: Sequence[tuple[str, str]]) -> dict[str, Any] | None:
    """Lead data for which every ``(stage, condition)`` of a cycle holds, or None when none of
    the samples does (or a condition reads data the search cannot sample, such as dates)."""
    conditions = [(stage, compile_expression(expr)) for stage, expr in steps]
    text = " ".join(expr for _, expr in steps)
    names = list(dict.fromkeys(r.name for _, expr in steps for r in field_references(expr)))
    options: list[list[Any]] = []
    for name in names:
        values = _samples(d, name, text)
        if values is None:
            return None
        options.append(values)
    for n, combo in enumerate(itertools.product(*options)):
        if n >= _MAX_TRIES:
            return None
        lead = {k: v for k, v in zip(names, combo, strict=True) if v is not _UNSET}
        if all(_holds(program, lead, stage) for stage, program in conditions):
            return lead
    return None


def _samples(d: ProcessDefinition, name: str, text: str) -> list[Any] | None:
    spec = d.fields.get(name)
    numbers = sorted({float(m) for m in _NUMBER.findall(text)})
    strings = sorted({a or b for a, b in _STRING.findall(text)})
    if spec is None:
        return [_UNSET, *strings, *numbers]
    kind = spec.type
    if kind in (FieldType.INTEGER, FieldType.NUMBER):
        near = sorted({0.0, *numbers, *(x - 1 for x in numbers), *(x + 1 for x in numbers)})
        cast = int if kind is FieldType.INTEGER else float
        return [_UNSET, *dict.fromkeys(cast(x) for x in near)]
    if kind is FieldType.BOOLEAN:
        return [_UNSET, True, False]
    if kind is FieldType.ENUM:
        return [_UNSET, *(spec.values or ())]
    if kind is FieldType.STRING:
        return [_UNSET, "", *strings]
    if kind is FieldType.LIST:
        return [_UNSET, [], strings[:1]]
    return None  # dates and times: not sampled


def _holds(program: Any, lead: dict[str, Any], stage: str) -> bool:
    inputs = {
        "lead": lead,
        "stage": stage,
        "owner": None,
        "team": None,
        "now": _NOW,
        "activities": {},
    }
    try:
        return program.execute(inputs) is True
    except Exception:  # an unset field or a type mismatch: the condition does not hold
        return False
