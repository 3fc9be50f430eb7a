"""Criteria compiled once per definition version, evaluated per event against an EvalContext."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from leadflow.definitions import (
    ActivityCriterion,
    CelCriterion,
    ChecklistCriterion,
    Criterion,
    FieldSetCriterion,
    ProcessDefinition,
    format_duration,
)
from leadflow.definitions._expressions import compile_expression, field_references

from ._contract import DataContract, is_set
from ._errors import CriterionResult

__all__ = ["Activity", "CompiledCriterion", "EvalContext", "compile_criterion"]


class Activity(NamedTuple):
    """A recorded activity as criteria see it: its type, when, and the lead version it made."""

    type: str
    at: datetime
    seq: int
    """The instance version its recording produced; orders it against stage changes."""


@dataclass(slots=True)
class EvalContext:
    """Everything a criterion may look at for one event on one lead."""

    lead: Mapping[str, Any]
    """The lead's data as it would be after the event (current data merged with the payload)."""
    payload: Mapping[str, Any]
    """The event's own data."""
    stage: str
    stage_entered_at: datetime
    stage_seq: int
    """The instance version that entered the current stage; later activities are "in stage"."""
    now: datetime
    owner: str | None
    activities: list[Activity]
    contract: DataContract
    _cel: dict[str, Any] | None = field(default=None, repr=False)
    _counts: dict[str, int] | None = field(default=None, repr=False)

    def counts(self) -> dict[str, int]:
        """Activity counts by type, of activities recorded up to the event's time."""
        if self._counts is None:
            counts: dict[str, int] = {}
            now = self.now
            for a in self.activities:
                if a.at <= now:
                    counts[a.type] = counts.get(a.type, 0) + 1
            self._counts = counts
        return self._counts

    def cel_variables(self, activity_types: tuple[str, ...]) -> dict[str, Any]:
        """The CEL variables: lead, activities (with 0 for known types), stage, owner, now."""
        if self._cel is None:
            counts = dict.fromkeys(activity_types, 0)
            counts.update(self.counts())
            self._cel = {
                "lead": self.contract.cel_view(self.lead),
                "activities": counts,
                "stage": self.stage,
                "owner": self.owner,
                "now": self.now,
            }
        return self._cel


Evaluate = Callable[[EvalContext], tuple[bool, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class CompiledCriterion:
    """A criterion ready to evaluate: ``evaluate(ctx) -> (met, seen)``."""

    id: str
    message: str
    kind: str
    source: str
    evaluate: Evaluate
    when: Any | None = None
    activity_types: tuple[str, ...] = ()
    reads_activities: bool = False
    """Whether evaluating it needs the lead's recorded activities."""

    def result(self, ctx: EvalContext, activity_types: tuple[str, ...]) -> CriterionResult:
        """Evaluate the criterion (honouring ``when``) into a :class:`CriterionResult`."""
        if self.when is not None:
            applies, seen = _run_cel(self.when, ctx, activity_types, ())
            if not applies:
                return CriterionResult(
                    self.id, self.message, True, self.kind, self.source, seen, applies=False
                )
        met, seen = self.evaluate(ctx)
        return CriterionResult(self.id, self.message, met, self.kind, self.source, seen)


def _run_cel(
    program: Any, ctx: EvalContext, activity_types: tuple[str, ...], refs: tuple[str, ...]
) -> tuple[bool, dict[str, Any]]:
    seen: dict[str, Any] = {f"lead.{r}": ctx.lead.get(r) for r in refs}
    try:
        value = program.execute(ctx.cel_variables(activity_types))
    except KeyError as exc:
        seen["error"] = f"{exc.args[0] if exc.args else exc} is not set"
        return False, seen
    except (TypeError, ValueError, RuntimeError) as exc:
        seen["error"] = f"could not evaluate: {str(exc).split('. ')[0]}"
        return False, seen
    if not isinstance(value, bool):
        seen["error"] = f"the expression gave {value!r}, not true or false"
        return False, seen
    return value, seen


def _field_set(name: str) -> Evaluate:
    def evaluate(ctx: EvalContext) -> tuple[bool, dict[str, Any]]:
        value = ctx.lead.get(name)
        return is_set(value), {name: value}

    return evaluate


def _activity(kind: str, minimum: int, within: timedelta | None, in_stage: bool) -> Evaluate:
    window = format_duration(within) if within else None

    def evaluate(ctx: EvalContext) -> tuple[bool, dict[str, Any]]:
        if within is None and not in_stage:
            count = ctx.counts().get(kind, 0)
        else:
            since = ctx.now - within if within is not None else None
            after = ctx.stage_seq if in_stage else 0
            count = sum(
                1
                for a in ctx.activities
                if a.type == kind
                and a.seq > after
                and a.at <= ctx.now
                and (since is None or since <= a.at)
            )
        seen: dict[str, Any] = {"type": kind, "count": count, "min": minimum}
        if window:
            seen["within"] = window
        if in_stage:
            seen["in_stage"] = True
        return count >= minimum, seen

    return evaluate


def _checklist(items: tuple[str, ...], by_stage: Mapping[str, Mapping[str, str]]) -> Evaluate:
    def evaluate(ctx: EvalContext) -> tuple[bool, dict[str, Any]]:
        playbook = by_stage.get(ctx.stage, {})
        done = {a.type for a in ctx.activities if a.seq > ctx.stage_seq and a.at <= ctx.now}
        seen = {item: playbook.get(item, item) in done for item in items}
        return all(seen.values()), seen

    return evaluate


def compile_criterion(
    criterion: Criterion,
    source: str,
    definition: ProcessDefinition,
    activity_types: tuple[str, ...],
) -> CompiledCriterion:
    """Compile one criterion of ``definition``; ``source`` says where it is declared."""
    when = compile_expression(criterion.when) if criterion.when else None
    types: tuple[str, ...]
    if isinstance(criterion, FieldSetCriterion):
        evaluate, kind, types = _field_set(criterion.field_set), "field_set", ()
    elif isinstance(criterion, ActivityCriterion):
        req = criterion.activity
        evaluate = _activity(req.type, req.min, req.within, req.in_stage)
        kind, types = "activity", (req.type,)
    elif isinstance(criterion, CelCriterion):
        program = compile_expression(criterion.cel)
        refs = tuple(dict.fromkeys(r.name for r in field_references(criterion.cel)))

        def evaluate(ctx: EvalContext) -> tuple[bool, dict[str, Any]]:
            return _run_cel(program, ctx, activity_types, refs)

        kind, types = "cel", ()
    elif isinstance(criterion, ChecklistCriterion):
        by_stage = {
            name: {p.id: p.activity_type for p in stage.playbook}
            for name, stage in definition.stages.items()
        }
        evaluate, kind = _checklist(criterion.checklist, by_stage), "checklist"
        types = tuple(
            by_stage[s].get(i, i) for s in by_stage for i in criterion.checklist if i in by_stage[s]
        )
    else:  # pragma: no cover - the union is closed
        raise TypeError(type(criterion))
    reads = kind in ("activity", "checklist") or any(
        _mentions_activities(expr) for expr in (getattr(criterion, "cel", None), criterion.when)
    )
    return CompiledCriterion(
        id=criterion.id,
        message=criterion.message,
        kind=kind,
        source=source,
        evaluate=evaluate,
        when=when,
        activity_types=types,
        reads_activities=reads,
    )


def _mentions_activities(expression: str | None) -> bool:
    return expression is not None and "activities" in expression
