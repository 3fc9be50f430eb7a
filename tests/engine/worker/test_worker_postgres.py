"""Several workers on PostgreSQL share the due timers (``FOR UPDATE SKIP LOCKED`` claims): three
worker processes, 20,000 due timers, each fired exactly once."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from worker_support import (
    ESCALATE,
    scalar,
    spawn_worker,
    start_due_leads,
    stop_worker,
    sweep_counts,
    wait_for,
    wait_registered,
)

from leadflow.engine import Engine
from leadflow.engine.worker import Worker, WorkerOptions

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

LEADS = 20_000
WORKERS = 3
SLA_ROWS = "SELECT count(*) FROM lf_history WHERE kind = 'sla'"


def test_three_workers_fire_20000_timers_exactly_once(postgres_url: str) -> None:
    """Three workers on one PostgreSQL database fire every due timer once, between them, while
    another process is still writing the leads whose timers are due."""
    with Engine(postgres_url, create=True) as lf:
        lf.deploy(ESCALATE)
        procs = [spawn_worker(postgres_url, "--batch", "200") for _ in range(WORKERS)]
        outputs: list[str] = []
        try:
            for proc in procs:
                wait_registered(postgres_url, proc)
            started = time.monotonic()
            start_due_leads(lf, LEADS, -timedelta(minutes=30))
            written = time.monotonic() - started
            wait_for(
                lambda: scalar(postgres_url, SLA_ROWS) == LEADS,
                180,
                "the workers to fire every timer",
                interval=0.1,
            )
            elapsed = time.monotonic() - started
        finally:
            for proc in procs:
                code, err = stop_worker(proc)
                outputs.append(err)
                assert code == 0, err
    fired = [int(re.findall(r"worker stopped: (\d+) timers", err)[-1]) for err in outputs]
    timing = f"leads written in {written:.1f} s, all fired after {elapsed:.1f} s; by worker {fired}"
    assert sum(fired) == LEADS, timing
    assert sum(1 for n in fired if n) >= 2, f"the load was not shared: {timing}"
    assert sweep_counts(postgres_url) == {
        "sla_history": LEADS,
        "breached_events": LEADS,
        "assigned_events": LEADS,
        "leads_not_once": 0,
        "events_not_once": 0,
        "timers": 0,
        "workers": 0,
    }, timing
    assert not any("Traceback" in err for err in outputs)


def test_postgres_takes_any_number_of_workers(postgres_url: str) -> None:
    """Two workers on one PostgreSQL database both register; neither is refused."""
    options = WorkerOptions(poll=0.1)
    with (
        Engine(postgres_url, create=True) as lf,
        Worker(lf, options) as a,
        Worker(lf, options) as b,
    ):
        assert sorted(i.id for i in a.workers()) == sorted([a.id, b.id])
        lf.deploy(ESCALATE)
        start_due_leads(lf, 300, -timedelta(minutes=1))
        wait_for(lambda: a.stats.timers + b.stats.timers == 300, 30, "both workers' rounds")
    assert sweep_counts(postgres_url)["leads_not_once"] == 0


def test_a_commit_wakes_an_idle_worker(postgres_url: str) -> None:
    """With polling off (a 30 s recheck), a worker still fires a mark due a second after the
    lead starts: the start's commit notifies it, it reads the new timer and sleeps until it is
    due. Without the notification (listen off) nothing fires within the same wait."""
    with Engine(postgres_url, create=True) as lf:
        lf.deploy(ESCALATE)
        for listen, prefix in ((True, "heard"), (False, "deaf")):
            worker = Worker(lf, WorkerOptions(poll=None, recheck=30.0, listen=listen))
            with worker:
                wait_for(lambda w=worker: w.stats.rounds >= 1, 10, "the first round")
                start_due_leads(lf, 1, timedelta(seconds=1), prefix=prefix)
                fired = _waits(lambda w=worker: w.stats.timers == 1, 8)
            assert fired is listen, f"listen={listen}"
            if listen:
                assert worker.wakeups.heard >= 1


def _waits(condition: Callable[[], bool], seconds: float) -> bool:
    """Whether ``condition`` holds within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
