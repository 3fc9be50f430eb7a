"""Reading a replay's rows into each lead's planned steps (start, stage changes, activities).

One row per lead (``stage`` or ``stage_times`` columns) or one row per event (``events``). A
lead reaches a stage along the definition's shortest path of transitions from where it is.
Times are not fixed here: each :class:`Step` keeps the time its column holds (or None) and
where it came from, and :mod:`._replay` places them in order, reporting every one it moves. A
row that cannot be read (:class:`~._cells.BadCell`) is either a problem (``bad_rows: error``)
or left out and reported (``bad_rows: skip``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadflow.definitions import Problem, ProcessDefinition
from leadflow.engine.simulate._adjustments import Adjustments
from leadflow.engine.simulate._batch import Op
from leadflow.engine.simulate._cells import BadCell, Cells
from leadflow.engine.simulate._join import Row, joined_rows
from leadflow.engine.simulate._refusals import Refusals
from leadflow.engine.simulate._spec import ReplaySpec

__all__ = ["ACTOR", "Planner", "Step"]

ACTOR = "replay"
BAD_ROW = "replay-row-invalid"


@dataclass(slots=True)
class Step:
    """Changes of one lead at one time of the data."""

    when: datetime | None
    ops: list[Op]
    label: str
    """What happened (``created``, the stage entered, ``call``) for reports."""
    column: str
    """The column the time came from (empty: no column names this step's time)."""
    where: str
    """``file:row`` of the value."""
    raw: Any = None


def _paths(definition: ProcessDefinition) -> dict[str, dict[str, list[str]]]:
    """For each stage, the shortest trigger path to every stage it can reach."""
    edges: dict[str, list[tuple[str, str]]] = {s: [] for s in definition.stages}
    for t in definition.transitions:
        sources = (
            [s for s, st in definition.stages.items() if not st.closed]
            if "*" in t.source
            else list(t.source)
        )
        for s in sources:
            if s != t.to:
                edges[s].append((t.name, t.to))
    out: dict[str, dict[str, list[str]]] = {}
    for start in definition.stages:
        found: dict[str, list[str]] = {start: []}
        queue = deque([start])
        while queue:
            here = queue.popleft()
            for trigger, there in edges[here]:
                if there not in found:
                    found[there] = [*found[here], trigger]
                    queue.append(there)
        out[start] = found
    return out


def _insert(plan: list[Step], step: Step) -> None:
    """Put ``step`` after the start and the steps before its time (before those at its time)."""
    assert step.when is not None
    at, position = plan[0].when, 1
    for k, other in enumerate(plan[1:], 1):
        at = other.when or at
        if at is not None and at < step.when:
            position = k + 1
    plan.insert(position, step)


class Planner:
    """Turns the rows of the spec's files into one list of steps per lead."""

    def __init__(
        self,
        spec: ReplaySpec,
        definition: ProcessDefinition,
        adjustments: Adjustments,
        refusals: Refusals,
    ) -> None:
        self.spec = spec
        self.definition = definition
        self.cells = Cells(spec, definition)
        self.adjustments = adjustments
        self.refusals = refusals
        self.problems: list[Problem] = []
        self.initial = next(s for s, st in definition.stages.items() if st.initial)
        self.paths = _paths(definition)

    def plans(self) -> list[list[Step]]:
        """Every lead's steps; bad rows end up in :attr:`problems` or the adjustments."""
        return self._wide() if self.spec.events is None else self._long()

    def _bad(self, row: Row, lead_id: str, cell: BadCell) -> None:
        if self.spec.bad_rows == "skip":
            detail = f"{cell}; the row is left out"
            self.adjustments.add(
                cell.kind, row.at(cell.column), lead_id, cell.column, cell.value, detail
            )
            return
        path, line = row.origin(cell.column)
        self.problems.append(Problem(f"{cell} (lead {lead_id or '?'})", BAD_ROW, str(path), line))

    def _lead_id(self, row: Row) -> str:
        column = self.spec.lead_id
        value = row.get(column)
        lead_id = "" if value is None else str(value).strip()
        if not lead_id:
            raise BadCell("no-lead-id", column, "", f"column {column}: no lead id")
        return lead_id

    def _owner(self, row: Row) -> str | None:
        column = self.spec.owner
        return (str(row.get(column) or "").strip() or None) if column else None

    def _start(self, lead_id: str, row: Row) -> Op:
        data = self.cells.fields(self.spec.fields, row)
        return Op("start", lead_id, datetime.min, data=data, owner=self._owner(row), actor=ACTOR)

    def _moves(
        self, lead_id: str, here: str, there: str, step: Step, row: Row, actor: str | None
    ) -> list[Step]:
        path = self.paths[here].get(there)
        if path is None:
            self.refusals.add(
                f"no path {here} -> {there}",
                lead_id,
                f"the definition has no transitions from '{here}' to '{there}'",
            )
            return []
        data = self.cells.fields(self.spec.stage_fields.get(there, {}), row)
        step.ops = [Op("fire", lead_id, datetime.min, t, None, actor=actor) for t in path]
        if step.ops:
            step.ops[-1].data = data
        return [step] if step.ops else []

    # -- one row per lead ----------------------------------------------------------------------

    def _wide(self) -> list[list[Step]]:
        plans = []
        seen: dict[str, str] = {}
        for row in joined_rows(self.spec, self.adjustments):
            lead_id = ""
            try:
                lead_id = self._lead_id(row)
                if lead_id in seen:
                    detail = f"lead {lead_id} is also on {seen[lead_id]}; that first row is played"
                    column = self.spec.lead_id
                    self.adjustments.add(
                        "duplicate-lead", row.at(), lead_id, column, lead_id, detail
                    )
                    continue
                plan = self._wide_plan(row, lead_id)
            except BadCell as cell:
                self._bad(row, lead_id, cell)
                continue
            seen[lead_id] = row.at()
            if plan is not None:
                plans.append(plan)
        return plans

    def _created(self, row: Row, lead_id: str) -> Step | None:
        spec = self.spec
        for column in spec.created:
            when = self.cells.time(row, column)
            if when is not None:
                return Step(when, [], "created", column, row.at(column), row.get(column))
        columns = ", ".join(spec.created)
        if spec.undated == "error":
            message = (
                f"column {columns}: no creation time (undated: end starts such leads at the end "
                "of the data, undated: skip leaves them out)"
            )
            raise BadCell("undated-skipped", spec.created[0], "", message)
        if spec.undated == "skip":
            detail = f"no creation time in {columns}; the row is left out"
            where = row.at(spec.created[0])
            self.adjustments.add("undated-skipped", where, lead_id, columns, "", detail)
            return None
        return Step(None, [], "created", columns, row.at(spec.created[0]))

    def _wide_plan(self, row: Row, lead_id: str) -> list[Step] | None:
        spec = self.spec
        start = self._created(row, lead_id)
        times = {stage: self.cells.time(row, column) for stage, column in spec.stage_times.items()}
        if spec.stage is not None:
            final = self.cells.stage(row, spec.stage)
        else:  # the last stage the row has a time for
            dated = [(t, k, s) for k, (s, t) in enumerate(times.items()) if t is not None]
            final = max(dated)[2] if dated else self.initial
        if start is None:
            return None
        start.ops = [self._start(lead_id, row)]
        owner = self._owner(row)
        plan = [start]
        stops = sorted(
            (t, k, s)
            for k, (s, t) in enumerate(times.items())
            if t is not None and s != final and not self.definition.stages[s].closed
        )
        here = self.initial
        for when, _, stage in [*stops, (times.get(final), 0, final)]:
            if stage == here:
                continue
            column = spec.stage_times.get(stage, "")
            step = Step(when, [], stage, column, row.at(column or None), row.get(column))
            plan.extend(self._moves(lead_id, here, stage, step, row, owner))
            here = stage
        for activity, column in spec.activity_times.items():
            when = self.cells.time(row, column)
            if when is not None:
                op = Op("record", lead_id, datetime.min, activity, {}, actor=owner)
                _insert(plan, Step(when, [op], activity, column, row.at(column), row.get(column)))
        return plan

    # -- one row per event ---------------------------------------------------------------------

    def _long(self) -> list[list[Step]]:
        assert self.spec.events is not None
        column = self.spec.events.time
        rows: dict[str, list[tuple[datetime, int, Row]]] = {}
        for n, row in enumerate(joined_rows(self.spec, self.adjustments)):
            lead_id = ""
            try:
                lead_id = self._lead_id(row)
                at = self.cells.time(row, column)
                if at is None:
                    raise BadCell("bad-time", column, "", f"column {column}: no time")
            except BadCell as cell:
                self._bad(row, lead_id, cell)
                continue
            rows.setdefault(lead_id, []).append((at, n, row))
        plans = []
        for lead_id, events in rows.items():
            events.sort(key=lambda e: (e[0], e[1]))
            try:
                plans.append(self._long_plan(lead_id, events))
            except BadCell as cell:
                self._bad(events[0][2], lead_id, cell)
        return plans

    def _long_plan(self, lead_id: str, events: list[tuple[datetime, int, Row]]) -> list[Step]:
        spec = self.spec
        assert spec.events is not None
        time, kind_column = spec.events.time, spec.events.type
        at, _, first = events[0]
        plan = [Step(at, [self._start(lead_id, first)], "created", time, first.at(time))]
        here = self.initial
        for at, _, row in events:
            kind = str(row.get(kind_column) or "")
            actor = self._owner(row)
            stage = spec.stages.get(kind, kind if kind in self.definition.stages else None)
            step = Step(at, [], kind, time, row.at(time), row.get(time))
            if stage is None:
                activity = spec.activities.get(kind, kind)
                step.ops = [Op("record", lead_id, at, activity, {}, actor=actor)]
                plan.append(step)
            elif stage != here:
                plan.extend(self._moves(lead_id, here, stage, step, row, actor))
                here = stage
        return plan
