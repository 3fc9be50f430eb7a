"""Benchmark of ``leadflow simulate``: simulated leads per second, replay and generator.

Run from the repository root (leadflow importable)::

    python tests/benchmarks/bench_simulate.py                 # Maven replay + 20,000 generated
    python tests/benchmarks/bench_simulate.py --leads 100000  # the issue's full figure
    python tests/benchmarks/bench_simulate.py --quick         # 2,000 generated leads

1. **Replay**: the Maven CRM sample (8,800 opportunities, ``examples/simulate/maven.yaml``) on
   ``examples/simulate/maven-crm.yaml`` (one 60-day SLA in engaging).
2. **Generator**: ``examples/simulate/inbound-generator.yaml`` on the shipped inbound-lead
   process (routing, two SLAs with warnings, reassignment, tasks and an auto-close), with
   ``--leads`` leads. The time for 100,000 leads is extrapolated linearly from the rate and
   said so, unless ``--leads`` is at least 100,000.
3. **Baseline**, measured in the same run: as many bare ``start_many`` starts (one transaction
   per 1,000, no SLA, no routing, the same in-memory SQLite) as each part simulated leads. The
   ratio says how many bare starts' worth of time one simulated lead costs: its starts,
   calls, triggers and SLA marks all go through the engine's planner.

A benchmark, not a test: it always exits 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

try:
    from leadflow.definitions import library_path, load_definition
    from leadflow.engine import Engine
    from leadflow.engine.simulate import GeneratorSpec, load_spec, simulate
except ImportError as exc:  # pragma: no cover - a usage error, not a benchmark result
    sys.exit(f"cannot import leadflow ({exc}); install it or set PYTHONPATH")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "simulate"
MAVEN = Path("/work/shared/datasets/maven_crm_sales_opportunities/sales_pipeline.csv")
TARGET_LEADS = 100_000
TARGET_SECONDS = 120.0


def bare_starts(n: int) -> float:
    """Seconds for ``n`` bare start_many starts of a process without SLAs or routing."""
    definition = load_definition(library_path("inbound-lead"))
    bare = definition.model_copy(update={"slas": {}, "routing": (), "process": "bare"})
    items = [{"lead_id": f"b{i}", "data": {"email": "a@example.com"}} for i in range(n)]
    with Engine("sqlite://") as engine:
        engine.deploy(bare)
        started = time.perf_counter()
        for k in range(0, n, 10_000):
            engine.start_many("bare", items[k : k + 10_000])
        return time.perf_counter() - started


_shown: set[int] = set()


def progress(done: int, total: int) -> None:
    """A progress line on stderr every 10%."""
    tenth = done * 10 // max(total, 1)
    if tenth not in _shown:
        _shown.add(tenth)
        print(f"  {done:,}/{total:,} leads started", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20_000, help="generated leads")
    parser.add_argument("--quick", action="store_true", help="2,000 generated leads")
    args = parser.parse_args()
    leads = 2_000 if args.quick else args.leads
    rows = []
    if MAVEN.exists():
        print("replaying the Maven CRM sample ...", file=sys.stderr)
        spec = load_spec(EXAMPLES / "maven.yaml").model_copy(update={"path": MAVEN})
        result = simulate(EXAMPLES / "maven-crm.yaml", spec)
        base = bare_starts(result.leads)
        rows.append(("Maven replay", result, base))
    else:
        print(f"the Maven CRM sample is not at {MAVEN}: replay skipped", file=sys.stderr)
    print(f"generating {leads:,} inbound leads ...", file=sys.stderr)
    spec = load_spec(EXAMPLES / "inbound-generator.yaml")
    assert isinstance(spec, GeneratorSpec)
    result = simulate(library_path("inbound-lead"), spec, seed=1, leads=leads, progress=progress)
    base = bare_starts(result.leads)
    rows.append(("generator, SLAs", result, base))
    print()
    print(
        f"{'part':<16} {'leads':>8} {'changes':>8} {'marks':>8} {'wall s':>7} "
        f"{'leads/s':>8} {'bare starts/s':>13} {'ratio':>6}"
    )
    for name, r, b in rows:
        bare_rate = r.leads / b
        print(
            f"{name:<16} {r.leads:>8,} {r.changes:>8,} {r.marks:>8,} {r.wall_seconds:>7.1f} "
            f"{r.leads_per_second:>8,.0f} {bare_rate:>13,.0f} "
            f"{r.leads_per_second / bare_rate:>6.3f}"
        )
    gen = rows[-1][1]
    estimate = TARGET_LEADS / gen.leads_per_second
    how = "measured" if gen.leads >= TARGET_LEADS else f"extrapolated from {gen.leads:,} leads"
    verdict = "PASS" if estimate <= TARGET_SECONDS else "MISS"
    print()
    print(
        f"Target: {TARGET_LEADS:,} leads with SLAs in under {TARGET_SECONDS:.0f} s: "
        f"{estimate:.0f} s ({how}) {verdict}"
    )


if __name__ == "__main__":
    main()
