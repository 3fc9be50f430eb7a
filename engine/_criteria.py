"""Criteria compiled once per definition version, evaluated per event against an EvalContext."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
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
from leadflow.definitions.expressions import (
    CEL_VARIABLES,
    accessed_keys,
    compile_expression,
    field_references,
)
from leadflow.engine._contract import DataContract, is_set
from leadflow.engine._errors import CriterionResult

__all__ = [
    "Activity",
    "CompiledCriterion",
    "EvalContext",
    "compile_criterion",
    "holds",
]


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
    team_of: Mapping[str, str] = field(default_factory=dict)
    """Owner id -> their team (the ``team`` CEL variable)."""
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


class CelProgram:
    """A compiled CEL expression and the inputs it reads.

    Only the variables, lead fields and activity types the expression reads are handed to
    CEL (converting a whole lead costs several times the evaluation itself).
    """

    __slots__ = ("activity_keys", "all_types", "lead_keys", "program", "refs", "variables")

    def __init__(self, expression: str, activity_types: tuple[str, ...]) -> None:
        self.program = compile_expression(expression)
        self.variables = tuple(v for v in self.program.variables() if v in CEL_VARIABLES)
        self.lead_keys = accessed_keys(expression, "lead")
        self.activity_keys = accessed_keys(expression, "activities")
        self.all_types = activity_types
        self.refs = tuple(dict.fromkeys(r.name for r in field_references(expression)))

    def inputs(self, ctx: EvalContext) -> dict[str, Any]:
        """The variables for one evaluation (activity types never recorded count 0)."""
        out: dict[str, Any] = {}
        for name in self.variables:
            if name == "lead":
                out[name] = ctx.contract.cel_view(ctx.lead, self.lead_keys)
            elif name == "activities":
                counts = ctx.counts()
                keys = self.activity_keys
                if keys is None:
                    out[name] = {**dict.fromkeys(self.all_types, 0), **counts}
                else:
                    out[name] = {k: counts.get(k, 0) for k in keys}
            elif name == "stage":
                out[name] = ctx.stage
            elif name == "owner":
                out[name] = ctx.owner
            elif name == "team":
                out[name] = ctx.team_of.get(ctx.owner or "")
            else:
                out[name] = ctx.now
        return out

    def run(self, ctx: EvalContext) -> tuple[bool, dict[str, Any]]:
        """(result, seen): an unset field or a type error is a False result, never a crash."""
        seen: dict[str, Any] = {f"lead.{r}": ctx.lead.get(r) for r in self.refs}
        try:
            value = self.program.execute(self.inputs(ctx))
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


def holds(expression: str, variables: Mapping[str, Any]) -> bool:
    """Whether a CEL condition over plain ``variables`` is true (journey and sharing rules); as
    for criteria, an unset field or a type error makes it false, never a crash."""
    try:
        return _condition(expression).execute(dict(variables)) is True
    except (KeyError, TypeError, ValueError, RuntimeError):
        return False


@lru_cache(maxsize=512)
def _condition(expression: str) -> Any:
    return compile_expression(expression)


Evaluate = Callable[[EvalContext], tuple[bool, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class CompiledCriterion:
    """A criterion ready to evaluate: ``evaluate(ctx) -> (met, seen)``."""

    id: str
    message: str
    kind: str
    source: str
    evaluate: Evaluate
    when: CelProgram | None = None
    reads_activities: bool = False
    """Whether evaluating it needs the lead's recorded activities."""

    def result(self, ctx: EvalContext) -> CriterionResult:
        """Evaluate the criterion (honouring ``when``) into a :class:`CriterionResult`."""
        if self.when is not None:
            applies, seen = self.when.run(ctx)
            if not applies:
                return CriterionResult(
                    self.id, self.message, True, self.kind, self.source, seen, applies=False
                )
        met, seen = self.evaluate(ctx)
        return CriterionResult(self.id, self.message, met, self.kind, self.source, seen)


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
    """Compile one criterion of ``definition``; ``source`` says where it is declared.

    ``activity_types`` are the types the process knows: CEL sees them with a count of 0 until
    one is recorded.
    """
    when = CelProgram(criterion.when, activity_types) if criterion.when else None
    programs = [when] if when else []
    if isinstance(criterion, FieldSetCriterion):
        evaluate, kind = _field_set(criterion.field_set), "field_set"
    elif isinstance(criterion, ActivityCriterion):
        req = criterion.activity
        evaluate, kind = _activity(req.type, req.min, req.within, req.in_stage), "activity"
    elif isinstance(criterion, CelCriterion):
        program = CelProgram(criterion.cel, activity_types)
        programs.append(program)
        evaluate, kind = program.run, "cel"
    elif isinstance(criterion, ChecklistCriterion):
        by_stage = {
            name: {p.id: p.activity_type for p in stage.playbook}
            for name, stage in definition.stages.items()
        }
        evaluate, kind = _checklist(criterion.checklist, by_stage), "checklist"
    else:  # pragma: no cover - the union is closed
        raise TypeError(type(criterion))
    reads = kind in ("activity", "checklist") or any("activities" in p.variables for p in programs)
    return CompiledCriterion(
        id=criterion.id,
        message=criterion.message,
        kind=kind,
        source=source,
        evaluate=evaluate,
        when=when,
        reads_activities=reads,
    )
