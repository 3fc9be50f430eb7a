"""Replaying a history: leads and their stage changes or activities read from CSV or JSONL.

One row per lead (``stage`` or ``stage_times`` columns, such as the Maven CRM sample's
``deal_stage``, ``engage_date`` and ``close_date``), or one row per event (``events``: a time
and a type column; a type naming a stage is a stage change, any other an activity), from one
file or several joined on a key. :meth:`ReplayAgent.read` reads everything before the run
starts, so a bad row stops the replay before anything is written. The history is played as it
was: what the definition refuses (a guard, a stage the path cannot reach) is counted, not
fixed, and every time the replay had to move (a deal won before its first contact is played
at the contact) is reported in :attr:`ReplayAgent.adjustments`, never moved in silence.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from leadflow.definitions import Problem, ProcessDefinition, format_duration
from leadflow.engine.simulate._adjustments import Adjustments
from leadflow.engine.simulate._batch import Outcome
from leadflow.engine.simulate._columns import check_columns
from leadflow.engine.simulate._loop import Event, Loop, Moved
from leadflow.engine.simulate._refusals import Refusals
from leadflow.engine.simulate._replay_plan import Planner, Step
from leadflow.engine.simulate._spec import ReplaySpec, SpecError, spec_problem

__all__ = ["ReplayAgent", "ReplayDataError"]

SHOWN = 50
"""Bad rows named one by one at most; the rest are counted."""


class ReplayDataError(SpecError):
    """Rows of a replay's data cannot be read; ``problems`` name each row (file:line)."""

    code = "replay-data-invalid"


def _when(value: datetime) -> str:
    return value.isoformat(sep=" ")


class ReplayAgent:
    """Plans the history's events; counts what the definition refused and what it adjusted."""

    def __init__(self, spec: ReplaySpec, definition: ProcessDefinition) -> None:
        self.spec = spec
        self.definition = definition
        self.total = 0
        self.refusals = Refusals()
        self.adjustments = Adjustments()
        self.end: datetime | None = spec.end
        self.start: datetime | None = None
        self._check()
        self.planner = Planner(spec, definition, self.adjustments, self.refusals)
        self.plans: list[list[Step]] | None = None

    def _check(self) -> None:
        spec, d = self.spec, self.definition
        problems: list[Problem] = []
        allowed = ", ".join(d.stages)
        for key, stage in spec.stages.items():
            if stage not in d.stages:
                problems.append(
                    spec_problem(spec, ("stages", key), f"'{stage}' is not a stage ({allowed})")
                )
        for part in ("stage_times", "stage_fields"):
            for stage in getattr(spec, part):
                if stage not in d.stages:
                    problems.append(
                        spec_problem(spec, (part, stage), f"'{stage}' is not a stage ({allowed})")
                    )
        names = [*spec.fields, *(f for m in spec.stage_fields.values() for f in m)]
        for name in names:
            if name not in d.fields:
                message = f"'{name}' is not a field of {d.process} ({', '.join(d.fields)})"
                problems.append(spec_problem(spec, ("fields", name), message))
        if problems:
            raise SpecError(problems)

    def read(self) -> None:
        """Read every file and plan every lead, before anything is written.

        Raises :class:`ReplayDataError` naming every bad row (``bad_rows: error``) and
        :class:`SpecError` when a file cannot be read or holds no dated lead.
        """
        if self.plans is not None:
            return
        check_columns(self.spec)
        plans = self.planner.plans()
        problems = self.planner.problems
        if problems:
            shown = problems[:SHOWN]
            if len(problems) > SHOWN:
                more = f"... and {len(problems) - SHOWN} more bad rows"
                shown.append(Problem(more, problems[0].code, problems[0].file, problems[0].line))
            raise ReplayDataError(shown)
        times = [s.when for plan in plans for s in plan if s.when is not None]
        if not times:
            message = "the files hold no dated lead to replay"
            raise SpecError([spec_problem(self.spec, ("path",), message)])
        self.end = self.end or max(times)
        self.start = min(p[0].when for p in plans if p[0].when is not None)
        for plan in plans:
            self._place(plan, self.end)
        self.plans = [kept for plan in plans if (kept := self._until_end(plan, self.end))]
        if not self.plans:
            message = f"every lead starts after end ({_when(self.end)})"
            raise SpecError([spec_problem(self.spec, ("end",), message)])

    def _place(self, plan: list[Step], end: datetime) -> None:
        """Give every step a time in order; report each one moved."""
        first = plan[0]
        lead_id = first.ops[0].lead_id
        add = self.adjustments.add
        if first.when is None:
            detail = f"no creation time; started at the end of the data, {_when(end)}"
            add("undated-start", first.where, lead_id, first.column, "", detail)
            first.when = end
        at, previous = first.when, first
        for step in plan[1:]:
            if step.when is None:
                if step.column:
                    detail = f"{step.label} has no time; played at {previous.label} ({_when(at)})"
                    add("missing-time", step.where, lead_id, step.column, "", detail)
                step.when = at
            elif step.when < at:
                kind = "before-created" if previous is first else "out-of-order"
                gap = format_duration(at - step.when)
                detail = (
                    f"{step.label} at {_when(step.when)} is {gap} before {previous.label} "
                    f"({previous.column} {_when(at)}); played at {_when(at)}"
                )
                add(kind, step.where, lead_id, step.column, step.raw, detail)
                step.when = at
            at, previous = step.when, step

    def _until_end(self, plan: list[Step], end: datetime) -> list[Step]:
        """The steps at or before ``end``; each later one reported (the replay stops there)."""
        kept = [s for s in plan if s.when is not None and s.when <= end]
        lead_id = plan[0].ops[0].lead_id
        for step in plan[len(kept) :]:
            assert step.when is not None
            what = "the lead is not played" if not kept else "not played"
            at = f"{step.label} at {_when(step.when)}"
            detail = f"{at} is after the replay's end, {_when(end)}: {what}"
            self.adjustments.add("after-end", step.where, lead_id, step.column, step.raw, detail)
            if not kept:
                break
        return kept

    def begin(self, loop: Loop) -> None:
        """Plan every lead's events on the loop (reading the files first if not done)."""
        self.read()
        assert self.plans is not None
        for plan in self.plans:
            for step in plan:
                assert step.when is not None
                for op in step.ops:
                    op.at = step.when
                loop.push(Event(step.when, step.ops[0].lead_id, step.ops))
            self.total += 1

    # -- the loop's callbacks ------------------------------------------------------------------

    def valid(self, event: Event) -> bool:
        return True

    def applied(self, event: Event, outcomes: Sequence[Outcome], loop: Loop) -> None:
        for op, outcome in zip(event.ops, outcomes, strict=True):
            if isinstance(outcome, Exception):
                self.refusals.add(f"{op.kind} {op.name or ''}".strip(), op.lead_id, outcome)

    def moved(self, moved: Moved, loop: Loop) -> None:
        """The history is what happened: an SLA's effect is kept, the next rows play as written."""
