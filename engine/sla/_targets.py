"""An SLA's targets compiled: its ladder marks under each target, and the first-match choice.

A policy without ``targets`` has one :class:`Variant` (its ``target``). With a matrix, each rule
has its own variant (the ladder's shares resolve against that rule's target) and the policy's
``target``, when given, is the default. The rule chosen when a clock starts is kept in the
clock's state as ``r`` (its index; absent for the default), so every later step of the clock
(next mark, deadline, breach) uses the same target.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from leadflow.definitions import SlaPolicy, Span
from leadflow.engine._criteria import CelProgram, EvalContext

__all__ = ["NO_TARGET", "Level", "Mark", "TargetMatrix", "Variant"]

Level = Literal["warning", "breach", "escalation", "task"]


@dataclass(frozen=True, slots=True)
class Mark:
    """A point on a clock: ``amount`` of clock time after its start."""

    amount: timedelta
    level: Level
    index: int
    """The ladder step index (or the task index for ``task`` marks)."""


@dataclass(frozen=True, slots=True)
class Variant:
    """One target of a policy, with the marks it puts on the clock."""

    label: str
    """The rule's label (``enterprise``, ``rule 2``) or ``default``."""
    spec: Span
    target: timedelta
    marks: tuple[Mark, ...]


NO_TARGET = object()
"""What :meth:`TargetMatrix.choose` returns when no rule matches and there is no default."""


def _level(amount: timedelta, target: timedelta) -> Level:
    if amount < target:
        return "warning"
    return "breach" if amount == target else "escalation"


def _variant(policy: SlaPolicy, label: str, spec: Span, day: timedelta) -> Variant:
    target = spec.resolve(timedelta(0), day)
    marks = []
    for i, step in enumerate(policy.ladder):
        amount = step.at.resolve(target, day)
        marks.append(Mark(amount, step.level or _level(amount, target), i))
    if not any(m.amount == target for m in marks):
        marks.append(Mark(target, "breach", -1))
    if policy.tasks is not None:
        marks += [
            Mark(offset.resolve(target, day), "task", i) for i, offset in enumerate(policy.tasks.at)
        ]
    ordered = tuple(sorted(marks, key=lambda m: (m.amount, m.level != "task")))
    return Variant(label, spec, target, ordered)


class TargetMatrix:
    """The variants of one policy and the rules that choose among them."""

    def __init__(self, policy: SlaPolicy, day: timedelta, activity_types: tuple[str, ...]) -> None:
        self.default = (
            _variant(policy, "default", policy.target, day) if policy.target is not None else None
        )
        self.rules = tuple(
            (
                _variant(policy, rule.label(i), rule.target, day),
                CelProgram(rule.when, activity_types) if rule.when else None,
                dict(rule.match),
            )
            for i, rule in enumerate(policy.targets)
        )

    @property
    def first(self) -> Variant:
        """The default variant, or the first rule's: the policy's target where no clock says."""
        return self.default if self.default is not None else self.rules[0][0]

    def of(self, clock: Mapping[str, Any]) -> Variant:
        """The variant a clock runs under (the rule it started with)."""
        index = clock.get("r")
        return self.rules[index][0] if isinstance(index, int) else self.first

    def choose(self, ctx: EvalContext) -> int | object | None:
        """The index of the first rule the lead matches; None for the default; :data:`NO_TARGET`
        when nothing matches and there is no default."""
        for i, (_, when, match) in enumerate(self.rules):
            if all(ctx.lead.get(name) in values for name, values in match.items()) and (
                when is None or when.run(ctx)[0]
            ):
                return i
        return None if self.default is not None else NO_TARGET

    def carry(self, clock: Mapping[str, Any], old: TargetMatrix) -> dict[str, Any]:
        """``clock`` (a copy) moved from a version whose matrix is ``old`` to this one: it keeps
        its rule by label (``enterprise``), or takes this version's default (or first rule)."""
        out = {k: v for k, v in clock.items() if k != "r"}
        label = old.of(clock).label if isinstance(clock.get("r"), int) else None
        index = next((i for i, (v, _, _) in enumerate(self.rules) if v.label == label), None)
        if index is not None:
            out["r"] = index
        return out

    def started(self, clock: Mapping[str, Any]) -> dict[str, str]:
        """What a start event of a matrix clock records: the rule and its target."""
        if not self.rules:
            return {}
        variant = self.of(clock)
        return {"rule": variant.label, "target": str(variant.spec)}
