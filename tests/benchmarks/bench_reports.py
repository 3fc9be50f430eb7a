"""leadflow reports benchmark: every report over 100,000 leads, against a bare scan of history.

Run from the repository root (leadflow importable, e.g. installed or via PYTHONPATH)::

    python tests/benchmarks/bench_reports.py           # 100,000 leads (building takes ~1 min)
    python tests/benchmarks/bench_reports.py --quick   # 10,000 leads
    python tests/benchmarks/bench_reports.py --postgres postgresql+psycopg://...  # an empty db

The database is built with ``start_many`` / ``fire_many`` on the ``deals`` fixture process
(tests/definitions/reports/deals.yaml) over a simulated year: every lead starts, most are
contacted, many get a proposal, some are revised, won or lost. Then each
report runs 3 times, interleaved with two baselines, and the fastest run is kept:

* ``count(*)``: ``SELECT count(*) FROM lf_history`` (what the brief asks to compare with);
* ``scan``: fetching the history rows one report reads (the join on lf_instances in
  (instance, seq) order) without doing anything with them: the floor of a streaming report.

``ratio`` is a report's seconds over the baseline's. It is a benchmark, not a test: the exit
code is 0 whatever the figures are.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

try:
    import sqlalchemy as sa

    from leadflow.engine import Engine
    from leadflow.engine import reports as rp
except ImportError as exc:  # pragma: no cover - a usage error, not a benchmark result
    sys.exit(f"cannot import leadflow ({exc}); install it or set PYTHONPATH (see README.md)")

DEALS = Path(__file__).resolve().parents[1] / "definitions" / "reports" / "deals.yaml"
P = "deals"
START = datetime(2025, 1, 1, tzinfo=UTC)
AS_OF = START + timedelta(days=365)
REPEATS = 3


def log(message: str) -> None:
    """Progress on stderr (the report goes to stdout)."""
    print(message, file=sys.stderr, flush=True)


def build(engine: Engine, leads: int, seed: int = 7) -> int:
    """Start ``leads`` deals over a year and move them along; returns the history rows."""
    rng = random.Random(seed)
    engine.deploy(DEALS)
    starts: list[dict[str, Any]] = []
    moves: list[list[dict[str, Any]]] = [[] for _ in range(6)]
    reasons = ["price", "competitor", "no_decision", "timing"]
    for k in range(leads):
        lead = f"lead-{k:06d}"
        at = START + timedelta(days=rng.uniform(0, 330))
        data = {"amount": rng.choice([500, 1000, 5000, 20000])}
        starts.append({"lead_id": lead, "data": data, "owner": f"rep-{k % 25}", "at": at})
        revised = ["revise", "propose"] if rng.random() < 0.3 else []
        for step, trigger in enumerate(["contact", "propose", *revised, "win"]):
            at += timedelta(days=rng.expovariate(1 / 12))
            if at > AS_OF or rng.random() < 0.15:
                break
            if rng.random() < 0.2:
                reason = {"lost_reason": rng.choice(reasons)}
                moves[step].append({"lead_id": lead, "trigger": "lose", "data": reason, "at": at})
                break
            moves[step].append({"lead_id": lead, "trigger": trigger, "at": at})
    log(f"start_many {leads:,} leads")
    engine.start_many(P, starts)
    for step, items in enumerate(moves):
        if items:
            log(f"fire_many step {step + 1}: {len(items):,} transitions")
            result = engine.fire_many(P, items)
            if result.failed:
                log(f"  {len(result.failed):,} failed, e.g. {result.failed[0].error}")
    with engine.store.sa.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM lf_history")).scalar_one())


def count_history(engine: Engine) -> None:
    """The baseline: a bare count of lf_history."""
    with engine.store.sa.connect() as conn:
        conn.execute(sa.text("SELECT count(*) FROM lf_history")).scalar_one()


def scan_history(engine: Engine) -> None:
    """The streaming floor: fetch the joined rows a report reads, do nothing with them."""
    stmt = sa.text(
        "SELECT h.instance_id, i.lead_id, i.definition_version, i.owner, h.at, h.kind, "
        "h.to_stage FROM lf_history h JOIN lf_instances i ON i.id = h.instance_id "
        "WHERE i.process = :p AND h.kind IN ('started', 'transition') "
        "ORDER BY h.instance_id, h.seq"
    )
    with engine.store.sa.connect() as conn:
        for _ in conn.execution_options(yield_per=5000).execute(stmt, {"p": P}):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 leads instead of 100,000")
    parser.add_argument("--leads", type=int, default=None, help="how many leads")
    parser.add_argument("--postgres", metavar="URL", help="an empty PostgreSQL database")
    args = parser.parse_args()
    leads = args.leads or (10_000 if args.quick else 100_000)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres or f"sqlite:///{Path(tmp) / 'bench.db'}"
        with Engine(url, create=True) as engine:
            began = time.perf_counter()
            rows = build(engine, leads)
            log(f"built in {time.perf_counter() - began:.1f} s: {rows:,} history rows")
            run(engine, leads, rows)


def run(engine: Engine, leads: int, rows: int) -> None:
    """Time every report and both baselines; print the table."""
    parts: dict[str, Callable[[], object]] = {
        "count(*) of lf_history": lambda: count_history(engine),
        "scan of history (floor)": lambda: scan_history(engine),
        "pipeline": lambda: rp.pipeline(engine, P, as_of=AS_OF),
        "funnel (month cohorts)": lambda: rp.funnel(engine, P, as_of=AS_OF),
        "time_in_stage": lambda: rp.time_in_stage(engine, P, as_of=AS_OF),
        "stuck (stage p90)": lambda: rp.stuck(engine, P, as_of=AS_OF),
        "loss_reasons": lambda: rp.loss_reasons(engine, P, as_of=AS_OF),
        "owners": lambda: rp.owners(engine, P, as_of=AS_OF),
        "forecast markov (4 months)": lambda: rp.forecast(engine, P, as_of=AS_OF),
        "forecast naive (4 months)": lambda: rp.forecast(engine, P, as_of=AS_OF, method="naive"),
        "backtest (split -4 months)": lambda: rp.backtest(
            engine, P, split_at=AS_OF - timedelta(days=122), as_of=AS_OF
        ),
    }
    best = {name: float("inf") for name in parts}
    worst = dict.fromkeys(parts, 0.0)
    for repeat in range(REPEATS):
        log(f"repetition {repeat + 1} of {REPEATS}")
        for name, call in parts.items():
            began = time.perf_counter()
            call()
            took = time.perf_counter() - began
            best[name] = min(best[name], took)
            worst[name] = max(worst[name], took)
    count, floor = best["count(*) of lf_history"], best["scan of history (floor)"]
    print(f"leadflow reports over {leads:,} leads, {rows:,} history rows ({engine.store.dialect})")
    print(f"best of {REPEATS}; spread = slowest/fastest repetition\n")
    head = f"{'part':30s} {'seconds':>9s} {'spread':>7s} {'x count(*)':>11s} {'x scan':>8s}"
    print(head)
    print("-" * len(head))
    for name in parts:
        s = best[name]
        print(f"{name:30s} {s:9.3f} {worst[name] / s:7.2f} {s / count:11.1f} {s / floor:8.2f}")
    reports = [n for n in parts if "lf_history" not in n and "floor" not in n]
    slowest = max(reports, key=lambda n: best[n])
    verdict = "PASS" if best[slowest] < 10 else "MISS"
    print(
        f"\nTarget: every report over {leads:,} leads in seconds (< 10 s): {verdict} "
        f"(slowest: {slowest}, {best[slowest]:.2f} s)"
    )


if __name__ == "__main__":
    main()
