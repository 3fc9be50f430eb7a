"""Worker registration in ``lf_workers``: heartbeats, and one worker at a time on SQLite.

Each running worker holds one row (id, host, pid, started_at, heartbeat_at) and refreshes
``heartbeat_at`` every few seconds. On PostgreSQL any number of workers register (due timers are
claimed with ``FOR UPDATE SKIP LOCKED``, so they share the load). On SQLite one writer at a time
is the database's own rule, so a second worker is refused, naming the running one, unless that
one is gone: its heartbeat is older than ``stale_after``, or it ran on this host and its process
no longer exists (a worker killed with SIGKILL is taken over at once on restart).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from leadflow.definitions import LeadflowError
from leadflow.engine.store import Store, Tx

__all__ = ["Registry", "WorkerInfo", "WorkerRefused"]


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A registered worker, as ``lf_workers`` holds it."""

    id: str
    """The worker's id (a random hex string, new for every start)."""
    host: str
    """The host name it runs on."""
    pid: int
    """Its process id on that host."""
    started_at: datetime
    """When it registered (engine clock)."""
    heartbeat_at: datetime
    """Its last heartbeat (engine clock)."""


class WorkerRefused(LeadflowError, RuntimeError):
    """Another worker runs on this SQLite database; SQLite allows one at a time.

    ``running`` is that worker, ``seen_ago`` how long ago its last heartbeat was, and
    ``stale_after`` how old a heartbeat must be before a new worker may take over.
    """

    code = "worker-running"

    def __init__(self, running: WorkerInfo, now: datetime, stale_after: timedelta) -> None:
        self.running = running
        self.seen_ago = max(now - running.heartbeat_at, timedelta(0))
        self.stale_after = stale_after
        ago = self.seen_ago.total_seconds()
        super().__init__(
            f"another worker runs on this SQLite database: host {running.host}, pid "
            f"{running.pid}, started {running.started_at.isoformat(timespec='seconds')}, last "
            f"seen {ago:.0f} s ago ({running.heartbeat_at.isoformat(timespec='seconds')}); "
            "SQLite allows one worker at a time: stop that one, or start this one after its "
            f"heartbeat is {stale_after.total_seconds():.0f} s old (it is then taken over); "
            "several workers need PostgreSQL"
        )


def _process_gone(pid: int) -> bool:
    """Whether no live process has ``pid`` on this host (zombies count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


class Registry:
    """This worker's row in ``lf_workers``."""

    def __init__(self, store: Store, stale_after: timedelta) -> None:
        self.store = store
        self.stale_after = stale_after
        self.id = uuid.uuid4().hex
        self.host = socket.gethostname()[:255]
        self.pid = os.getpid()
        self.single = store.is_sqlite
        self.started_at: datetime | None = None

    def _rows(self, tx: Tx) -> list[WorkerInfo]:
        tx.cur.execute("SELECT id, host, pid, started_at, heartbeat_at FROM lf_workers")
        dt = self.store.decode_time
        return [WorkerInfo(i, h, p, dt(s), dt(b)) for i, h, p, s, b in tx.cur.fetchall()]

    def _gone(self, info: WorkerInfo, now: datetime) -> bool:
        if now - info.heartbeat_at > self.stale_after:
            return True
        return info.host == self.host and info.pid != self.pid and _process_gone(info.pid)

    def register(self, now: datetime) -> list[WorkerInfo]:
        """Insert this worker's row; returns the rows of gone workers it removed.

        On SQLite raises :class:`WorkerRefused` while another worker is alive.
        """
        p = self.store.param
        enc = self.store.encode_time
        with self.store.transaction("register the worker") as tx:
            if self.single:
                tx.cur.execute("BEGIN IMMEDIATE")  # the check and the insert under one lock
            rows = self._rows(tx)
            gone = [r for r in rows if self._gone(r, now)]
            alive = [r for r in rows if r not in gone]
            if self.single and alive:
                newest = max(alive, key=lambda r: r.heartbeat_at)
                raise WorkerRefused(newest, now, self.stale_after)
            if gone:
                tx.cur.executemany(
                    f"DELETE FROM lf_workers WHERE id = {p}", [(r.id,) for r in gone]
                )
            tx.cur.execute(
                "INSERT INTO lf_workers (id, host, pid, started_at, heartbeat_at) "
                f"VALUES ({p}, {p}, {p}, {p}, {p})",
                (self.id, self.host, self.pid, enc(now), enc(now)),
            )
        self.started_at = now
        return gone

    def heartbeat(self, now: datetime) -> bool:
        """Refresh this worker's heartbeat; False when its row was taken over meanwhile.

        On PostgreSQL a lost row is simply written again (several workers are fine there).
        """
        p = self.store.param
        enc = self.store.encode_time
        with self.store.transaction("worker heartbeat") as tx:
            tx.cur.execute(
                f"UPDATE lf_workers SET heartbeat_at = {p} WHERE id = {p}", (enc(now), self.id)
            )
            if tx.cur.rowcount == 1:
                return True
            if self.single:
                return False
            tx.cur.execute(
                "INSERT INTO lf_workers (id, host, pid, started_at, heartbeat_at) "
                f"VALUES ({p}, {p}, {p}, {p}, {p})",
                (self.id, self.host, self.pid, enc(self.started_at or now), enc(now)),
            )
        return True

    def unregister(self) -> None:
        """Delete this worker's row."""
        with self.store.transaction("unregister the worker") as tx:
            tx.cur.execute(f"DELETE FROM lf_workers WHERE id = {self.store.param}", (self.id,))

    def workers(self) -> list[WorkerInfo]:
        """Every registered worker."""
        with self.store.transaction("list workers") as tx:
            return self._rows(tx)
