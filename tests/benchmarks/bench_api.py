"""leadflow HTTP API benchmark: what ``fire`` costs through the API, against ``Engine.fire``.

Run from the repository root (leadflow importable, with the ``serve`` extra)::

    python tests/benchmarks/bench_api.py            # full run, about 2-3 minutes on 2 cores
    python tests/benchmarks/bench_api.py --quick    # smaller counts, under a minute

1. **Sequential**: one httpx client sends ``POST .../leads/{id}/fire`` (``lose`` with
   ``{"lost_reason": "bad_data"}``, on a lead of its own, started before the clock runs) to a
   real ``leadflow serve`` (uvicorn, one worker, its access log on, as shipped) in a subprocess,
   over a kept-alive connection on 127.0.0.1. The baseline is ``Engine.fire`` of the same change
   in this process, on another file SQLite database of the same kind, with the same actor
   checks (an admin :class:`~leadflow.engine.access.Actor`). Repetitions alternate API and
   direct; the **median** repetition of each is kept. The ratio is API / direct time per
   request. Target (the issue's aim): the API costs less than **2x** the direct call.
2. **Concurrent**: 32 asyncio tasks sharing one ``httpx.AsyncClient`` (32 connections) fire
   on their own leads until a fixed number of requests is sent or a time cap passes; the
   latency of each request gives p50 and p99, and the count the throughput. For comparison,
   the p50 and p99 of the sequential direct calls are printed.

Progress goes to stderr and the report to stdout. It is a benchmark, not a test: it exits 0
whatever the figures are.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:
    import httpx

    from leadflow.engine import Engine
    from leadflow.engine.access import Actor
    from leadflow.engine.store import TokenStore
except ImportError as exc:  # pragma: no cover - a usage error, not a benchmark result
    sys.exit(f"cannot import leadflow ({exc}); install it with '.[serve]' (see README.md)")

REFERENCE = Path(__file__).resolve().parents[1] / "definitions" / "reference.yaml"
PROCESS = "inbound-lead"
LOSE_DATA: dict[str, Any] = {"lost_reason": "bad_data"}
LOSE: dict[str, Any] = {"trigger": "lose", "data": LOSE_DATA}
TARGET = 2.0
ACTOR = Actor(id="token:bench", role="admin")
_T0 = time.perf_counter()


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much work each part does."""

    per_rep: int
    """Fires per repetition, API and direct each."""
    repeats: int
    concurrent: int
    """Requests sent by the 32 concurrent clients (at most)."""
    cap_seconds: float
    """The concurrent part stops sending after this long."""
    clients: int = 32
    warmup: int = 50


QUICK = Sizes(per_rep=300, repeats=3, concurrent=1_500, cap_seconds=15)
FULL = Sizes(per_rep=2_500, repeats=5, concurrent=8_000, cap_seconds=60)


def step(message: str) -> None:
    print(f"[{time.perf_counter() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def lead_data(n: int) -> dict[str, Any]:
    return {"email": f"lead{n}@example.com", "score": 75, "segment": "smb"}


def start_leads(engine: Engine, ids: list[str]) -> None:
    """Start ``ids`` in ``new`` (one transaction per 1,000), before any clock runs."""
    items = [(lead_id, lead_data(n), "ann", "bench") for n, lead_id in enumerate(ids)]
    result = engine.start_many(PROCESS, items)
    if result.failed:
        raise RuntimeError(f"start_many failed: {result.failed[0]}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# -- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(db: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``leadflow serve`` (one uvicorn worker) on ``port``, answering /healthz; its output
    (the access log) goes to ``log``."""
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "leadflow.cli", "serve", "--db", db, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return server
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError("leadflow serve did not start") from None
            time.sleep(0.1)


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)


# -- 1. sequential -----------------------------------------------------------------------------


def api_fires(client: httpx.Client, ids: list[str]) -> list[float]:
    """Seconds per request, one request per lead, sequentially."""
    times = []
    for lead_id in ids:
        start = time.perf_counter()
        answer = client.post(f"/api/v1/processes/{PROCESS}/leads/{lead_id}/fire", json=LOSE)
        times.append(time.perf_counter() - start)
        if answer.status_code != 200:
            raise RuntimeError(f"fire through the API answered {answer.status_code}: {answer.text}")
    return times


def direct_fires(engine: Engine, ids: list[str]) -> list[float]:
    """Seconds per ``Engine.fire``, one per lead."""
    times = []
    for lead_id in ids:
        start = time.perf_counter()
        engine.fire(PROCESS, lead_id, "lose", LOSE_DATA, actor=ACTOR)
        times.append(time.perf_counter() - start)
    return times


# -- 2. concurrent -----------------------------------------------------------------------------


@dataclass(slots=True)
class Concurrent:
    latencies: list[float]
    errors: dict[str, int]
    """Non-200 statuses and transport errors (a dropped connection), with their counts."""
    seconds: float


async def concurrent_fires(url: str, token: str, ids: list[str], sizes: Sizes) -> Concurrent:
    """``sizes.clients`` tasks take the next lead and fire on it until the ids or the time run
    out; the latency of every request."""
    queue = iter(ids)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    limits = httpx.Limits(max_connections=sizes.clients, max_keepalive_connections=sizes.clients)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=60
    ) as client:
        began = time.perf_counter()
        deadline = began + sizes.cap_seconds

        async def worker() -> None:
            for lead_id in queue:
                if time.perf_counter() > deadline:
                    return
                start = time.perf_counter()
                try:
                    answer = await client.post(
                        f"/api/v1/processes/{PROCESS}/leads/{lead_id}/fire", json=LOSE
                    )
                except httpx.TransportError as exc:  # counted, not fatal: part of the figures
                    what = type(exc).__name__
                    errors[what] = errors.get(what, 0) + 1
                    continue
                latencies.append(time.perf_counter() - start)
                if answer.status_code != 200:
                    what = str(answer.status_code)
                    errors[what] = errors.get(what, 0) + 1

        await asyncio.gather(*(worker() for _ in range(sizes.clients)))
        seconds = time.perf_counter() - began
    return Concurrent(latencies, errors, seconds)


# -- the run -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Results:
    api: list[float]
    """Seconds per repetition."""
    direct: list[float]
    api_calls: list[float]
    direct_calls: list[float]
    concurrent: Concurrent


def run(sizes: Sizes, workdir: Path) -> Results:
    api_db = f"sqlite:///{workdir / 'api.db'}"
    direct_db = f"sqlite:///{workdir / 'direct.db'}"
    step("databases: deploy the reference definition, an admin token for the API")
    with Engine(api_db, create=True) as seed:
        seed.deploy(REFERENCE)
        token, _ = TokenStore(seed.store).create("bench", "admin", at=datetime.now(UTC))
    port = free_port()
    step(f"leadflow serve on 127.0.0.1:{port}, one worker")
    log = workdir / "serve.log"
    server = serve(api_db, port, log)
    url = f"http://127.0.0.1:{port}"
    api_times: list[float] = []
    direct_times: list[float] = []
    api_calls: list[float] = []
    direct_calls: list[float] = []
    try:
        with (
            Engine(api_db) as api_side,
            Engine(direct_db, create=True) as direct,
            httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as client,
        ):
            direct.deploy(REFERENCE)
            warm = [f"warm-{n}" for n in range(sizes.warmup)]
            start_leads(api_side, warm)
            start_leads(direct, warm)
            api_fires(client, warm)
            direct_fires(direct, warm)
            for rep in range(sizes.repeats):
                ids = [f"r{rep}-{n}" for n in range(sizes.per_rep)]
                start_leads(api_side, ids)
                start_leads(direct, ids)
                order = ("api", "direct") if rep % 2 == 0 else ("direct", "api")
                for side in order:
                    step(f"[{rep + 1}/{sizes.repeats}] {side}: {sizes.per_rep:,} fires")
                    if side == "api":
                        calls = api_fires(client, ids)
                        api_times.append(sum(calls))
                        api_calls += calls
                    else:
                        calls = direct_fires(direct, ids)
                        direct_times.append(sum(calls))
                        direct_calls += calls
            ids = [f"c-{n}" for n in range(sizes.concurrent)]
            start_leads(api_side, ids)
        step(
            f"{sizes.clients} concurrent clients: up to {sizes.concurrent:,} fires "
            f"or {sizes.cap_seconds:.0f} s"
        )
        concurrent = asyncio.run(concurrent_fires(url, token, ids, sizes))
    finally:
        stop(server)
        problems = [line for line in log.read_text().splitlines() if "ERROR" in line]
        for line in problems[:5]:
            step(f"server log: {line}")
    return Results(api_times, direct_times, api_calls, direct_calls, concurrent)


def report(results: Results, sizes: Sizes, quick: bool) -> None:
    n = sizes.per_rep
    api_s = statistics.median(results.api)
    direct_s = statistics.median(results.direct)
    api_us, direct_us = 1e6 * api_s / n, 1e6 * direct_s / n
    ratio = api_us / direct_us
    spread_api = max(results.api) / min(results.api)
    spread_direct = max(results.direct) / min(results.direct)
    print(
        f"leadflow HTTP API benchmark ({'quick' if quick else 'full'}): Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, httpx {httpx.__version__}, "
        f"{os.cpu_count()} CPUs; median of {sizes.repeats} interleaved repetitions"
    )
    print()
    print(f"1. fire 'lose' on its own lead, sequential, {n:,} per repetition, file SQLite")
    print(f"   {'':<38} {'req/s':>9} {'us/req':>9} {'spread':>7}")
    print(
        f"   {'API: httpx -> leadflow serve (1 worker)':<38} {n / api_s:>9,.0f} {api_us:>9,.0f} "
        f"{spread_api:>7.2f}"
    )
    print(
        f"   {'direct: Engine.fire (same process)':<38} {n / direct_s:>9,.0f} {direct_us:>9,.0f} "
        f"{spread_direct:>7.2f}"
    )
    added = api_us - direct_us
    print(f"   ratio API / direct per request: {ratio:.2f}x  (the API adds {added:,.0f} us)")
    print()
    c = results.concurrent
    done = len(c.latencies)
    print(f"2. {sizes.clients} concurrent clients (httpx.AsyncClient), API only")
    print(
        f"   {done:,} requests in {c.seconds:.1f} s: {done / c.seconds:,.0f} req/s; "
        f"errors: {c.errors or 'none'}"
    )
    if c.latencies:
        print(
            f"   latency p50 {1e3 * percentile(c.latencies, 0.5):.1f} ms, "
            f"p99 {1e3 * percentile(c.latencies, 0.99):.1f} ms"
        )
    api_calls, direct_calls = results.api_calls, results.direct_calls
    print(
        f"   for comparison, sequential: API p50 {1e3 * percentile(api_calls, 0.5):.2f} ms, "
        f"p99 {1e3 * percentile(api_calls, 0.99):.2f} ms; direct p50 "
        f"{1e3 * percentile(direct_calls, 0.5):.2f} ms, "
        f"p99 {1e3 * percentile(direct_calls, 0.99):.2f} ms"
    )
    print()
    print("Targets")
    verdict = "PASS" if ratio < TARGET else "MISS"
    print(f"   API per request < {TARGET:.0f}x Engine.fire: {ratio:.2f}x  {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small counts (under a minute)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="leadflow-bench-api-") as tmp:
        results = run(sizes, Path(tmp))
    report(results, sizes, args.quick)
    print(f"\ntotal run time {time.perf_counter() - _T0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
