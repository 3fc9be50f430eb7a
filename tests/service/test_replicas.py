"""Two ``leadflow serve`` processes on one PostgreSQL, and clients firing the same leads at both.

The service keeps no lead state between requests, so replicas may share a database: a write
guarded by ``If-Match`` either applies to the version the client read or answers 412 (no lost
update, nothing doubled), every 2xx write is in the lead's history, and an ``Idempotency-Key``
is honoured whichever replica the retry lands on (its answer lives in the database).
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import httpx
import psycopg
import pytest

from leadflow.definitions import library_path
from leadflow.engine import Engine, store
from leadflow.engine.store import TokenStore

pytestmark = pytest.mark.postgres

PROCESS = "inbound-lead"
LEADS = f"/api/v1/processes/{PROCESS}/leads"
STARTUP_S = 30.0
STOP_S = 10.0
CLIENTS = 8
"""Concurrent client threads in the lost-update tests."""
WRITES_PER_CLIENT = 6
"""Successful writes each If-Match client makes (retrying on 412)."""
ATTEMPTS_PER_CLIENT = 12
"""Blind writes each client without If-Match sends."""


class Server:
    """One ``leadflow serve`` process on a free port of 127.0.0.1; its output goes to a file."""

    def __init__(self, db: str, log: Path) -> None:
        self.log_path = log
        self.log: IO[bytes] = log.open("wb")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "leadflow.cli", "serve", "--db", db, "--port", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self, deadline: float) -> None:
        """Return once GET /healthz answers 200; fail with the process output otherwise."""
        with httpx.Client(base_url=self.url, timeout=2) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    pytest.fail(
                        f"leadflow serve on port {self.port} exited with "
                        f"{self.process.returncode}:\n{self.output()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if http.get("/healthz").status_code == 200:
                        return
                time.sleep(0.05)
        pytest.fail(f"leadflow serve on port {self.port} did not come up:\n{self.output()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a timeout; always reaps the process and closes the log."""
        try:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(STOP_S)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(STOP_S)
        finally:
            self.log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Cluster:
    """Two replicas over one database, an admin token, and a client per replica."""

    db: str
    token: str
    servers: list[Server]
    clients: list[httpx.Client] = field(default_factory=list)

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}

    def client(self, n: int) -> httpx.Client:
        """A new client of replica ``n % 2`` (the caller closes it)."""
        server = self.servers[n % len(self.servers)]
        return httpx.Client(base_url=server.url, timeout=30, headers=self.headers())

    def lead(self, lead_id: str) -> dict[str, object]:
        """The lead as replica 0 reads it."""
        answer = self.clients[0].get(f"{LEADS}/{lead_id}")
        assert answer.status_code == 200, answer.text
        lead: dict[str, object] = answer.json()
        return lead

    def history(self, lead_id: str) -> list[dict[str, object]]:
        """The lead's history, read through both replicas (which must agree)."""
        seen = []
        for http in self.clients:
            answer = http.get(f"{LEADS}/{lead_id}/history")
            assert answer.status_code == 200, answer.text
            seen.append(answer.json())
        assert seen[0] == seen[1]
        entries: list[dict[str, object]] = seen[0]
        return entries


@pytest.fixture
def cluster(postgres_url: str, tmp_path: Path) -> Iterator[Cluster]:
    """The schema upgraded, inbound-lead deployed, four leads started, two replicas serving."""
    store.upgrade(postgres_url)
    with Engine(postgres_url) as engine:
        engine.deploy(library_path(PROCESS))
        for n in range(4):
            engine.start(PROCESS, f"l{n}", {"email": f"l{n}@example.com", "score": 70}, "sdr_ana")
        token, _ = TokenStore(engine.store).create("t-admin", "admin", at=datetime.now(UTC))
    servers: list[Server] = []
    try:
        for n in range(2):
            servers.append(Server(postgres_url, tmp_path / f"serve-{n}.log"))
        deadline = time.monotonic() + STARTUP_S
        for server in servers:
            server.wait_healthy(deadline)
        found = Cluster(postgres_url, token, servers)
        found.clients = [found.client(0), found.client(1)]
        try:
            yield found
        finally:
            for http in found.clients:
                http.close()
    finally:
        for server in servers:
            server.stop()


def _activity(http: httpx.Client, lead_id: str, **headers: str) -> httpx.Response:
    return http.post(f"{LEADS}/{lead_id}/activities", json={"type": "call"}, headers=headers)


def _version(etag: str) -> int:
    return int(etag.strip('"'))


@dataclass
class Tally:
    """What the clients were told: per lead, the versions of the writes answered 2xx."""

    written: dict[str, list[int]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrote(self, lead_id: str, answer: httpx.Response) -> None:
        body = answer.json()
        assert answer.headers["etag"] == body["etag"]
        with self.lock:
            self.written.setdefault(lead_id, []).append(_version(body["etag"]))

    def saw(self, answer: httpx.Response, expected: set[int]) -> None:
        with self.lock:
            self.statuses[answer.status_code] += 1
            if answer.status_code not in expected:
                self.unexpected.append(f"{answer.status_code} {answer.text}")


def _check_nothing_lost(cluster: Cluster, tally: Tally, leads: list[str]) -> None:
    """Each lead's version is 1 + the writes its clients were told of, once each, and its
    history has exactly one entry per version (the start and one per activity)."""
    assert not tally.unexpected, tally.unexpected
    for lead_id in leads:
        versions = sorted(tally.written.get(lead_id, []))
        lead = cluster.lead(lead_id)
        assert lead["version"] == 1 + len(versions), (lead_id, lead["version"], versions)
        assert versions == list(range(2, 2 + len(versions))), (lead_id, versions)
        history = cluster.history(lead_id)
        assert len(history) == lead["version"]
        assert [e["kind"] for e in history].count("activity") == len(versions), history


def test_if_match_writers_on_two_replicas_lose_no_update(cluster: Cluster) -> None:
    """Concurrent If-Match writers alternating between replicas either apply to the version
    they read or get 412 and retry, so every lead ends at 1 + the writes its clients saw."""
    leads = ["l0", "l1", "l2"]
    tally = Tally()

    def client(n: int) -> None:
        lead_id = leads[n % len(leads)]
        https = [cluster.client(n), cluster.client(n + 1)]
        turn = itertools.count()
        try:
            etag = https[0].get(f"{LEADS}/{lead_id}").headers["etag"]
            done = 0
            for _ in range(WRITES_PER_CLIENT * 40):
                if done == WRITES_PER_CLIENT:
                    return
                http = https[next(turn) % 2]
                answer = _activity(http, lead_id, **{"If-Match": etag})
                tally.saw(answer, {201, 412})
                if answer.status_code == 201:
                    tally.wrote(lead_id, answer)
                    etag = answer.headers["etag"]
                    done += 1
                elif answer.status_code == 412:
                    assert answer.json()["code"] == "precondition_failed"
                    reread = https[next(turn) % 2].get(f"{LEADS}/{lead_id}")
                    assert reread.status_code == 200, reread.text
                    etag = reread.headers["etag"]
                else:
                    return
            tally.unexpected.append(f"client {n} gave up after {done} writes")
        finally:
            for http in https:
                http.close()

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    assert tally.statuses[201] == CLIENTS * WRITES_PER_CLIENT, tally.statuses
    assert tally.statuses[412] > 0, "the clients never raced; the test proves nothing"
    _check_nothing_lost(cluster, tally, leads)
    assert cluster.lead("l3")["version"] == 1


def test_writes_without_if_match_on_two_replicas_are_all_in_the_history(
    cluster: Cluster,
) -> None:
    """Blind concurrent writes through both replicas: each 2xx answer is one history entry."""
    leads = ["l0", "l1"]
    tally = Tally()

    def client(n: int) -> None:
        lead_id = leads[n % len(leads)]
        https = [cluster.client(n), cluster.client(n + 1)]
        try:
            for attempt in range(ATTEMPTS_PER_CLIENT):
                answer = _activity(https[attempt % 2], lead_id)
                tally.saw(answer, {201, 409})
                if answer.status_code == 201:
                    tally.wrote(lead_id, answer)
                elif answer.status_code == 409:
                    assert answer.json()["code"] == "concurrent_update", answer.text
        finally:
            for http in https:
                http.close()

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    assert sum(tally.statuses.values()) == CLIENTS * ATTEMPTS_PER_CLIENT
    assert tally.statuses[201] > 0, tally.statuses
    _check_nothing_lost(cluster, tally, leads)


def test_idempotency_key_is_honoured_across_replicas(cluster: Cluster) -> None:
    """One key sent to replica 0 and then to replica 1 gets one answer and one change; the key
    with another body is refused with 422 idempotency_conflict on both."""
    a, b = cluster.clients
    key = {"Idempotency-Key": "call-l0-1"}
    first = _activity(a, "l0", **key)
    again = _activity(b, "l0", **key)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"] == '"2"'
    assert len(cluster.history("l0")) == 2
    for http in (b, a):
        other = http.post(f"{LEADS}/l0/activities", json={"type": "email"}, headers=key)
        assert other.status_code == 422, other.text
        assert other.headers["content-type"] == "application/problem+json"
        assert other.json()["code"] == "idempotency_conflict"
    assert len(cluster.history("l0")) == 2
    assert cluster.lead("l0")["version"] == 2


@contextlib.contextmanager
def _lead_locked(db: str, lead_id: str, waiters: int) -> Iterator[None]:
    """Hold the row lock of ``lead_id`` until ``waiters`` other sessions wait for a lock (the
    body starts them), then let them go together: a deterministic race."""
    conninfo = db.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn, psycopg.connect(conninfo, autocommit=True) as probe:
        conn.execute(
            "SELECT id FROM lf_instances WHERE process = %s AND lead_id = %s FOR UPDATE",
            (PROCESS, lead_id),
        )
        yield
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            row = probe.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
            if row is not None and row[0] >= waiters:
                break
            time.sleep(0.02)
        else:
            pytest.fail(f"{waiters} sessions never waited for the lock of {lead_id}")
        conn.rollback()


def test_idempotency_key_raced_on_two_replicas_changes_the_lead_once(cluster: Cluster) -> None:
    """The same keyed request sent to both replicas at once (held at the lead's row lock so the
    two really overlap) gets two identical answers and one change."""
    barrier = threading.Barrier(2)

    def send(n: int) -> httpx.Response:
        barrier.wait(10)
        return _activity(cluster.clients[n], "l1", **{"Idempotency-Key": "race-l1"})

    with ThreadPoolExecutor(2) as pool:
        with _lead_locked(cluster.db, "l1", waiters=2):
            futures = [pool.submit(send, n) for n in range(2)]
        answers = [f.result() for f in futures]
    first, second = answers
    assert len(cluster.history("l1")) == 2
    assert cluster.lead("l1")["version"] == 2
    assert (first.status_code, second.status_code) == (201, 201), (first.text, second.text)
    assert first.json() == second.json()
    assert first.headers["etag"] == second.headers["etag"] == '"2"'
