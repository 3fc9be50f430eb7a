"""Helpers for tests and simulations on simulated time.

clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
engine = Engine("sqlite://", clock=clock)
...
clock.advance(timedelta(minutes=5))
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from ._clock import as_utc

__all__ = ["ManualClock"]

DEFAULT_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""Monday 5 January 2026, 09:00 UTC: the default start of simulated time."""


class ManualClock:
    """A clock that moves only when told to (``advance`` / ``set``)."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self._now = as_utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The simulated current time."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward by ``delta`` (never backwards) and return the new time."""
        if delta < timedelta(0):
            raise ValueError(f"time only moves forward; got {delta}")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> datetime:
        """Jump to ``when``, which must not be earlier than the current time."""
        when = as_utc(when)
        with self._lock:
            if when < self._now:
                raise ValueError(f"time only moves forward; {when} is before {self._now}")
            self._now = when
            return self._now
