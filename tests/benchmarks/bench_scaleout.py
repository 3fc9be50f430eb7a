"""leadflow scale-out benchmark: fire, sweep and dispatch throughput with 1, 2 and 4 processes
on one throwaway PostgreSQL server.

Run from the repository root (leadflow importable, PostgreSQL server binaries installed)::

    python tests/benchmarks/bench_scaleout.py            # 1, 2, 4 processes, about 3 minutes
    python tests/benchmarks/bench_scaleout.py --quick    # smaller counts, about a minute

For each process count N:

1. **fire**: N client processes, each updating leads of its own through ``Engine.update`` (one
   commit per call) for a fixed time; changes/s of all together.
2. **sweep**: a backlog of overdue SLA marks, then N ``leadflow worker`` processes; marks/s
   from the first mark fired to the last.
3. **dispatch**: the outbox of those leads, N ``leadflow outbox run --until-idle`` processes
   delivering to a webhook receiver in its own process; deliveries/s from the first to the
   last.

The server is the tests' throwaway one (fsync off, so the figures show locks and CPU, not the
disk). It is a benchmark, not a test: the exit code is 0 whatever the figures are.
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

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


def _updates(url: str, prefix: str, seconds: float) -> int:
    """One client process: update its own leads round-robin for ``seconds``."""
    with Engine(url) as engine:
        leads = [f"{prefix}-{i}" for i in range(50)]
        for lead in leads:
            engine.start(PROCESS, lead, {"email": f"{lead}@example.com"}, "ann")
        done = 0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            engine.update(PROCESS, leads[done % len(leads)], {"priority": str(done)})
            done += 1
        return done


def fire_rate(url: str, processes: int, seconds: float) -> float:
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        work = [(url, f"f{processes}-{i}", seconds) for i in range(processes)]
        counts = pool.starmap(_updates, work)
    return sum(counts) / seconds


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, about a minute")
    quick = parser.parse_args().quick
    seconds, leads = (3.0, 2000) if quick else (10.0, 10_000)
    receiver = subprocess.Popen(
        [sys.executable, str(TESTS / "outbox_receiver.py")], stdout=subprocess.PIPE, text=True
    )
    assert receiver.stdout is not None
    port = int(receiver.stdout.readline())
    rows: list[tuple[int, float, float, float]] = []
    try:
        with start_server(find_bindir()) as server, tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "leadflow.toml"
            config.write_text(
                f'[adapters.archive]\ntype = "webhook"\nurl = "http://127.0.0.1:{port}/hook"\n'
                'secret = "env:LF_BENCH_SECRET"\n\n[dispatch]\nconcurrency = 8\n'
            )
            for processes in (1, 2, 4):
                url = server.create_database()
                with Engine(url, create=True) as engine:
                    engine.deploy(ESCALATE)
                log(f"{processes} process(es): fire ...")
                fire = fire_rate(url, processes, seconds)
                log(f"{processes} process(es): sweep ...")
                sweep = sweep_rate(url, processes, leads)
                log(f"{processes} process(es): dispatch ...")
                dispatch = dispatch_rate(url, processes, config)
                rows.append((processes, fire, sweep, dispatch))
    finally:
        receiver.terminate()
        receiver.wait()
    _report(rows, quick)


def _report(rows: list[tuple[int, float, float, float]], quick: bool) -> None:
    quick_note = " (--quick)" if quick else ""
    print(f"leadflow scale-out on one PostgreSQL{quick_note}, {os.cpu_count()} CPUs")
    print(f"{'processes':>9} {'fire/s':>10} {'sweep marks/s':>14} {'deliveries/s':>13}")
    for processes, fire, sweep, dispatch in rows:
        print(f"{processes:>9} {fire:>10,.0f} {sweep:>14,.0f} {dispatch:>13,.0f}")
    base = rows[0]

    def scale(i: int) -> str:
        return " ".join(f"{row[i] / base[i]:.2f}x" if base[i] else "-" for row in rows)

    print(f"scaling vs 1 process: fire {scale(1)}; sweep {scale(2)}; dispatch {scale(3)}")


if __name__ == "__main__":
    main()
