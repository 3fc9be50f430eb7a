"""Wake-ups instead of polls on PostgreSQL: an idle worker LISTENs on the channel every commit
with new work NOTIFYs (``Tx.write_log``: new outbox rows, new or moved SLA timers), so it looks
at once instead of at its next poll. The poll stays as the fallback (a notification is lost
while the listening connection is down; the listener reconnects after a second)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from leadflow.engine.store import WAKEUP_CHANNEL, Store

__all__ = ["Wakeups"]

log = logging.getLogger("leadflow.worker")

STOP_CHECK = 0.2
"""Seconds between looks at the stop flag while no notification comes: a stopping worker's
listener ends within this (the wait is on the socket, no query)."""


class Wakeups:
    """A thread that calls ``wake`` for every notification on :data:`WAKEUP_CHANNEL` (no-op on
    SQLite, where one process does everything)."""

    def __init__(self, store: Store, wake: Callable[[], None], stopping: threading.Event) -> None:
        self.store = store
        self.wake = wake
        self.stopping = stopping
        self._thread: threading.Thread | None = None
        self.heard = 0
        """Notifications received (for tests and metrics)."""

    def start(self) -> bool:
        """Start listening; False where the database cannot notify (SQLite)."""
        if self.store.dialect != "postgresql":
            return False
        self._thread = threading.Thread(target=self._run, name="leadflow-wakeups", daemon=True)
        self._thread.start()
        return True

    def join(self, timeout: float = 5.0) -> None:
        """Wait for the thread to notice the stop flag."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._listen()
            except Exception as exc:  # the database went away: poll meanwhile, retry soon
                log.warning("worker wake-ups: %s; polling until reconnected", exc)
                self.stopping.wait(1.0)

    def _listen(self) -> None:
        raw = self.store.sa.raw_connection()
        conn: Any = raw.driver_connection
        raw.detach()  # ours for good: never back to the pool in LISTEN state
        try:
            conn.autocommit = True
            conn.execute(f"LISTEN {WAKEUP_CHANNEL}")
            self.wake()  # work committed while we were not listening
            while not self.stopping.is_set():
                for _ in conn.notifies(timeout=STOP_CHECK):
                    self.heard += 1
                    self.wake()
                    if self.stopping.is_set():
                        break
        finally:
            raw.close()
