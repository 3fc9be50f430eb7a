"""leadflow outbox benchmark: delivery throughput and what the outbox costs ``fire``.

Run from the repository root (leadflow importable)::

    python tests/benchmarks/bench_outbox.py            # full run, about 2 minutes
    python tests/benchmarks/bench_outbox.py --quick    # smaller counts, under 30 seconds

1. **Delivery**: events/s from the outbox (fan-out included) to a local webhook receiver that
   runs in its own process (``tests/outbox_receiver.py``, so it does not share our GIL), with
   the real ``webhook`` adapter (Standard Webhooks signatures, one POST per event). The same
   database snapshot is dispatched with concurrency 1 (sequential) and 8 and 16 threads; the
   ratio is concurrent / sequential. Target: >= 2,000 events/s concurrent.
2. **fire**: ``Engine.fire`` (commit per call, file SQLite) on a definition with subscriptions
   and on the same definition without any. The engine writes the outbox row either way (fan-out
   is the dispatcher's job), so the two should match. The outbox INSERT's own cost is measured
   with a raw ``sqlite3`` loop writing the rows a fire writes (SELECT, UPDATE, history INSERT,
   commit) with and without the outbox INSERT; its share of the engine's fire is printed.
   Target: the outbox costs fire at most 15%.

Each timed part runs 3 times, interleaved, and the fastest run is kept. It is a benchmark, not
a test: the exit code is 0 whatever the figures are.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

try:
    from leadflow.adapters import Secret
    from leadflow.adapters.outbox import Dispatcher, DispatchOptions
    from leadflow.adapters.webhook import WebhookAdapter
    from leadflow.engine import Engine
    from leadflow.engine._events import event_id
except ImportError as exc:  # pragma: no cover - a usage error, not a benchmark result
    sys.exit(f"cannot import leadflow ({exc}); install it or set PYTHONPATH (see README.md)")

TESTS = Path(__file__).resolve().parents[1]
DEFINITION = TESTS / "definitions" / "outbox" / "subscribed.yaml"
PROCESS = "outbox-lead"
SECRET = Secret("whsec_" + base64.b64encode(b"benchmark-secret-0123456789abcde").decode())
REPEATS = 3


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- 1. delivery -------------------------------------------------------------------------------


def prepare_outbox(path: Path, leads: int, updates: int) -> int:
    """A database with ``leads * (1 + updates)`` undispatched events; returns the count."""
    with Engine(f"sqlite:///{path}") as engine:
        engine.deploy(DEFINITION)
        engine.start_many(PROCESS, [(f"L{i}", {"email": f"{i}@example.com"}) for i in range(leads)])
        for n in range(updates):
            for i in range(leads):
                engine.update(PROCESS, f"L{i}", {"score": n + 1})
    return leads * (1 + updates)


def start_receiver(latency_ms: float = 0) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, str(TESTS / "outbox_receiver.py"), "--latency", str(latency_ms)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}"


def received(base: str) -> int:
    with urllib.request.urlopen(f"{base}/count", timeout=10) as response:
        return int(response.read())


def dispatch_all(
    snapshot: Path, work: Path, base: str, concurrency: int, batch: int = 1
) -> tuple[float, int]:
    """Seconds to deliver every event of a fresh copy of ``snapshot``; events delivered."""
    for suffix in ("", "-wal", "-shm"):
        target = Path(f"{work}{suffix}")
        if target.exists():
            target.unlink()
    shutil.copyfile(snapshot, work)
    webhook = WebhookAdapter("crm", f"{base}/hook", [SECRET], timeout=10.0, batch=batch)
    options = DispatchOptions(concurrency=concurrency, batch_size=500, fanout_batch=2000)
    before = received(base)
    with Engine(f"sqlite:///{work}") as engine, Dispatcher(engine, {"crm": webhook}, options) as d:
        start = time.perf_counter()
        while d.dispatch_once():
            pass
        elapsed = time.perf_counter() - start
        delivered = d.stats.delivered
    webhook.close()
    assert received(base) - before == delivered, "the receiver missed events"
    return elapsed, delivered


# -- 2. fire -----------------------------------------------------------------------------------


def fire_rate(path: Path, definition: str, process: str, leads: int) -> float:
    """Fires/s of ``contact`` (commit per call) on ``leads`` new leads of ``process``."""
    with Engine(f"sqlite:///{path}") as engine:
        engine.deploy(definition)
        engine.start_many(process, [(f"F{i}", {"email": f"{i}@example.com"}) for i in range(leads)])
        start = time.perf_counter()
        for i in range(leads):
            engine.fire(process, f"F{i}", "contact")
        return leads / (time.perf_counter() - start)


def raw_rate(path: Path, leads: int, with_outbox: bool) -> float:
    """Fires/s of the same rows written with the stdlib sqlite3 module, with or without the
    outbox INSERT (the schema is the engine's, in a file it created)."""
    with Engine(f"sqlite:///{path}") as engine:
        engine.deploy(DEFINITION)
        engine.start_many(PROCESS, [(f"R{i}", {"email": f"{i}@example.com"}) for i in range(leads)])
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    details = json.dumps({"trigger": "contact", "criteria": []})
    # the envelope is built by the engine either way: only the INSERT is timed here
    sample = conn.execute("SELECT payload FROM lf_outbox LIMIT 1").fetchone()[0]
    # time-ordered UUIDv7 ids, as the engine writes them (random ids index more slowly)
    idents = [event_id(datetime.now(UTC)) for _ in range(leads)]
    start = time.perf_counter()
    for i in range(leads):
        conn.execute("BEGIN")
        row = conn.execute(
            "SELECT id, version, data FROM lf_instances WHERE process = ? AND lead_id = ?",
            (PROCESS, f"R{i}"),
        ).fetchone()
        version = row[1] + 1
        conn.execute(
            "UPDATE lf_instances SET stage = ?, version = ?, updated_at = ?, "
            "stage_entered_at = ?, stage_seq = ? WHERE id = ? AND version = ?",
            ("contacted", version, now, now, version, row[0], row[1]),
        )
        conn.execute(
            "INSERT INTO lf_history (instance_id, seq, at, kind, trigger, from_stage, "
            "to_stage, actor, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row[0], version, now, "transition", "contact", "new", "contacted", None, details),
        )
        if with_outbox:
            conn.execute(
                "INSERT INTO lf_outbox (event_id, instance_id, seq, type, at, payload) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (idents[i], row[0], version, "leadflow.lead.stage_changed", now, sample),
            )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return leads / elapsed


def best(runs: list[float]) -> tuple[float, float]:
    """(best rate, spread = best / worst)."""
    return max(runs), max(runs) / min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    args = parser.parse_args()
    leads, updates = (500, 3) if args.quick else (2000, 4)
    fire_leads = 800 if args.quick else 4000
    levels = ((1, 1), (8, 1), (16, 1), (1, 100), (8, 100))  # (concurrency, events per request)
    tmp = Path(tempfile.mkdtemp(prefix="lf-bench-outbox-"))
    receiver, base = start_receiver()
    try:
        log(f"preparing {leads * (1 + updates):,} outbox events ...")
        snapshot = tmp / "snapshot.db"
        events = prepare_outbox(snapshot, leads, updates)
        rates: dict[tuple[int, int], list[float]] = {c: [] for c in levels}
        fires: dict[str, list[float]] = {"subscribed": [], "quiet": [], "raw+": [], "raw-": []}
        quiet = DEFINITION.read_text().split("subscriptions:")[0].replace(PROCESS, "quiet")
        for rep in range(REPEATS):
            for c in levels:
                log(f"[{rep + 1}/{REPEATS}] dispatch, concurrency {c[0]}, batch {c[1]}")
                elapsed, delivered = dispatch_all(snapshot, tmp / "work.db", base, *c)
                assert delivered == events
                rates[c].append(delivered / elapsed)
            log(f"[{rep + 1}/{REPEATS}] fire with and without subscriptions, raw sqlite3")
            fires["subscribed"].append(
                fire_rate(tmp / f"s{rep}.db", str(DEFINITION), PROCESS, fire_leads)
            )
            fires["quiet"].append(fire_rate(tmp / f"q{rep}.db", quiet, "quiet", fire_leads))
            fires["raw+"].append(raw_rate(tmp / f"r{rep}.db", fire_leads, True))
            fires["raw-"].append(raw_rate(tmp / f"n{rep}.db", fire_leads, False))
        log("dispatch to a receiver answering after 20 ms (a remote API's round trip)")
        remote, remote_base = start_receiver(latency_ms=20)
        try:
            small = tmp / "small.db"
            remote_events = prepare_outbox(small, 200, 1)
            remote_rates = {
                c: remote_events / dispatch_all(small, tmp / "remote.db", remote_base, c)[0]
                for c in (1, 16, 64)
            }
        finally:
            remote.terminate()
            remote.wait()
    finally:
        receiver.terminate()
        receiver.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"leadflow outbox benchmark ({'quick' if args.quick else 'full'}), {os.cpu_count()} CPUs")
    print(f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}; best of {REPEATS}")
    print()
    print(f"1. outbox -> webhook receiver (own process), {events:,} events, fan-out included")
    seq_rate = best(rates[(1, 1)])[0]
    print(
        f"   {'concurrency':>12} {'per request':>12} {'events/s':>10} {'vs seq':>8} {'spread':>7}"
    )
    for c in levels:
        rate, spread = best(rates[c])
        print(f"   {c[0]:>12} {c[1]:>12} {rate:>10,.0f} {rate / seq_rate:>7.2f}x {spread:>7.2f}")
    print()
    print(f"   with 20 ms receiver latency, one event per request, {remote_events:,} events:")
    for c, rate in remote_rates.items():
        print(f"   {c:>12} {1:>12} {rate:>10,.0f} {rate / remote_rates[1]:>7.2f}x")
    print()
    sub, sub_spread = best(fires["subscribed"])
    qui, qui_spread = best(fires["quiet"])
    raw_with, _ = best(fires["raw+"])
    raw_without, _ = best(fires["raw-"])
    insert_us = 1e6 / raw_with - 1e6 / raw_without
    fire_us = 1e6 / sub
    share = insert_us / (fire_us - insert_us)
    print(f"2. Engine.fire, commit per call, {fire_leads:,} leads")
    print(f"   with subscriptions     {sub:>10,.0f} fires/s  (spread {sub_spread:.2f})")
    print(f"   without subscriptions  {qui:>10,.0f} fires/s  (spread {qui_spread:.2f})")
    print(f"   ratio with/without     {sub / qui:>10.2f}")
    print(f"   raw sqlite3 fire rows  {raw_without:>10,.0f} /s without the outbox INSERT")
    print(
        f"   raw sqlite3 fire rows  {raw_with:>10,.0f} /s with it: {insert_us:,.1f} us per INSERT"
    )
    print(f"   outbox INSERT / (engine fire without it) = {share:.1%}")
    print()
    single = max(best(rates[c])[0] for c in levels if c[0] > 1 and c[1] == 1)
    batched = max(best(rates[c])[0] for c in levels if c[0] > 1 and c[1] > 1)
    print("Targets")
    for label, rate in (("one event per request", single), ("batched mode", batched)):
        verdict = "PASS" if rate >= 2000 else "MISS"
        print(f"   concurrent delivery >= 2,000 events/s, {label}: {rate:,.0f}  {verdict}")
    print(f"   outbox costs fire <= 15%: {share:.1%}  {'PASS' if share <= 0.15 else 'MISS'}")


if __name__ == "__main__":
    main()
