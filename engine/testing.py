"""Helpers for tests and simulations on simulated time.

clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
engine = Engine("sqlite://", clock=clock)
...
clock.advance(timedelta(minutes=5))
"""

from __future__ import annotations

import threading
import weakref
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from leadflow.engine._clock import as_utc

if TYPE_CHECKING:
    from leadflow.engine._engine import Engine

__all__ = ["ManualClock"]

DEFAULT_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""Monday 5 January 2026, 09:00 UTC: the default start of simulated time."""


class ManualClock:
    """A clock that moves only when told to (``advance`` / ``set``).

    Engines built with this clock attach themselves to it: moving time forward fires their SLA
    marks synchronously, each at its own due time and in due order, as a worker would have.
    """

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self._now = as_utc(start)
        self._lock = threading.Lock()
        self._engines: weakref.WeakSet[Engine] = weakref.WeakSet()

    def attach(self, engine: Engine) -> None:
        """Run ``engine``'s due timers whenever this clock moves (engines call this)."""
        self._engines.add(engine)

    def _run_until(self, target: datetime) -> None:
        """Step through every due timer up to ``target``, setting the time to each due time."""
        while True:
            engines = list(self._engines)
            due = [
                (d, e)
                for e in engines
                for d in (e.next_due(), e.next_schedule())
                if d is not None and d <= target
            ]
            if not due:
                break
            when = max(min(d for d, _ in due), self._now)
            with self._lock:
                self._now = when
            for engine in {id(e): e for _, e in due}.values():
                engine.run_schedules(when)
                engine.run_due(when)
        with self._lock:
            self._now = max(self._now, target)

    def now(self) -> datetime:
        """The simulated current time."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward by ``delta`` (never backwards) and return the new time."""
        if delta < timedelta(0):
            raise ValueError(f"time only moves forward; got {delta}")
        self._run_until(self._now + delta)
        return self._now

    def set(self, when: datetime) -> datetime:
        """Jump to ``when``, which must not be earlier than the current time."""
        when = as_utc(when)
        if when < self._now:
            raise ValueError(f"time only moves forward; {when} is before {self._now}")
        self._run_until(when)
        return self._now
