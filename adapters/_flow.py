"""Flow control of the dispatcher: per-adapter rate limits and wake-ups of an idle ``run``.

**Rate limits.** ``rate_limit = 10`` in an ``[adapters.NAME]`` table caps that adapter at ten
deliveries a second from this dispatcher (a token bucket holding at most one second's worth,
so a quiet adapter may send a burst of ``rate_limit`` at once). The dispatcher claims no more
of its deliveries than the bucket allows, so nothing waits leased in memory for its turn: the
in-memory queue stays bounded by ``batch_size``, and the rest waits in the database, where
other dispatchers (each with its own bucket) may take it.

**Wake-ups.** On PostgreSQL an idle ``Dispatcher.run`` (``leadflow outbox run``) LISTENs for the
notification every commit with new outbox rows sends, so it starts delivering at once instead
of at its next poll; the poll stays as the fallback.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from leadflow.adapters.base import AdapterConfigError

if TYPE_CHECKING:
    from leadflow.engine import Engine

__all__ = ["RateLimit", "listening", "rate_limit_of", "rate_limits"]


class RateLimit:
    """A token bucket: ``rate`` deliveries a second, at most ``rate`` (and at least one) saved
    up; time is the dispatcher's clock."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.at: datetime | None = None

    def _refill(self, now: datetime) -> None:
        if self.at is not None and now > self.at:
            gained = (now - self.at).total_seconds() * self.rate
            self.tokens = min(self.capacity, self.tokens + gained)
        if self.at is None or now > self.at:
            self.at = now

    def allowance(self, now: datetime) -> int:
        """How many deliveries may start now."""
        self._refill(now)
        return int(self.tokens)

    def take(self, count: int, now: datetime) -> None:
        """``count`` deliveries started."""
        self._refill(now)
        self.tokens -= count

    def next_token(self, now: datetime) -> datetime:
        """When the next delivery may start (``now`` when one may already)."""
        self._refill(now)
        if self.tokens >= 1:
            return now
        return now + timedelta(seconds=(1 - self.tokens) / self.rate)


def rate_limit_of(name: str, value: object, source: str) -> RateLimit:
    """The ``rate_limit`` of adapter ``name``: a positive number of deliveries a second."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1e6:
        raise AdapterConfigError(
            f"{source}: [adapters.{name}] rate_limit must be a number of deliveries per second "
            f"above 0 (at most 1000000); got {value!r}"
        )
    return RateLimit(float(value))


def rate_limits(limits: Mapping[str, object], source: str) -> dict[str, RateLimit]:
    """Buckets for the ``rate_limit`` of each adapter that has one."""
    return {name: rate_limit_of(name, value, source) for name, value in limits.items()}


@contextmanager
def listening(engine: Engine, nudge: threading.Event) -> Iterator[bool]:
    """Set ``nudge`` whenever a commit announces new work (PostgreSQL); yields whether it
    listens (False on SQLite)."""
    from leadflow.engine.worker import Wakeups  # APScheduler's package: only when running

    stopping = threading.Event()
    wakeups = Wakeups(engine.store, nudge.set, stopping)
    started = wakeups.start()
    try:
        yield started
    finally:
        stopping.set()
        wakeups.join()
