"""A deployed definition version compiled once into a shared ``transitions`` machine, and the
dispatch table derived from it that the hot path runs.

The ``transitions`` machine stays the compiler's output and the semantic reference
(:meth:`CompiledProcess.decide_with_machine`): leads are never ``Machine`` models, each event
borrows the machine with a two-slot stand-in for the lead (:class:`_Borrowed`), its conditions
are the compiled criteria and its ``after`` callbacks note which transition fired. Every
dispatch on the hot path instead reads the table built from the machine's own transition lists
(:meth:`CompiledProcess.decide`): (stage, trigger) -> the candidates in the order the machine
tries them, the first whose criteria all hold wins. A property test proves both agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transitions import EventData, Machine

from leadflow.definitions import ProcessDefinition, Transition
from leadflow.definitions.expressions import field_references
from leadflow.engine._contract import DataContract, is_set
from leadflow.engine._criteria import (
    CelProgram,
    CompiledCriterion,
    EvalContext,
    compile_criterion,
)
from leadflow.engine._errors import CriterionResult
from leadflow.engine.sla import SlaSet

__all__ = ["CompiledProcess", "Decision"]


class _Borrowed:
    """The lead as the machine sees it for one event: just its stage."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


@dataclass(slots=True)
class Decision:
    """What the machine decided for one trigger: the transition taken, or the unmet criteria."""

    trigger: str
    allowed: bool
    transition: Transition | None = None
    results: list[CriterionResult] = field(default_factory=list)
    """Criteria of the transition taken (or of every candidate when none passed)."""

    @property
    def unmet(self) -> list[CriterionResult]:
        """The criteria that did not hold."""
        return [r for r in self.results if not r.met]


class _Attempt:
    """One dispatch: the lead's context in, the candidates tried and the one chosen out."""

    __slots__ = ("chosen", "ctx", "tried")

    def __init__(self, ctx: EvalContext) -> None:
        self.ctx = ctx
        self.tried: list[tuple[Transition, list[CriterionResult]]] = []
        self.chosen: Transition | None = None


class _Candidate:
    """One ``transitions`` transition (our transition from one concrete stage) with its
    condition (:meth:`check`, the compiled criteria) and its effect (:meth:`chosen`)."""

    __slots__ = ("criteria", "requires", "transition")

    def __init__(self, transition: Transition, criteria: tuple[CompiledCriterion, ...]) -> None:
        self.transition = transition
        self.criteria = criteria
        self.requires = transition.requires

    def evaluate(self, attempt: _Attempt) -> bool:
        """Evaluate every criterion (and ``requires``) into ``attempt``; True when all hold."""
        ctx = attempt.ctx
        results = [c.result(ctx) for c in self.criteria]
        for name in self.requires:
            value = ctx.payload.get(name)
            results.append(
                CriterionResult(
                    id=f"requires_{name}",
                    message=f"Provide '{name}' with '{self.transition.name}'",
                    met=is_set(value),
                    kind="requires",
                    source=f"guard:{self.transition.name}",
                    seen={name: value},
                )
            )
        attempt.tried.append((self.transition, results))
        return all(r.met for r in results)

    def check(self, event: EventData) -> bool:
        """The machine's condition for this transition."""
        return self.evaluate(event.kwargs["attempt"])

    def chosen(self, event: EventData) -> None:
        """The machine's ``after`` callback: note the transition taken."""
        event.kwargs["attempt"].chosen = self.transition


class CompiledProcess:
    """One definition version: the shared machine, compiled criteria and the data contract."""

    def __init__(self, definition: ProcessDefinition) -> None:
        self.definition = definition
        self.process = definition.process
        self.version = definition.version
        self.contract = DataContract(definition)
        self.team_of: dict[str, str] = {}
        """Owner id -> the first team that lists them as a member (the ``team`` variable)."""
        for name, team in definition.teams.items():
            for member in team.members:
                self.team_of.setdefault(member.id, name)
        self.initial = definition.initial_stage
        self.stages = definition.stages
        self.allowed: dict[str, tuple[str, ...]] = {
            name: definition.triggers_from(name) for name in definition.stages
        }
        self.activity_types = self.activity_types_of(definition)
        exit_criteria = {
            name: tuple(
                compile_criterion(c, f"exit:{name}", definition, self.activity_types)
                for c in stage.exit_criteria
            )
            for name, stage in definition.stages.items()
        }
        self.machine = Machine(
            model=None,
            states=list(definition.stages),
            initial=self.initial,
            auto_transitions=False,
            send_event=True,
            queued=False,
        )
        self._candidates: dict[tuple[str, str], list[_Candidate]] = {}
        for t in definition.transitions:
            guard = tuple(
                compile_criterion(c, f"guard:{t.name}", definition, self.activity_types)
                for c in t.guard
            )
            skip_exit = t.backward or definition.stages[t.to].closed == "lost"
            for source in definition.source_stages(t):
                criteria = guard if skip_exit else exit_criteria[source] + guard
                candidate = _Candidate(t, criteria)
                self._candidates.setdefault((source, t.name), []).append(candidate)
                self.machine.add_transition(
                    trigger=t.name,
                    source=source,
                    dest=t.to,
                    conditions=[candidate.check],
                    after=[candidate.chosen],
                )
        self._events = self.machine.events
        self.table = self._dispatch_table()
        """(stage, trigger) -> candidates, in the order the machine tries them."""
        self._needs_activities = {
            key: any(c.reads_activities for cand in cands for c in cand.criteria)
            for key, cands in self._candidates.items()
        }

        self.reroutes = tuple(
            (
                frozenset(r.on),
                None if "*" in r.stages else frozenset(r.stages),
                CelProgram(r.when, self.activity_types) if r.when else None,
            )
            for r in definition.reroute
        )
        """(fields, stages or None for every open stage, condition) of each ``reroute`` rule."""
        self.autos: dict[str, tuple[tuple[str, CelProgram], ...]] = {}
        """Stage -> its automatic transitions: (trigger, compiled ``auto.when``), in order."""
        for t in definition.transitions:
            if t.auto is not None:
                program = CelProgram(t.auto.when, self.activity_types)
                for source in definition.source_stages(t):
                    self.autos[source] = (*self.autos.get(source, ()), (t.name, program))
        auto_reads = any(
            "activities" in program.variables
            for rules in self.autos.values()
            for _, program in rules
        )
        self.reads_activities = auto_reads or any(self._needs_activities.values())
        self.sla = SlaSet(definition, self.activity_types)

    def _dispatch_table(self) -> dict[tuple[str, str], tuple[_Candidate, ...]]:
        """The machine's transitions per (source stage, trigger), read from the machine itself
        (its order is the order conditions are tried in), mapped back to their candidates."""
        table: dict[tuple[str, str], tuple[_Candidate, ...]] = {}
        for trigger, event in self._events.items():
            for source, transitions in event.transitions.items():
                # each machine transition's one condition is its candidate's bound ``check``
                by_check: dict[object, _Candidate] = {
                    c.check: c for c in self._candidates[(source, trigger)]
                }
                table[(source, trigger)] = tuple(
                    by_check[t.conditions[0].func] for t in transitions
                )
        return table

    def needs_activities(self, stage: str, trigger: str) -> bool:
        """Whether deciding ``trigger`` from ``stage`` looks at recorded activities."""
        return self._needs_activities.get((stage, trigger), False)

    @staticmethod
    def activity_types_of(definition: ProcessDefinition) -> tuple[str, ...]:
        """Every activity type a definition names (playbook items, criteria, SLAs), in order."""
        types: dict[str, None] = {}
        for stage in definition.stages.values():
            for item in stage.playbook:
                types[item.activity_type] = None
        criteria = [c for s in definition.stages.values() for c in s.exit_criteria]
        criteria += [c for t in definition.transitions for c in t.guard]
        for c in criteria:
            activity = getattr(c, "activity", None)
            if activity is not None:
                types[activity.type] = None
            for expression in (getattr(c, "cel", None), c.when):
                for ref in field_references(expression or "", "activities"):
                    types[ref.name] = None
        return tuple(types)

    # -- dispatch ------------------------------------------------------------------------------

    def decide(self, trigger: str, ctx: EvalContext) -> Decision:
        """Decide ``trigger`` for the lead described by ``ctx`` from the dispatch table: the
        first candidate whose criteria hold is taken; no side effects. The same answer as
        :meth:`decide_with_machine`, without the machine's per-event bookkeeping."""
        candidates = self.table.get((ctx.stage, trigger))
        if candidates is None:
            return Decision(trigger, False, None, [])
        attempt = _Attempt(ctx)
        for candidate in candidates:
            if candidate.evaluate(attempt):
                return Decision(trigger, True, candidate.transition, attempt.tried[-1][1])
        results = [r for _, rs in attempt.tried for r in rs]
        return Decision(trigger, True, None, results)

    def decide_with_machine(self, trigger: str, ctx: EvalContext) -> Decision:
        """Let the ``transitions`` machine decide ``trigger`` (the semantic reference of
        :meth:`decide`); no side effects."""
        if trigger not in self.allowed.get(ctx.stage, ()):
            return Decision(trigger, False, None, [])
        attempt = _Attempt(ctx)
        self._events[trigger].trigger(_Borrowed(ctx.stage), attempt=attempt)
        if attempt.chosen is not None:
            return Decision(trigger, True, attempt.chosen, attempt.tried[-1][1])
        results = [r for _, rs in attempt.tried for r in rs]
        return Decision(trigger, True, None, results)

    def evaluate_options(self, ctx: EvalContext) -> list[tuple[Transition, list[CriterionResult]]]:
        """Every transition allowed from the lead's stage, with its criteria evaluated."""
        out: list[tuple[Transition, list[CriterionResult]]] = []
        for trigger in self.allowed.get(ctx.stage, ()):
            for candidate in self._candidates[(ctx.stage, trigger)]:
                attempt = _Attempt(ctx)
                candidate.evaluate(attempt)
                out.append(attempt.tried[0])
        return out
