"""leadflow worker benchmark: the due-timer sweep against APScheduler's job store, deadline to
action latency with a worker running, and worker RSS with few and many scheduled timers.

Run from the repository root (leadflow importable, e.g. installed or via PYTHONPATH)::

    python tests/benchmarks/bench_sweep.py            # full run, about 2-3 minutes
    python tests/benchmarks/bench_sweep.py --quick    # smaller counts, under a minute

What is measured (SQLite files in WAL mode, in a temporary directory):

1. **Throughput.** The sweep (``Engine.run_due``) firing N due SLA marks with real escalation
   effects (a history row, the ``sla_breached`` event, a field set, a reassignment with its
   ``assigned`` event and routing record), and the same through a running ``Worker`` thread.
   Baseline: N APScheduler 3 date jobs in its ``SQLAlchemyJobStore`` on a SQLite WAL file,
   firing a trivial function: the time to add them (scheduler paused) and to fire them all.
   Each part runs 3 times, interleaved; the fastest run is kept.
2. **Latency.** A worker process (``leadflow worker``) runs; (a) timers written ahead of time
   fall due over a few seconds; (b) timers already due are written by another process at random
   moments while the worker idles (found by its 0.5 s poll). A trigger on ``lf_timers`` records
   the wall time each timer row is deleted, which happens in the transaction that writes its
   effects; latency = that time - the timer's due time.
3. **RSS.** ``VmRSS`` of a worker process after it swept a batch of due timers and idled, with
   a few and with very many scheduled (future) timers in the table; the timer rows are inserted
   directly with ``executemany``.

It is a benchmark, not a test: the exit code is 0 whatever the figures are.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

try:
    import apscheduler
    import sqlalchemy as sa
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.date import DateTrigger

    from leadflow.engine import Engine
    from leadflow.engine.worker import Worker, WorkerOptions
except ImportError as exc:  # pragma: no cover - a usage error, not a benchmark result
    sys.exit(f"cannot import leadflow ({exc}); install it or set PYTHONPATH (see README.md)")

ROOT = Path(__file__).resolve().parents[1]
ESCALATE = ROOT / "definitions" / "worker" / "escalate.yaml"
PROCESS = "worker-escalate"
TARGET = timedelta(minutes=1)
MIB = 1024 * 1024
LEADFLOW = "from leadflow.cli import main; main()"  # `leadflow`, script or not
FIRED_TRIGGER = (
    "CREATE TABLE bench_fired (timer_id INTEGER, due_at TEXT, fired_at TEXT)",
    "CREATE TRIGGER bench_fired_at AFTER DELETE ON lf_timers BEGIN "
    "INSERT INTO bench_fired VALUES (old.id, old.due_at, strftime('%Y-%m-%d %H:%M:%f', 'now')); "
    "END",
)
_T0 = time.perf_counter()


@dataclass(frozen=True)
class Sizes:
    """How much work each part does."""

    timers: int
    latency_ahead: int
    latency_spread: float
    latency_writes: int
    rss_small: int
    rss_large: int


FULL = Sizes(10_000, 2_000, 10.0, 120, 10_000, 1_000_000)
QUICK = Sizes(2_000, 400, 5.0, 40, 2_000, 100_000)


@dataclass
class Results:
    """Everything measured, filled in part by part."""

    sweep: list[float] = field(default_factory=list)
    worker: list[float] = field(default_factory=list)
    aps_add: list[float] = field(default_factory=list)
    aps_fire: list[float] = field(default_factory=list)
    ahead: list[float] = field(default_factory=list)
    written: list[float] = field(default_factory=list)
    rss: dict[str, tuple[float, float]] = field(default_factory=dict)


def progress(what: str, detail: str = "") -> None:
    """A progress line on stderr (the report goes to stdout)."""
    print(f"  [{time.perf_counter() - _T0:6.1f} s] {what} {detail}", file=sys.stderr, flush=True)


# -- 1. throughput -----------------------------------------------------------------------------


def _due_engine(path: Path, count: int, at: datetime) -> Engine:
    engine = Engine(f"sqlite:///{path}")
    engine.deploy(ESCALATE)
    for first in range(0, count, 10_000):
        items = [
            (f"lead-{i}", {"email": f"lead-{i}@example.com"}, "ann")
            for i in range(first, min(count, first + 10_000))
        ]
        engine.start_many(PROCESS, items, at=at - TARGET)
    return engine


def time_sweep(folder: Path, n: int, rep: int) -> float:
    """Seconds for ``Engine.run_due`` to fire ``n`` due marks (500 per transaction)."""
    due = datetime.now(UTC) - timedelta(hours=1)
    engine = _due_engine(folder / f"sweep-{rep}.db", n, due)
    try:
        t = time.perf_counter()
        fired = engine.run_due(due + timedelta(seconds=1))
        elapsed = time.perf_counter() - t
    finally:
        engine.close()
    assert fired == n, (fired, n)
    return elapsed


def time_worker(folder: Path, n: int, rep: int) -> float:
    """Seconds from ``Worker.start`` until its rounds fired ``n`` due marks."""
    due = datetime.now(UTC) - timedelta(hours=1)
    engine = _due_engine(folder / f"worker-{rep}.db", n, due)
    try:
        worker = Worker(engine, WorkerOptions())
        t = time.perf_counter()
        worker.start()
        while worker.stats.timers < n:
            time.sleep(0.002)
        elapsed = time.perf_counter() - t
        worker.stop()
    finally:
        engine.close()
    return elapsed


_fired = 0
_fired_lock = threading.Lock()
_all_fired = threading.Event()
_goal = 0


def trivial() -> None:
    """The APScheduler baseline's job: count, and say when all have run."""
    global _fired
    with _fired_lock:
        _fired += 1
        if _fired == _goal:
            _all_fired.set()


def _wal_engine(url: str) -> sa.Engine:
    engine = sa.create_engine(url)

    @sa.event.listens_for(engine, "connect")
    def _pragmas(conn: Any, _record: Any) -> None:
        cur = conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine


def time_apscheduler(folder: Path, n: int, rep: int) -> tuple[float, float]:
    """(seconds to add ``n`` date jobs to a SQLAlchemyJobStore, seconds to fire them all)."""
    global _fired, _goal
    _fired, _goal = 0, n
    _all_fired.clear()
    db = _wal_engine(f"sqlite:///{folder / f'aps-{rep}.db'}")
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=db)},
        timezone=UTC,
        # never skip a late job (the default 1 s grace skipped most of them when many fell due)
        job_defaults={"misfire_grace_time": None, "coalesce": False},
    )
    scheduler.start(paused=True)
    run_at = datetime.now(UTC) - timedelta(seconds=1)
    try:
        t = time.perf_counter()
        for i in range(n):
            scheduler.add_job(trivial, DateTrigger(run_at), id=f"lead-{i}", replace_existing=True)
        added = time.perf_counter() - t
        t = time.perf_counter()
        scheduler.resume()
        if not _all_fired.wait(600):
            raise RuntimeError(f"APScheduler fired only {_fired} of {n} jobs in 600 s")
        fired = time.perf_counter() - t
    finally:
        scheduler.shutdown(wait=True)
        db.dispose()
    return added, fired


# -- 2. latency ------------------------------------------------------------------------------


def _spawn_worker(url: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", LEADFLOW, "worker", "--db", url, "--log-level", "warning", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    if proc.returncode:
        progress("worker exited with", f"{proc.returncode}: {err.decode()[-500:]}")


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _count(path: Path, sql: str) -> int:
    with sqlite3.connect(path, timeout=30) as conn:
        return int(conn.execute(sql).fetchone()[0])


def _latencies(path: Path) -> list[float]:
    with sqlite3.connect(path, timeout=30) as conn:
        rows = conn.execute("SELECT due_at, fired_at FROM bench_fired").fetchall()
    return [
        (datetime.fromisoformat(f) - datetime.fromisoformat(d)).total_seconds() for d, f in rows
    ]


def measure_latency(folder: Path, sizes: Sizes, res: Results) -> None:
    """Start a worker process, then (a) timers written ahead, (b) due timers written later."""
    path = folder / "latency.db"
    url = f"sqlite:///{path}"
    with Engine(url) as engine:
        engine.deploy(ESCALATE)
        with sqlite3.connect(path) as conn:
            for statement in FIRED_TRIGGER:
                conn.execute(statement)
        proc = _spawn_worker(url)
        try:
            _wait(lambda: _count(path, "SELECT count(*) FROM lf_workers") == 1, 30, "the worker")
            # (a) written ahead: due over the next seconds, the worker knows their due times
            now = datetime.now(UTC)
            spread = sizes.latency_spread
            items = []
            for i in range(sizes.latency_ahead):
                due = now + timedelta(seconds=2 + spread * i / sizes.latency_ahead)
                items.append(
                    {
                        "lead_id": f"a-{i}",
                        "data": {"email": "a@example.com"},
                        "owner": "ann",
                        "at": due - TARGET,
                    }
                )
            engine.start_many(PROCESS, items)
            progress("latency", f"{len(items)} timers due over {spread:g} s")
            _wait(
                lambda: _count(path, "SELECT count(*) FROM bench_fired") >= len(items),
                spread + 60,
                "the timers written ahead",
            )
            res.ahead = _latencies(path)
            # (b) already due when written by this (other) process, at random moments
            import random

            rng = random.Random(7)
            for i in range(sizes.latency_writes):
                time.sleep(rng.uniform(0.05, 0.3))
                at = datetime.now(UTC) - TARGET
                engine.start(PROCESS, f"b-{i}", {"email": "b@example.com"}, owner="ann", at=at)
            total = sizes.latency_ahead + sizes.latency_writes
            progress("latency", f"{sizes.latency_writes} due timers written while idle")
            _wait(
                lambda: _count(path, "SELECT count(*) FROM bench_fired") >= total,
                60,
                "the timers written while idle",
            )
            res.written = _latencies(path)[sizes.latency_ahead :]
        finally:
            _stop(proc)


# -- 3. RSS ------------------------------------------------------------------------------------


def _status(pid: int) -> dict[str, float]:
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024 / MIB
    return out


def measure_rss(folder: Path, label: str, due: int, scheduled: int, res: Results) -> None:
    """RSS of a worker process after sweeping ``due`` timers, with ``scheduled`` future ones."""
    path = folder / f"rss-{label}.db"
    url = f"sqlite:///{path}"
    now = datetime.now(UTC)
    engine = _due_engine(path, due, now - timedelta(minutes=5))
    engine.close()
    extra = scheduled - due
    if extra > 0:
        later = (now + timedelta(days=1)).replace(tzinfo=None).isoformat(" ", "microseconds")
        with sqlite3.connect(path) as conn:  # foreign keys are off here: ids need no instance
            for first in range(0, extra, 100_000):
                conn.executemany(
                    "INSERT INTO lf_timers (instance_id, policy, step, due_at) VALUES (?, ?, 0, ?)",
                    (
                        (10_000_000 + i, "first_touch", later)
                        for i in range(first, min(extra, first + 100_000))
                    ),
                )
    timers = _count(path, "SELECT count(*) FROM lf_timers")
    progress("rss", f"{timers:,} timers ({due:,} due) in {path.name}")
    proc = _spawn_worker(url)
    try:
        _wait(
            lambda: _count(path, "SELECT count(*) FROM lf_history WHERE kind = 'sla'") >= due,
            300,
            "the due timers",
        )
        time.sleep(3)  # idle rounds (the 0.5 s poll) over the big table
        status = _status(proc.pid)
        res.rss[label] = (status["VmRSS"], status["VmHWM"])
    finally:
        _stop(proc)


# -- the report --------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


def report(res: Results, sizes: Sizes, quick: bool) -> None:
    """Print the table of figures, ratios and targets."""
    n = sizes.timers
    sweep = n / min(res.sweep)
    worker = n / min(res.worker)
    add_us = min(res.aps_add) / n * 1e6
    fire = n / min(res.aps_fire)
    sums = [a + f for a, f in zip(res.aps_add, res.aps_fire, strict=True)]
    both = n / min(sums)
    spread = lambda xs: f"{max(xs) / min(xs):.2f}"  # noqa: E731
    print(f"leadflow worker benchmark{' (--quick)' if quick else ''}")
    print(
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, APScheduler "
        f"{apscheduler.__version__ if hasattr(apscheduler, '__version__') else '3'}, "
        f"{os.cpu_count()} CPUs, {platform.platform()}"
    )
    print()
    print(f"1  Throughput, {n:,} due timers (best of {len(res.sweep)}; spread = slowest/fastest)")
    rows = [
        ("sweep, Engine.run_due (real effects)", sweep, spread(res.sweep)),
        ("worker thread, Worker rounds (same effects)", worker, spread(res.worker)),
        ("APScheduler SQLAlchemyJobStore: fire only", fire, spread(res.aps_fire)),
        ("APScheduler SQLAlchemyJobStore: add + fire", both, spread(sums)),
    ]
    for label, rate, sp in rows:
        print(f"   {label:<46} {rate:>9,.0f} /s  {1e6 / rate:>7.1f} us each  spread {sp}")
    print(f"   APScheduler add_job: {add_us:.1f} us each (paused scheduler, SQLite WAL)")
    print(f"   ratio sweep / APScheduler fire only:   {sweep / fire:6.2f}")
    print(f"   ratio sweep / APScheduler add + fire:  {sweep / both:6.2f}")
    print(f"   ratio worker / APScheduler add + fire: {worker / both:6.2f}")
    print()
    print("2  Deadline to action (timer row deleted in the effects' transaction), worker process")
    for label, xs in (
        (f"written ahead ({len(res.ahead)} due over {sizes.latency_spread:g} s)", res.ahead),
        (f"written already due while idle ({len(res.written)})", res.written),
    ):
        print(
            f"   {label:<46} p50 {_pct(xs, 0.5) * 1e3:7.1f} ms  p99 {_pct(xs, 0.99) * 1e3:7.1f} "
            f"ms  max {max(xs) * 1e3:7.1f} ms  mean {statistics.fmean(xs) * 1e3:6.1f} ms"
        )
    print()
    small, large = res.rss["small"], res.rss["large"]
    print("3  Worker process RSS after sweeping a batch and idling 3 s (VmRSS / peak VmHWM)")
    print(
        f"   {sizes.rss_small:>9,} timers in lf_timers: {small[0]:7.1f} MiB / {small[1]:7.1f} MiB"
    )
    print(
        f"   {sizes.rss_large:>9,} timers in lf_timers: {large[0]:7.1f} MiB / {large[1]:7.1f} MiB"
    )
    growth = large[0] - small[0]
    print(f"   growth {growth:+.1f} MiB for {sizes.rss_large - sizes.rss_small:,} more timers")
    print()
    p99 = max(_pct(res.ahead, 0.99), _pct(res.written, 0.99))
    print("Targets")
    targets = [
        (
            "sweep >= 10x APScheduler job store (fire only)",
            f"{sweep / fire:.2f}x",
            sweep >= 10 * fire,
        ),
        (
            "sweep >= 10x APScheduler job store (add + fire)",
            f"{sweep / both:.2f}x",
            sweep >= 10 * both,
        ),
        ("p99 deadline to action < 1 s (both cases)", f"{p99 * 1e3:.0f} ms", p99 < 1.0),
        ("RSS flat: growth < 10 MiB", f"{growth:+.1f} MiB", growth < 10),
    ]
    for label, figure, ok in targets:
        print(f"  {label:<58} {figure:>12}  {verdict(ok)}")


def main(argv: list[str] | None = None) -> int:
    """Run every part and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, under a minute")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    res = Results()
    with tempfile.TemporaryDirectory(prefix="lf-bench-sweep-") as tmp:
        folder = Path(tmp)
        measure_rss(folder, "small", sizes.rss_small, sizes.rss_small, res)
        measure_rss(folder, "large", sizes.rss_small, sizes.rss_large, res)
        for rep in range(3):
            res.sweep.append(time_sweep(folder, sizes.timers, rep))
            progress("sweep", f"{sizes.timers / res.sweep[-1]:,.0f} timers/s")
            res.worker.append(time_worker(folder, sizes.timers, rep))
            progress("worker", f"{sizes.timers / res.worker[-1]:,.0f} timers/s")
            added, fired = time_apscheduler(folder, sizes.timers, rep)
            res.aps_add.append(added)
            res.aps_fire.append(fired)
            progress("apscheduler", f"add {added:.2f} s, fire {sizes.timers / fired:,.0f} jobs/s")
        measure_latency(folder, sizes, res)
    report(res, sizes, args.quick)
    print(f"\ntotal run time {time.perf_counter() - _T0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
