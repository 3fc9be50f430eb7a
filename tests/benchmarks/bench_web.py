"""leadflow web app benchmark: the pipeline board's first page with 10,000 open leads.

Run from the repository root (leadflow importable, with the ``serve`` extra)::

    python tests/benchmarks/bench_web.py            # 10,000 leads
    python tests/benchmarks/bench_web.py --leads 2000

The test process ``deals`` (tests/definitions/web/deals.yaml) gets that many open leads with an
amount, half in ``new`` and half in ``proposal``, spread over three owners, in a SQLite file.
The app is served by uvicorn on 127.0.0.1 (in a thread of this process); one httpx client
signed in through the form asks for ``/app/p/deals`` (an admin: every lead) and for
``/app/p/deals?owner=ana`` again and again; the median and p90 of the wall-clock time per
page are printed with the page size. Target (issue 11): the first page under 300 ms.
It is a benchmark, not a test: it exits 0 whatever the figures are.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

try:
    import httpx
    from live_server import Served

    from leadflow.engine import Engine
    from leadflow.engine.store import TokenStore
    from leadflow.service import create_app
except ImportError as exc:  # pragma: no cover - a usage error, not a benchmark result
    sys.exit(f"cannot import leadflow ({exc}); install it with '.[serve]' (see README.md)")

DEALS = Path(__file__).resolve().parents[1] / "definitions" / "web" / "deals.yaml"
TARGET_MS = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        engine.deploy(DEALS)
        owners = ("ana", "ben", "cleo")
        items = [
            (f"d{i:06}", {"amount": 100 + i % 900, "budget": 1}, owners[i % 3])
            for i in range(args.leads)
        ]
        t0 = time.perf_counter()
        engine.start_many("deals", items)
        half = [(lead_id, "propose", None, None) for lead_id, _, _ in items[: args.leads // 2]]
        engine.fire_many("deals", half)
        print(f"set up {args.leads} leads in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        token, _ = TokenStore(engine.store).create("bench", "admin", at=datetime.now(UTC))
        with Served(create_app(engine)) as served:
            client = httpx.Client(base_url=served.url, timeout=30)
            assert client.post("/app/sign-in", data={"token": token}).status_code == 303
            for path in ("/app/p/deals", "/app/p/deals?owner=ana"):
                client.get(path)  # warm: compiled definitions, connections
                times = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    page = client.get(path)
                    times.append((time.perf_counter() - start) * 1000)
                    assert page.status_code == 200
                times.sort()
                median = statistics.median(times)
                p90 = times[int(len(times) * 0.9) - 1]
                verdict = "meets" if median < TARGET_MS else "misses"
                print(
                    f"{path}: median {median:.0f} ms, p90 {p90:.0f} ms, "
                    f"{len(page.content) // 1024} KiB ({verdict} the {TARGET_MS:.0f} ms target)"
                )
            client.close()
        engine.close()


if __name__ == "__main__":
    main()
