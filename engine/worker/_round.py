"""One round of the worker: due timers in batches, due schedules, one turn of every pump.

A round sweeps batches of due timers (one transaction each: a timer is deleted in the transaction
that writes its effects) until none is left, the worker is stopping, or the round's time budget
is spent (then the next round starts at once, after the schedules and pumps had their turn). It
then says when the next round is worth running: at once when work is left, else at the earliest
of the next due timer, the next schedule occurrence and the pumps' next work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from leadflow.engine.telemetry import sweep_span

if TYPE_CHECKING:
    from leadflow.engine._engine import Engine

__all__ = ["Pump", "Round", "RoundResult", "sweep_batch"]

log = logging.getLogger("leadflow.worker")


class Pump(Protocol):
    """Other periodic work the worker drives, such as the outbox dispatcher.

    ``dispatch_once`` does one bounded unit of work and returns how much it did (0: nothing was
    due); ``next_due`` says when there is work next (``now`` or earlier: at once; None: none
    known). Both get the worker's current time, from the engine's clock.
    """

    def dispatch_once(self, now: datetime | None = None) -> int:
        """Do one batch of due work; how many items it handled."""
        ...

    def next_due(self, now: datetime | None = None) -> datetime | None:
        """When the next work is due, or None."""
        ...


def sweep_batch(engine: Engine, now: datetime, limit: int) -> tuple[int, bool]:
    """Fire at most ``limit`` timers due at ``now`` in one transaction: (how many it processed,
    whether more may be due). A batch that loses a race is redone timer by timer and a timer
    that keeps failing is postponed, as :meth:`Engine.run_due` does."""
    with sweep_span():  # a span per batch when tracing (telemetry.py)
        return engine.sweep.sweep_once(now, limit)


@dataclass(frozen=True, slots=True)
class RoundResult:
    """What one round did and when the next one is due."""

    timers: int
    """Timers processed (fired, or found stale and dropped)."""
    schedules: int
    """Schedule occurrences run."""
    deliveries: int
    """Work items the pumps reported."""
    delay: float
    """Seconds until the next round (0: at once)."""
    next_work: datetime | None
    """The earliest known due work after this round, engine time (None: none known)."""


class Round:
    """Runs rounds for one worker (not thread-safe: the worker runs one round at a time)."""

    def __init__(
        self,
        engine: Engine,
        pumps: Sequence[Pump],
        *,
        batch: int,
        budget: float,
        poll: float | None,
        recheck: float,
        stopping: threading.Event,
    ) -> None:
        self.engine = engine
        self.pumps = list(pumps)
        self.batch = batch
        self.budget = budget
        self.poll = poll
        self.recheck = recheck
        self.stopping = stopping

    def run(self) -> RoundResult:
        """One round; the stop flag is honoured between batches (never inside one)."""
        engine = self.engine
        started = time.monotonic()
        timers = schedules = deliveries = 0
        more = False
        while not self.stopping.is_set():
            now = engine.clock.now()
            t0 = time.monotonic()
            done, left = sweep_batch(engine, now, self.batch)
            timers += done
            if done:
                log.debug("swept %d timers in %.3f s", done, time.monotonic() - t0)
            if not left:
                break
            if time.monotonic() - started > self.budget:
                more = True
                break
        now = engine.clock.now()
        if not self.stopping.is_set():
            upcoming = engine.next_schedule()
            if upcoming is not None and upcoming <= now:
                schedules = engine.run_schedules(now)
                if schedules:
                    log.debug("ran %d schedule occurrences", schedules)
        for pump in self.pumps:
            if self.stopping.is_set():
                break
            handled = pump.dispatch_once(engine.clock.now())
            deliveries += handled
            more = more or handled > 0
        return self._next(timers, schedules, deliveries, more)

    def _next(self, timers: int, schedules: int, deliveries: int, more: bool) -> RoundResult:
        engine = self.engine
        now = engine.clock.now()
        times = [engine.next_due(), engine.next_schedule()]
        times.extend(pump.next_due(now) for pump in self.pumps)
        known = [t for t in times if t is not None]
        first = min(known) if known else None
        if more:
            delay = 0.0
        else:
            delay = self.recheck if first is None else (first - now).total_seconds()
            if self.poll is not None:
                delay = min(delay, self.poll)
            delay = min(delay, self.recheck)
            if delay <= 0 and not (timers or schedules or deliveries):
                # due, yet nothing was claimable: another worker holds it; look again shortly
                delay = min(0.05, self.poll or 0.05)
        return RoundResult(timers, schedules, deliveries, max(delay, 0.0), first)
