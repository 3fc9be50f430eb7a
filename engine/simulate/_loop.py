"""The simulation's clock: planned events and due SLA marks, played in time order.

Events (an arrival, a call and the trigger it leads to) wait in a heap. Each round either
fires the SLA marks that fall due before the next event (``engine.run_due``, in windows of
``window`` so that a burst of marks is one sweep) or applies the events due before the next
mark in one transaction (:func:`apply_ops`). Every lead's changes are applied in time order:
a batch holds one instant per lead, timers a batch creates are due no earlier than the change
that created them, and what an agent does in reaction to a mark (a reassigned lead's new
owner calls it) is never scheduled before the end of the window that fired the mark.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from leadflow.engine.simulate._batch import Op, Outcome, apply_ops

if TYPE_CHECKING:
    from leadflow.engine._engine import Engine

__all__ = ["Agent", "Event", "Loop", "LoopStats", "Moved"]

BATCH = 1000
"""Events per transaction at most."""

Progress = Callable[[int, int], None]
"""Called with (leads started, leads in total) as the run goes on."""


@dataclass(slots=True)
class Event:
    """Changes of one lead at one instant; ``token`` lets the agent drop stale plans."""

    at: datetime
    lead_id: str
    ops: list[Op]
    token: int = 0
    tag: Any = None


@dataclass(frozen=True, slots=True)
class Moved:
    """A lead as an SLA mark left it."""

    lead_id: str
    stage: str
    owner: str | None
    closed: str | None
    at: datetime


class Agent(Protocol):
    """Whoever plans the events: a replayed history or simulated reps."""

    total: int
    """Leads in the run (for progress)."""

    def valid(self, event: Event) -> bool:
        """Whether the event still applies (the lead has not moved on meanwhile)."""

    def applied(self, event: Event, outcomes: Sequence[Outcome], loop: Loop) -> None:
        """The event's ops were applied with these outcomes (one per op)."""

    def moved(self, lead: Moved, loop: Loop) -> None:
        """An SLA mark or a batch release changed the lead (stage, owner); react no earlier
        than ``lead.at``."""


@dataclass(slots=True)
class LoopStats:
    """What a run did."""

    batches: int = 0
    sweeps: int = 0
    ops: int = 0
    failed: int = 0
    marks: int = 0
    schedules: int = 0
    """Schedule occurrences run (batch releases, digests)."""
    started: int = 0
    last: datetime | None = None


@dataclass(slots=True)
class Loop:
    """Plays an agent's events and the engine's SLA marks in time order until ``end``."""

    engine: Engine
    process: str
    agent: Agent
    end: datetime
    window: timedelta
    progress: Progress | None = None
    """Told (simulated hours done, simulated hours in the run) after each round of work."""
    begin: datetime | None = None
    """The run's start (for progress; default: the first event's time)."""
    stats: LoopStats = field(default_factory=LoopStats)
    _heap: list[tuple[float, int, Event]] = field(default_factory=list)
    _seq: int = 0
    _sla_seen: int = 0
    _floor: datetime | None = None
    _ran_until: datetime | None = None
    _reported: int = 0

    def push(self, event: Event) -> None:
        """Plan ``event`` (moved to the end of the current sweep window if earlier)."""
        if self._floor is not None and event.at < self._floor:
            event.at = self._floor
        self._seq += 1
        heapq.heappush(self._heap, (event.at.timestamp(), self._seq, event))

    def run(self) -> LoopStats:
        """Run to the end: the last event or mark at or before ``end``."""
        end_ts = self.end.timestamp()
        while True:
            due = self.engine.next_due()
            top = self._heap[0][2].at if self._heap else None
            if top is not None and top.timestamp() > end_ts:
                self._heap.clear()
                top = None
            release = self.engine.next_schedule()
            if (
                release is not None
                and (self._ran_until is None or release > self._ran_until)
                and release <= self.end
                and (top is None or release <= top)
                and (due is None or release <= due)
            ):
                self._schedules(release)
                self._report()
                continue
            if due is not None and due <= self.end and (top is None or due <= top):
                until = min(due + self.window, self.end, top or self.end)
                self._sweep(until)
                self._report()
                continue
            if top is None:
                break
            self._batch(due)
            self._report()
        if self.progress is not None:
            total = self._hours(self.end)
            self.progress(total, total)
        return self.stats

    def _hours(self, at: datetime) -> int:
        """Whole simulated hours from the run's start to ``at`` (at least 1 for the end)."""
        begin = self.begin or at
        return max(1, int((min(at, self.end) - begin).total_seconds() // 3600))

    def _report(self) -> None:
        """Tell ``progress`` how far simulated time has got (never backwards, never done early)."""
        if self.progress is None or self.stats.last is None:
            return
        if self.begin is None:
            self.begin = self.stats.last
        total = self._hours(self.end)
        done = min(self._hours(self.stats.last), total - 1) if total > 1 else 0
        self._reported = max(self._reported, done)
        self.progress(self._reported, total)

    # -- one round -----------------------------------------------------------------------------

    def _batch(self, due: datetime | None) -> None:
        bound = due.timestamp() if due is not None else None
        last = self.end.timestamp()
        events: list[Event] = []
        when: dict[str, float] = {}
        while self._heap and len(events) < BATCH:
            ts, _, event = self._heap[0]
            if (bound is not None and ts >= bound) or ts > last:
                break
            if when.get(event.lead_id, ts) != ts:
                break  # a later change of a lead already in the batch: next round
            heapq.heappop(self._heap)
            if not self.agent.valid(event):
                continue
            when[event.lead_id] = ts
            events.append(event)
        if not events:
            return
        ops = [op for e in events for op in e.ops]
        outcomes = apply_ops(self.engine, self.process, ops)
        stats = self.stats
        stats.batches += 1
        stats.ops += len(ops)
        stats.failed += sum(1 for o in outcomes if isinstance(o, Exception))
        stats.started += sum(1 for op in ops if op.kind == "start")
        stats.last = max(stats.last or events[-1].at, events[-1].at)
        k = 0
        for event in events:
            n = len(event.ops)
            self.agent.applied(event, outcomes[k : k + n], self)
            k += n

    def _schedules(self, at: datetime) -> None:
        """Run the definition's schedules due at ``at`` (batch releases, digests) as a worker
        would; the agent hears of the leads a release assigned."""
        self.stats.schedules += self.engine.run_schedules(at)
        self._ran_until = at  # never the same occurrence twice, whatever ran
        self._tell_agent(at)

    def _sweep(self, until: datetime) -> None:
        fired = self.engine.run_due(until)
        self.stats.sweeps += 1
        self.stats.marks += fired
        if fired:
            self._tell_agent(until)
        else:
            self.stats.last = max(self.stats.last or until, until)

    def _tell_agent(self, at: datetime) -> None:
        """Hand the leads SLA marks or releases changed to the agent; what it plans in reply
        happens no earlier than ``at``."""
        self.stats.last = max(self.stats.last or at, at)
        self._floor = at
        try:
            for lead in self._moved():
                self.agent.moved(lead, self)
        finally:
            self._floor = None

    def _moved(self) -> list[Moved]:
        """Leads that SLA marks or schedules changed since the last look (current state)."""
        store = self.engine.store
        p = store.param
        with store.transaction("simulate: read what SLA marks did") as tx:
            tx.cur.execute(
                "SELECT i.lead_id, i.stage, i.owner, i.closed, i.updated_at, h.id "
                "FROM lf_history h JOIN lf_instances i ON i.id = h.instance_id "
                f"WHERE h.id > {p} AND (h.actor LIKE 'sla:%' OR h.actor LIKE 'schedule:%') "
                "ORDER BY h.id",
                (self._sla_seen,),
            )
            rows = tx.cur.fetchall()
        if rows:
            self._sla_seen = max(r[5] for r in rows)
        latest = {r[0]: r for r in rows}
        return [
            Moved(r[0], r[1], r[2], r[3], store.decode_time(r[4]))
            for r in sorted(latest.values(), key=lambda r: r[5])
        ]
