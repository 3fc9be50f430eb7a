"""Replaying a history: leads and their stage changes or activities read from CSV or JSONL.

One row per lead (``stage`` plus ``stage_times`` columns, such as the Maven CRM sample's
``deal_stage``, ``engage_date`` and ``close_date``) or one row per event (``events``: a time
and a type column; a type naming a stage is a stage change, any other an activity). A lead
reaches its stage along the definition's shortest path of transitions from the initial stage,
each step at the time of the stage it enters (or the step before). The history is played as it
was; what the definition refuses (a guard, a stage the path cannot reach) is counted, not fixed.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from leadflow.definitions import Problem, ProcessDefinition
from leadflow.engine._lead_files import field_value, read_records
from leadflow.engine.simulate._batch import Op, Outcome
from leadflow.engine.simulate._loop import Event, Loop, Moved
from leadflow.engine.simulate._refusals import Refusals
from leadflow.engine.simulate._spec import ReplaySpec, SpecError, spec_problem

__all__ = ["ReplayAgent", "read_rows"]

ACTOR = "replay"


def read_rows(spec: ReplaySpec) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(line number, row) of the spec's file; :class:`SpecError` if it cannot be read."""
    try:
        yield from read_records(spec.path, spec.format)
    except (OSError, ValueError, csv.Error) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SpecError(
            [spec_problem(spec, ("path",), f"cannot read {spec.path}: {detail}")]
        ) from exc


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


class ReplayAgent:
    """Plans the history's events; counts what the definition refused."""

    def __init__(self, spec: ReplaySpec, definition: ProcessDefinition) -> None:
        self.spec = spec
        self.definition = definition
        self.total = 0
        self.refusals = Refusals()
        self.end: datetime | None = spec.end
        self.start: datetime | None = None
        try:
            self.zone = ZoneInfo(spec.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SpecError([spec_problem(spec, ("timezone",), "unknown time zone")]) from exc
        self.initial = next(s for s, st in definition.stages.items() if st.initial)
        self.paths = _paths(definition)
        self._check()

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

    # -- reading -------------------------------------------------------------------------------

    def _time(self, text: Any, line: int, column: str) -> datetime | None:
        if text is None or text == "":
            return None
        try:
            if isinstance(text, str) and len(text) == 10:
                value = datetime.combine(date.fromisoformat(text), time(), self.zone)
            else:
                value = datetime.fromisoformat(str(text))
        except ValueError as exc:
            message = f"line {line}: column {column}: {text!r} is not a date or ISO time"
            raise SpecError([spec_problem(self.spec, ("path",), message)]) from exc
        return value if value.tzinfo else value.replace(tzinfo=self.zone)

    def _value(self, name: str, raw: Any, line: int) -> Any:
        try:
            return field_value(self.definition, name, raw)
        except ValueError as exc:
            message = f"line {line}: {exc}"
            raise SpecError([spec_problem(self.spec, ("fields", name), message)]) from exc

    def _fields(
        self, columns: Mapping[str, str], row: Mapping[str, Any], line: int
    ) -> dict[str, Any]:
        values = {f: self._value(f, row.get(c), line) for f, c in columns.items()}
        return {k: v for k, v in values.items() if v is not None}

    def _stage(self, raw: Any, line: int, where: str) -> str:
        stage = self.spec.stages.get(
            str(raw), str(raw) if str(raw) in self.definition.stages else None
        )
        if stage is None:
            known = ", ".join(self.spec.stages) or ", ".join(self.definition.stages)
            message = f"line {line}: {where} {raw!r} is not a known stage ({known})"
            raise SpecError([spec_problem(self.spec, ("stages",), message)])
        return stage

    def _closed(self, stage: str) -> bool:
        return self.definition.stages[stage].closed is not None

    # -- planning ------------------------------------------------------------------------------

    def begin(self, loop: Loop) -> None:
        """Read the file and plan every lead's events."""
        leads = self._wide() if self.spec.events is None else self._long()
        last = max((t for plan in leads for t, _ in plan if t is not None), default=None)
        if self.end is None:
            self.end = last
        for plan in leads:
            if plan[0][0] is None:  # undated: starts where the data ends
                plan[0] = (self.end, plan[0][1])
            at = plan[0][0]
            assert at is not None
            for when, ops in plan:
                at = max(at, when or at)
                for op in ops:
                    op.at = at
                loop.push(Event(at, ops[0].lead_id, ops))
            self.total += 1
        if leads:
            self.start = min(p[0][0] for p in leads if p[0][0] is not None)

    def _start(self, lead_id: str, at: datetime | None, row: Mapping[str, Any], line: int) -> Op:
        data = self._fields(self.spec.fields, row, line)
        owner = str(row.get(self.spec.owner) or "") or None if self.spec.owner else None
        return Op("start", lead_id, at or datetime.min, data=data, owner=owner, actor=ACTOR)

    def _moves(
        self,
        lead_id: str,
        here: str,
        there: str,
        when: datetime | None,
        row: Mapping[str, Any],
        line: int,
        actor: str | None,
    ) -> list[tuple[datetime | None, list[Op]]]:
        path = self.paths[here].get(there)
        if path is None:
            self.refusals.add(
                f"no path {here} -> {there}",
                lead_id,
                f"the definition has no transitions from '{here}' to '{there}'",
            )
            return []
        data = self._fields(self.spec.stage_fields.get(there, {}), row, line)
        ops = [Op("fire", lead_id, when or datetime.min, t, None, actor=actor) for t in path]
        if ops:
            ops[-1].data = data
        return [(when, ops)] if ops else []

    def _wide(self) -> list[list[tuple[datetime | None, list[Op]]]]:
        spec = self.spec
        assert spec.stage is not None
        leads = []
        for line, row in read_rows(spec):
            lead_id = str(row.get(spec.lead_id) or "")
            if not lead_id:
                raise SpecError(
                    [
                        spec_problem(
                            spec, ("lead_id",), f"line {line}: no lead id in column {spec.lead_id}"
                        )
                    ]
                )
            created = next(
                (t for c in spec.created if (t := self._time(row.get(c), line, c)) is not None),
                None,
            )
            if created is None and spec.undated == "skip":
                continue
            if created is None and spec.undated == "error":
                message = f"line {line}: lead {lead_id} has no time in {', '.join(spec.created)}"
                raise SpecError([spec_problem(spec, ("created",), message)])
            final = self._stage(row.get(spec.stage), line, spec.stage)
            owner = str(row.get(spec.owner) or "") or None if spec.owner else None
            plan: list[tuple[datetime | None, list[Op]]] = [
                (created, [self._start(lead_id, created, row, line)])
            ]
            stops = []
            for k, (stage, column) in enumerate(spec.stage_times.items()):
                when = self._time(row.get(column), line, column)
                if when is not None and stage != final and not self._closed(stage):
                    stops.append((when, k, stage))
            here = self.initial
            previous = created
            for when, _, stage in [*sorted(stops), (None, 0, final)]:
                if stage == here:
                    continue
                entered = spec.stage_times.get(stage)
                if when is None and entered:
                    when = self._time(row.get(entered), line, entered)
                when = when or previous
                plan.extend(self._moves(lead_id, here, stage, when, row, line, owner))
                here, previous = stage, when
            leads.append(plan)
        return leads

    def _long(self) -> list[list[tuple[datetime | None, list[Op]]]]:
        spec = self.spec
        assert spec.events is not None
        columns = spec.events
        rows: dict[str, list[tuple[datetime, int, Mapping[str, Any]]]] = {}
        for line, row in read_rows(spec):
            lead_id = str(row.get(spec.lead_id) or "")
            at = self._time(row.get(columns.time), line, columns.time)
            if not lead_id or at is None:
                message = f"line {line}: every event needs {spec.lead_id} and {columns.time}"
                raise SpecError([spec_problem(spec, ("events",), message)])
            rows.setdefault(lead_id, []).append((at, line, row))
        leads = []
        for lead_id, events in rows.items():
            events.sort(key=lambda e: (e[0], e[1]))
            at, line, first = events[0]
            plan: list[tuple[datetime | None, list[Op]]] = [
                (at, [self._start(lead_id, at, first, line)])
            ]
            here = self.initial
            for at, line, row in events:
                kind = str(row.get(columns.type) or "")
                actor = str(row.get(spec.owner) or "") or None if spec.owner else None
                stage = spec.stages.get(kind, kind if kind in self.definition.stages else None)
                if stage is None:
                    activity = spec.activities.get(kind, kind)
                    plan.append((at, [Op("record", lead_id, at, activity, {}, actor=actor)]))
                elif stage != here:
                    plan.extend(self._moves(lead_id, here, stage, at, row, line, actor))
                    here = stage
            leads.append(plan)
        return leads

    # -- the loop's callbacks ------------------------------------------------------------------

    def valid(self, event: Event) -> bool:
        return True

    def applied(self, event: Event, outcomes: Sequence[Outcome], loop: Loop) -> None:
        for op, outcome in zip(event.ops, outcomes, strict=True):
            if isinstance(outcome, Exception):
                self.refusals.add(f"{op.kind} {op.name or ''}".strip(), op.lead_id, outcome)

    def moved(self, moved: Moved, loop: Loop) -> None:
        """The history is what happened: an SLA's effect is kept, the next rows play as written."""
