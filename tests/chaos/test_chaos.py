"""Chaos: PostgreSQL restarted under load, workers killed, paused and replaced, and afterwards
everything is checked exactly (``chaos_checks``): every acknowledged change stored once, every
SLA mark fired once, every event delivered in its lead's order, nothing left claimed.

The normal suite runs a short version (restarts every 0.5-1.5 s, down up to 0.5 s, 5 s of load
and at least two restarts).
The long one restarts every 5-40 s, down 0-2 s, for as long as asked::

    LEADFLOW_CHAOS_SECONDS=600 pytest -m chaos -s tests/chaos

Each test prints its counts (``-s`` shows them).
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from chaos_checks import Counts, check, settled
from chaos_support import (
    PROCESS,
    ApiClient,
    Client,
    HttpClient,
    Ledger,
    Proc,
    Restarter,
    pace,
    registered,
    spawn_service,
    spawn_workers,
    start_workers,
    stop_all,
    wait_service,
    write_config,
)
from outbox_receiver import Receiver
from postgres_server import PostgresServer
from worker_support import free_port, scalar, wait_for

from leadflow.engine import Engine
from leadflow.engine.store import TokenStore

pytestmark = [pytest.mark.chaos, pytest.mark.postgres, pytest.mark.slow]

SETTLE = 120.0
"""Seconds the workers get to finish everything once the chaos stops."""


@dataclass
class Rig:
    """What every chaos test works with: the server, a new database, a webhook receiver, and
    the processes it started (killed at the end of the test if still running)."""

    server: PostgresServer
    url: str
    receiver: Receiver
    tmp: Path
    procs: list[Proc] = field(default_factory=list)

    def config(self, lease: float = 2.0) -> Path:
        """A configuration delivering to the receiver, with a dispatcher lease of ``lease``."""
        return write_config(self.tmp / "leadflow.toml", self.receiver.url, lease)

    def workers(self, *names: str) -> list[Proc]:
        """Worker processes (sweep and dispatch), started side by side, registered."""
        made = spawn_workers(self.tmp, list(names), self.url, self.tmp / "leadflow.toml")
        self.procs.extend(made)
        return made

    def starting(self, *names: str) -> list[Proc]:
        """Worker processes started, not waited for (see :func:`registered`)."""
        made = start_workers(self.tmp, list(names), self.url, self.tmp / "leadflow.toml")
        self.procs.extend(made)
        return made

    def service(self, port: int) -> Proc:
        """``leadflow serve`` on ``port`` (starting: see :func:`wait_service`)."""
        self.procs.append(spawn_service(self.tmp, self.url, port))
        return self.procs[-1]


@pytest.fixture
def rig(server: PostgresServer, url: str, tmp_path: Path) -> Iterator[Rig]:
    made = Rig(server, url, Receiver(), tmp_path)
    yield made
    made.receiver.close()
    for proc in made.procs:
        if proc.popen.poll() is None:
            proc.stop(signal.SIGKILL)


def report(capsys: pytest.CaptureFixture[str], what: str, counts: Counts) -> None:
    with capsys.disabled():
        print(f"\nchaos {what}: {counts.line()}")
    assert not counts.problems, "\n".join(counts.problems[:20])


def finish(rig: Rig, workers: list[Proc], ledger: Ledger | None) -> Counts:
    """Let the workers settle everything, stop them (all at once), and check."""
    wait_for(lambda: _settled(rig.url), SETTLE, "the workers to settle every timer and event", 0.2)
    for proc, code in zip(workers, stop_all(workers), strict=True):
        assert code == 0, proc.output()[-3000:]
    counts = check(rig.url, ledger, rig.receiver)
    for proc in workers:
        assert "Traceback" not in proc.output(), proc.output()[-3000:]
    return counts


def _settled(url: str) -> bool:
    try:
        return settled(url)
    except Exception:  # the server is starting up
        return False


def test_postgres_restarts_while_workers_sweep_deliver_and_clients_fire(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two workers sweep and deliver, two Python clients and one HTTP client (through
    ``leadflow serve``) change leads, while PostgreSQL restarts at random (fast and immediate
    shutdowns): afterwards every acknowledged change is stored once, every mark fired once,
    every event arrived in order, nothing is left claimed."""
    rig.config()
    with Engine(rig.url) as engine:
        token, _ = TokenStore(engine.store).create("chaos", "admin", at=datetime.now(UTC))
    run = pace()
    port = free_port()
    service = rig.service(port)
    workers = rig.workers("w0", "w1")
    wait_service(service, port)
    base = f"http://127.0.0.1:{port}"
    ledger, stop = Ledger(), threading.Event()
    clients: list[Client] = [ApiClient(rig.url, f"p{i}", ledger, stop) for i in range(2)]
    clients.append(HttpClient(base, token, "h0", ledger, stop))
    restarter = Restarter(rig.server, run, random.Random(14))
    try:
        for client in clients:
            client.start()
        restarter.start()
        ends = time.monotonic() + run.seconds

        def enough() -> bool:  # the load time, and on until the second restart
            return time.monotonic() >= ends and restarter.restarts >= 2

        wait_for(enough, run.seconds + 120, "the load time and two restarts", 0.05)
    finally:
        stop.set()
        restarter.stop()
        for client in clients:
            client.join()
    assert service.stop() in (0, -signal.SIGTERM), service.output()[-3000:]
    counts = finish(rig, workers, ledger)
    counts.restarts = restarter.restarts
    report(capsys, "restarts under load", counts)
    assert counts.restarts >= 2
    assert any(lead.startswith("h0-") for lead in ledger.acked)


def test_a_restart_during_a_workers_recovery(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    """A worker is killed (SIGKILL) mid-delivery; while none runs, a backlog of overdue marks
    builds up; a new worker recovers (the dead one's expired leases, the overdue marks, the
    deliveries) and PostgreSQL restarts while it catches up: every mark fires once, every
    event arrives in order."""
    rig.config(1.0)
    with Engine(rig.url) as engine:
        _overdue(engine, "a", 150)
        rig.receiver.hold_after = 60  # the first worker is mid-delivery when it dies
        first = rig.workers("first")[0]
        wait_for(lambda: rig.receiver.held >= 2, 60, "deliveries held mid-batch")
        first.stop(signal.SIGKILL)
        rig.receiver.hold_after = None
        rig.receiver.release.set()
        _overdue(engine, "b", 150)
    arrived = len(rig.receiver.arrivals)
    second = rig.workers("second")[0]
    restarter = Restarter(rig.server, pace(), random.Random(7))
    wait_for(lambda: len(rig.receiver.arrivals) > arrived + 30, 60, "the new worker to catch up")
    restarter.bounce(0.3, immediate=True)
    assert not settled(rig.url)  # the restart came during the catch-up
    counts = finish(rig, [second], None)
    counts.restarts = restarter.restarts
    report(capsys, "restart during recovery", counts)
    assert counts.marks == 2 * 300


def _overdue(engine: Engine, prefix: str, count: int) -> None:
    """Start ``count`` leads whose SLA clock ran out five minutes ago."""
    past = engine.clock.now() - timedelta(minutes=5)
    items = [(f"{prefix}-{i}", {"email": f"{prefix}{i}@example.com"}, "ann") for i in range(count)]
    assert engine.start_many(PROCESS, items, at=past).ok


def test_a_rolling_deploy_overlaps_old_and_new_workers(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    """Old workers keep working while new ones start, then stop (SIGTERM) one by one, with
    clients firing and one PostgreSQL restart in the middle: nothing lost, nothing twice."""
    rig.config()
    ledger, stop = Ledger(), threading.Event()
    old = rig.workers("old0", "old1")
    clients = [ApiClient(rig.url, f"r{i}", ledger, stop).start() for i in range(2)]
    restarter = Restarter(rig.server, pace(), random.Random(3))
    try:
        new = rig.starting("new0", "new1")  # their start-up overlaps the old ones' work
        time.sleep(1)
        registered(new, rig.url)
        restarter.bounce(0.2)
        for proc in old:  # the overlap ends one old worker at a time
            time.sleep(0.5)
            assert proc.stop() == 0, proc.output()[-3000:]
        time.sleep(1)
    finally:
        stop.set()
        for client in clients:
            client.join()
    counts = finish(rig, new, ledger)
    counts.restarts = restarter.restarts
    report(capsys, "rolling deploy", counts)
    assert counts.changes > 0


def test_a_worker_paused_past_its_lease_and_resumed(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    """A worker paused (SIGSTOP) mid-delivery for longer than its lease: another worker takes
    the deliveries over; resumed (SIGCONT), the paused one's late outcomes are dropped and it
    goes on working. Every event arrives in order (the paused batch possibly twice, with the
    same ids), every mark once."""
    rig.config(1.0)
    ledger, stop = Ledger(), threading.Event()
    rig.receiver.hold_after = 30
    paused = rig.workers("paused")[0]
    clients = [ApiClient(rig.url, f"s{i}", ledger, stop).start() for i in range(2)]
    try:
        wait_for(lambda: rig.receiver.held >= 1, 60, "a delivery in flight")
        paused.popen.send_signal(signal.SIGSTOP)
        rig.receiver.hold_after = None
        rig.receiver.release.set()
        other = rig.workers("other")[0]
        # the other takes the paused batch over once its lease ran out: it arrives again
        wait_for(lambda: len(rig.receiver.arrivals) > len(rig.receiver.unique()), 60, "takeover")
        paused.popen.send_signal(signal.SIGCONT)
        time.sleep(1)
    finally:
        paused.popen.send_signal(signal.SIGCONT)
        stop.set()
        for client in clients:
            client.join()
    counts = finish(rig, [paused, other], ledger)
    report(capsys, "worker paused past its lease", counts)
    assert counts.changes > 0
    assert counts.delivered > counts.events  # the paused batch went out again: taken over


def _quietly(url: str, sql: str) -> int:
    try:
        return int(scalar(url, sql) or 0)
    except Exception:
        return -1
