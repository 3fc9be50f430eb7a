"""Crash recovery: worker processes SIGKILLed at random points while sweeping thousands of due
timers; after a restart every timer has fired exactly once (history and outbox counted).

The seed of the random kill points is printed in every failure message; set
``LEADFLOW_CRASH_SEED`` to replay one.
"""

from __future__ import annotations

import os
import random
import secrets
import time
from datetime import timedelta

import pytest
from worker_support import (
    ESCALATE,
    kill_worker,
    scalar,
    spawn_worker,
    start_due_leads,
    stop_worker,
    sweep_counts,
    wait_for,
    wait_registered,
)

from leadflow.engine import Engine

LEADS = 5_000
BATCH = "50"
KILLS = 6


def _remaining(url: str) -> int:
    return int(scalar(url, "SELECT count(*) FROM lf_timers"))


@pytest.mark.slow
def test_sigkill_at_random_points_fires_every_timer_exactly_once(sqlite_url: str) -> None:
    """However often the worker is killed, each due timer fires once and only once."""
    seed = int(os.environ.get("LEADFLOW_CRASH_SEED") or secrets.randbits(32))
    rng = random.Random(seed)
    with Engine(sqlite_url) as lf:
        lf.deploy(ESCALATE)
        start_due_leads(lf, LEADS, -timedelta(minutes=10))
    kills: list[tuple[str, float, int]] = []  # (where, delay, timers left at the kill)
    errors: list[str] = []
    for n in range(KILLS):
        left = _remaining(sqlite_url)
        if left == 0:
            break
        proc = spawn_worker(sqlite_url, "--batch", BATCH, "--log-level", "warning")
        if n % 3 == 0:  # anywhere: while importing, registering, or sweeping
            where, delay = "from spawn", rng.uniform(0.0, 1.0)
        else:  # once the sweep is under way: mid-batch, mid-commit, between batches
            where, delay = "mid-sweep", rng.uniform(0.0, 0.25)
            wait_for(
                lambda left=left, proc=proc: (
                    _remaining(sqlite_url) < left or proc.poll() is not None
                ),
                30,
                f"worker {n} to start sweeping (seed {seed})",
                interval=0.005,
            )
        time.sleep(delay)
        err = kill_worker(proc)
        if "Traceback" in err:
            errors.append(err)
        kills.append((where, round(delay, 3), _remaining(sqlite_url)))
    context = f"seed {seed}, kills (where, delay, timers left): {kills}"
    assert not errors, f"{context}\n{errors[0]}"
    mid = [k for k in kills if 0 < k[2] < LEADS]
    assert len(mid) >= 2, f"too few kills landed mid-sweep to mean anything: {context}"

    left_behind = int(scalar(sqlite_url, "SELECT count(*) FROM lf_workers"))
    proc = spawn_worker(sqlite_url, "--batch", BATCH, "--log-level", "warning")
    try:
        wait_registered(sqlite_url, proc)
        wait_for(lambda: _remaining(sqlite_url) == 0, 60, f"the last worker ({context})")
    finally:
        code, err = stop_worker(proc)
    assert code == 0, f"{context}\n{err}"
    if left_behind:  # the registration of a killed worker does not block its successor
        assert "took over from worker" in err, err

    counts = sweep_counts(sqlite_url)
    assert counts == {
        "sla_history": LEADS,
        "breached_events": LEADS,
        "assigned_events": LEADS,
        "leads_not_once": 0,
        "events_not_once": 0,
        "timers": 0,
        "workers": 0,
    }, context
