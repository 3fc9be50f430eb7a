"""Helpers of the worker tests: due leads, worker subprocesses, counting what the sweep wrote."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from leadflow.engine import Engine

DEFINITIONS = Path(__file__).parent / "definitions" / "worker"
ESCALATE = DEFINITIONS / "escalate.yaml"
RELEASE = DEFINITIONS / "release.yaml"
PROCESS = "worker-escalate"
TARGET = timedelta(minutes=1)
"""The SLA target of ``escalate.yaml``: a lead's timer falls due this long after its start."""

# `leadflow worker ...` (the console script's entry point, without needing the script installed)
LEADFLOW = "from leadflow.cli import main; main()"

T = TypeVar("T")


def start_due_leads(
    engine: Engine, count: int, due_in: timedelta, prefix: str = "lead", at: datetime | None = None
) -> datetime:
    """Start ``count`` leads whose SLA timer falls due ``due_in`` after ``at`` (default: now,
    by the engine's clock; negative: overdue). Returns the due time."""
    start = (at or engine.clock.now()) + due_in - TARGET
    for first in range(0, count, 10_000):
        items = [
            (f"{prefix}-{i}", {"email": f"{prefix}-{i}@example.com"}, "ann")
            for i in range(first, min(count, first + 10_000))
        ]
        result = engine.start_many(PROCESS, items, at=start)
        assert result.ok, result.failed[:3]
    return start + TARGET


def spawn_worker(url: str, *args: str) -> subprocess.Popen[str]:
    """``leadflow worker --db url args...`` in a subprocess (stderr captured, text mode)."""
    return subprocess.Popen(
        [sys.executable, "-c", LEADFLOW, "worker", "--db", url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_registered(url: str, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    """Wait until the worker process ``proc`` registered in lf_workers (its signal handlers are
    in place from then on)."""
    sql = "SELECT count(*) FROM lf_workers WHERE pid = :pid"
    wait_for(
        lambda: scalar(url, sql, pid=proc.pid) or proc.poll() is not None,
        timeout,
        f"worker pid {proc.pid} to register",
    )
    if proc.poll() is not None:
        _, err = proc.communicate()
        raise AssertionError(f"the worker exited with {proc.returncode}:\n{err}")


def stop_worker(
    proc: subprocess.Popen[str], timeout: float = 30, sig: int = signal.SIGTERM
) -> tuple[int, str]:
    """Send ``sig`` (SIGTERM) to ``proc`` and wait for it: (exit code, stderr)."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"worker did not stop within {timeout} s on {sig}:\n{err}") from None
    return proc.returncode, err


def kill_worker(proc: subprocess.Popen[str]) -> str:
    """SIGKILL ``proc``, reap it, and return its stderr so far."""
    proc.kill()
    _, err = proc.communicate()
    return err


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll ``check`` until it returns something truthy (returned), failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def scalar(url: str, sql: str, **params: Any) -> Any:
    """One value from ``sql`` on the database at ``url``."""
    db = sa.create_engine(url)
    try:
        with db.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()
    finally:
        db.dispose()


def sweep_counts(url: str) -> dict[str, int]:
    """What the sweep wrote and left: history rows of kind sla, outbox events of the sweep,
    leads with other than exactly one of each, timers left and registered workers."""
    queries = {
        "sla_history": "SELECT count(*) FROM lf_history WHERE kind = 'sla'",
        "breached_events": (
            "SELECT count(*) FROM lf_outbox WHERE type = 'leadflow.lead.sla_breached'"
        ),
        "assigned_events": "SELECT count(*) FROM lf_outbox WHERE type = 'leadflow.lead.assigned'",
        "leads_not_once": (
            "SELECT count(*) FROM (SELECT i.id FROM lf_instances i "
            "LEFT JOIN lf_history h ON h.instance_id = i.id AND h.kind = 'sla' "
            "GROUP BY i.id HAVING count(h.id) <> 1) AS x"
        ),
        "events_not_once": (
            "SELECT count(*) FROM (SELECT i.id FROM lf_instances i "
            "LEFT JOIN lf_outbox o ON o.instance_id = i.id "
            "AND o.type = 'leadflow.lead.sla_breached' "
            "GROUP BY i.id HAVING count(o.id) <> 1) AS x"
        ),
        "timers": "SELECT count(*) FROM lf_timers",
        "workers": "SELECT count(*) FROM lf_workers",
    }
    db = sa.create_engine(url)
    try:
        with db.connect() as conn:
            return {k: int(conn.execute(sa.text(q)).scalar() or 0) for k, q in queries.items()}
    finally:
        db.dispose()


def free_port() -> int:
    """A TCP port of 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get_text(url: str) -> str | None:
    """The body of a GET of ``url``, or None while nothing answers there."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return str(answer.read().decode())
    except OSError:
        return None
