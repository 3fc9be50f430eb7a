"""leadflow scale-out benchmark: fire, batch, sweep and dispatch throughput with 1, 2, 4 and 8
processes on one throwaway PostgreSQL server.

Run from the repository root (leadflow importable, PostgreSQL server binaries installed)::

    python tests/benchmarks/bench_scaleout.py                  # 1, 2, 4, 8 processes
    python tests/benchmarks/bench_scaleout.py --quick          # smaller counts
    python tests/benchmarks/bench_scaleout.py --processes 1,2  # other process counts

For each process count N:

1. **fire**: N client processes, each updating leads of its own through ``Engine.update`` (one
   commit per call) for a fixed time; changes/s of all together.
2. **sweep**: a backlog of overdue SLA marks, then N ``leadflow worker`` processes; marks/s
   from the first mark fired to the last.
3. **dispatch**: the outbox of those leads, N ``leadflow outbox run --until-idle`` processes
   delivering to a webhook receiver in its own process; deliveries/s from the first to the
   last.
4. **batch**: N client processes, each with leads of its own started beforehand, fire
   ``contact`` on them through ``Engine.fire_many``, 1,000 items per call (one transaction);
   fired items/s of all together, from the moment all of them are ready to the last one done.
   It runs last, so its leads' SLA marks and events cannot disturb the sweep and dispatch.

Repetitions (``--repeats``, default 3) each go through every process count in turn, on new
databases, so the counts are interleaved; the table shows each cell's median and each count's
speed-up over the first count (1 process by default), and the load average at the start and
the end.

The server is the tests' throwaway one (fsync off, so the figures show locks and CPU, not the
disk). It is a benchmark, not a test: the exit code is 0 whatever the figures are.
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

try:
    import sqlalchemy as sa
    from postgres_server import find_bindir, start_server
    from worker_support import ESCALATE, LEADFLOW, PROCESS, start_due_leads

    from leadflow.engine import Engine
except ImportError as exc:  # pragma: no cover - a usage error, not a benchmark result
    sys.exit(f"cannot import leadflow ({exc}); install it or set PYTHONPATH (see README.md)")

SECRET = "whsec_" + base64.b64encode(b"benchmark-secret-0123456789abcde").decode()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def count(url: str, sql: str) -> int:
    db = sa.create_engine(url)
    try:
        with db.connect() as conn:
            return int(conn.execute(sa.text(sql)).scalar() or 0)
    finally:
        db.dispose()


def _updates(url: str, prefix: str, seconds: float, ready: Any, results: Any) -> None:
    """One client process: start 50 leads of its own, wait for the others, then update them
    round-robin for ``seconds``; puts (updates, start, end) on ``results``."""
    with Engine(url) as engine:
        leads = [f"{prefix}-{i}" for i in range(50)]
        for lead in leads:
            engine.start(PROCESS, lead, {"email": f"{lead}@example.com"}, "ann")
        ready.wait(600)
        done = 0
        begin = time.time()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            engine.update(PROCESS, leads[done % len(leads)], {"priority": str(done)})
            done += 1
        results.put((done, begin, time.time()))


def fire_rate(url: str, processes: int, seconds: float) -> float:
    """Updates/s of ``processes`` clients together, all released at once by one barrier (wall
    time from the first to start to the last to end)."""
    return _together(_updates, url, f"f{processes}", processes, (seconds,), None)


BATCH = 1000
"""Items per ``fire_many`` call (its transaction size)."""


def _batches(url: str, prefix: str, batches: int, ready: Any, results: Any) -> None:
    """One client process: start ``batches`` x 1,000 leads, wait for the others, then fire
    ``contact`` on them with ``fire_many``; puts (items fired, start, end) on ``results``."""
    with Engine(url) as engine:
        leads = [f"{prefix}-{i}" for i in range(batches * BATCH)]
        for i in range(0, len(leads), BATCH):
            items = [(x, {"email": f"{x}@example.com"}, "ann") for x in leads[i : i + BATCH]]
            started = engine.start_many(PROCESS, items)
            if started.failed:
                raise SystemExit(f"start_many failed: {started.failed[0].error}")
        ready.wait(600)  # a client that failed breaks the barrier for the others
        begin, fired = time.time(), 0
        for i in range(0, len(leads), BATCH):
            result = engine.fire_many(PROCESS, [(x, "contact") for x in leads[i : i + BATCH]])
            fired += len(result.succeeded)
        results.put((fired, begin, time.time()))


def batch_rate(url: str, processes: int, batches: int) -> float:
    """Items/s of ``processes`` clients' ``fire_many`` calls together (wall time from the
    first to start to the last to end, all started at once)."""
    return _together(_batches, url, f"b{processes}", processes, (batches,), batches * BATCH)


def _together(
    target: Any, url: str, prefix: str, processes: int, args: tuple[Any, ...], each: int | None
) -> float:
    """Run ``target(url, prefix-i, *args, ready, results)`` in ``processes`` client processes
    released by one barrier; the items per second of all together (``each``: the items every
    client must report, checked)."""
    context = multiprocessing.get_context("spawn")
    ready, results = context.Barrier(processes), context.Queue()
    procs = [
        context.Process(target=target, args=(url, f"{prefix}-{i}", *args, ready, results))
        for i in range(processes)
    ]
    for proc in procs:
        proc.start()
    done: list[tuple[int, float, float]] = []
    try:
        while len(done) < processes:
            try:
                done.append(results.get(timeout=1.0))
            except queue.Empty:
                if any(p.exitcode not in (None, 0) for p in procs):
                    raise SystemExit("a client process failed (its traceback is above)") from None
    finally:
        for proc in procs:
            proc.join(60 if len(done) == processes else 0.1)
            if proc.is_alive():
                proc.terminate()
    total = sum(n for n, _, _ in done)
    if each is not None and total != processes * each:
        raise SystemExit(f"the clients did {total} of {processes * each} items")
    elapsed = max(end for _, _, end in done) - min(begin for _, begin, _ in done)
    return total / max(elapsed, 1e-3)


def timed(url: str, sql: str, total: int, procs: list[subprocess.Popen[bytes]]) -> float:
    """Per-second rate of ``sql``'s count going from its first change to ``total``."""
    first: float | None = None
    start_value = count(url, sql)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        value = count(url, sql)
        now = time.monotonic()
        if first is None and value > start_value:
            first, start_value = now, value
        if value >= total:
            break
        if all(p.poll() is not None for p in procs):
            break
        time.sleep(0.05)
    else:
        raise SystemExit(f"timed out at {value} of {total}")
    elapsed = max(time.monotonic() - (first or time.monotonic()), 1e-3)
    return (total - start_value) / elapsed if first else 0.0


def sweep_rate(url: str, processes: int, leads: int) -> float:
    with Engine(url) as engine:
        start_due_leads(engine, leads, -timedelta(minutes=5), prefix=f"s{processes}")
    before = count(url, "SELECT count(*) FROM lf_history WHERE kind = 'sla'")
    procs = [_spawn(["worker", "--db", url, "--batch", "200"]) for _ in range(processes)]
    try:
        sql = "SELECT count(*) FROM lf_history WHERE kind = 'sla'"
        return timed(url, sql, before + leads, procs)
    finally:
        _stop(procs)


def dispatch_rate(url: str, processes: int, config: Path) -> float:
    """The ``archive`` adapter subscribes to sla_breached: one delivery per swept mark."""
    total = count(url, "SELECT count(*) FROM lf_outbox WHERE type = 'leadflow.lead.sla_breached'")
    procs = [
        _spawn(["outbox", "run", "--db", url, "--config", str(config), "--until-idle"])
        for _ in range(processes)
    ]
    try:
        sql = "SELECT count(*) FROM lf_deliveries WHERE status = 'delivered'"
        return timed(url, sql, total, procs)
    finally:
        _stop(procs)


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LF_BENCH_SECRET": SECRET}
    return subprocess.Popen(
        [sys.executable, "-c", LEADFLOW, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        proc.wait(60)


def process_counts(text: str) -> list[int]:
    """``--processes``: comma-separated counts from 1 to 64, like ``1,2,4,8``."""
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or any(not 1 <= n <= 64 for n in counts):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give process counts from 1 to 64 separated by commas, like 1,2,4,8"
        )
    return counts


Row = tuple[int, float, float, float, float]
"""Processes; fire/s, fire_many items/s, sweep marks/s, deliveries/s."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument(
        "--processes",
        type=process_counts,
        default=[1, 2, 4, 8],
        help="process counts to measure, comma-separated (default 1,2,4,8)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="repetitions (default 3)")
    args = parser.parse_args()
    quick = args.quick
    seconds, leads, batches = (3.0, 2000, 2) if quick else (10.0, 10_000, 10)
    receiver = subprocess.Popen(
        [sys.executable, str(TESTS / "outbox_receiver.py")], stdout=subprocess.PIPE, text=True
    )
    assert receiver.stdout is not None
    port = int(receiver.stdout.readline())
    runs: dict[int, list[Row]] = {n: [] for n in args.processes}
    load = os.getloadavg()
    try:
        with start_server(find_bindir()) as server, tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "leadflow.toml"
            config.write_text(
                f'[adapters.archive]\ntype = "webhook"\nurl = "http://127.0.0.1:{port}/hook"\n'
                'secret = "env:LF_BENCH_SECRET"\n\n[dispatch]\nconcurrency = 8\n'
            )
            for rep in range(args.repeats):
                for processes in args.processes:
                    url = server.create_database()
                    runs[processes].append(_one(url, processes, config, seconds, leads, batches))
                    server.drop_database(url.rsplit("/", 1)[1])
                    log(f"repetition {rep + 1}: {processes} process(es) done")
    finally:
        receiver.terminate()
        receiver.wait()
    rows = [_median(runs[n]) for n in args.processes]
    _report(rows, quick, args.repeats, (load[0], os.getloadavg()[0]))


def _one(url: str, processes: int, config: Path, seconds: float, leads: int, batches: int) -> Row:
    """The four rates with ``processes`` processes, on a new database ``url``."""
    with Engine(url, create=True) as engine:
        engine.deploy(ESCALATE)
    log(f"{processes} process(es): fire ...")
    fire = fire_rate(url, processes, seconds)
    log(f"{processes} process(es): sweep ...")
    sweep = sweep_rate(url, processes, leads)
    log(f"{processes} process(es): dispatch ...")
    dispatch = dispatch_rate(url, processes, config)
    log(f"{processes} process(es): fire_many ...")
    batch = batch_rate(url, processes, batches)
    return (processes, fire, batch, sweep, dispatch)


def _median(rows: list[Row]) -> Row:
    """Each rate's median over the repetitions (the process count is the same in all)."""
    fire, batch, sweep, dispatch = (statistics.median(r[i] for r in rows) for i in range(1, 5))
    return (rows[0][0], fire, batch, sweep, dispatch)


def _report(rows: list[Row], quick: bool, repeats: int, load: tuple[float, float]) -> None:
    """The curve: each part's rate and its speed-up over the first process count."""
    quick_note = " (--quick)" if quick else ""
    print(f"leadflow scale-out on one PostgreSQL{quick_note}, {os.cpu_count()} CPUs")
    print(f"median of {repeats} interleaved repetitions; load average {load[0]:.2f} at the")
    print(f"start, {load[1]:.2f} at the end")
    names = ("fire/s", "fire_many items/s", "sweep marks/s", "deliveries/s")
    print(f"| processes | {' | '.join(names)} |")
    print("|---:|" + "---:|" * len(names))
    base = rows[0]
    for row in rows:
        cells = [
            f"{row[i]:,.0f} ({row[i] / base[i]:.2f}x)" if base[i] else f"{row[i]:,.0f} (-)"
            for i in range(1, len(row))
        ]
        print(f"| {row[0]} | {' | '.join(cells)} |")
    print(f"(speed-up in brackets: each rate over the one with {base[0]} process(es))")


if __name__ == "__main__":
    main()
