"""The hot path on PostgreSQL: ``Engine.fire`` against a raw psycopg floor, with 1, 2 and 4
processes firing at once on one throwaway server.

Run from the repository root (leadflow importable; PostgreSQL 15 server binaries on the machine,
found as the tests find them; ``pip install '.[bench]'``)::

    python tests/benchmarks/bench_hotpath_pg.py            # 1,000 fires per process, 3 reps
    python tests/benchmarks/bench_hotpath_pg.py --quick    # 300 fires per process

Each repetition prepares two new databases with the same leads (started with ``start_many``,
untimed). N processes then fire the CEL-guarded ``qualify`` of ``bench_hotpath.py`` on their own
leads, one transaction per call, all released by one barrier; the figure is all fires divided by
the slowest process's time. The **raw floor** is N processes writing, with psycopg 3 and the
engine's own statements, exactly the rows the engine wrote (read back from its database: the
instance UPDATE, the history and outbox INSERTs), a commit per lead, into the other database.
Its timed part does no SELECT and no JSON encoding. A second floor, **raw pipelined**, sends
each lead's BEGIN, statements and COMMIT in one round trip (psycopg's pipeline mode): the least
a commit per lead can cost. (The engine sends two: its read, then one statement that writes
the rows, wakes the workers and commits by itself. Sending its read and its writes pipelined
was tried and measured: on a loopback connection psycopg's pipeline mode spins while it waits,
and a fire cost more CPU and time.) The **bound** is a bare client: the engine's two round
trips with only the Python any client needs between them (``bench_hotpath.Bare``: decode the
data, evaluate the guard, encode the documents), on a third database.
Engine and floor runs alternate; the median of each is kept. It is a benchmark, not a test: the
exit code is 0 whatever the figures are.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:
    import psycopg

    from leadflow.engine import Engine
    from leadflow.engine.store._statements import hot_path_statements
except ImportError as exc:  # pragma: no cover - a usage error, not a benchmark result
    sys.exit(f"cannot import ({exc}); pip install '.[bench]' or set PYTHONPATH (see README.md)")

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
from bench_hotpath import DEFINITION, FIRE_DATA, PROCESS, Bare  # noqa: E402
from postgres_server import PostgresServer, find_bindir, start_server  # noqa: E402

SQL = hot_path_statements("%s", "postgresql")
PROCESSES = (1, 2, 4)
_T0 = time.perf_counter()


def progress(what: str) -> None:
    print(f"  [{time.perf_counter() - _T0:6.1f} s] {what}", file=sys.stderr, flush=True)


def conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def lead_names(procs: int, n: int) -> list[list[str]]:
    return [[f"p{k}-warm"] + [f"p{k}-lead-{i}" for i in range(n)] for k in range(procs)]


def prepare(url: str, folder: Path, leads: list[list[str]]) -> None:
    definition = folder / "hot-path.yaml"
    definition.write_text(DEFINITION)
    with Engine(url, create=True) as engine:
        engine.deploy(definition)
        items = [
            (lead, {"email": f"{lead}@example.com", "score": 70}) for ls in leads for lead in ls
        ]
        engine.start_many(PROCESS, items)


def engine_worker(url: str, leads: list[str], barrier: Any, out: Any) -> None:
    with Engine(url) as engine:
        engine.fire(PROCESS, leads[0], "qualify", FIRE_DATA)  # warm up, untimed
        barrier.wait()
        t = time.perf_counter()
        for lead in leads[1:]:
            engine.fire(PROCESS, lead, "qualify", FIRE_DATA)
        out.put(time.perf_counter() - t)


Work = list[tuple[Any, list[Any], list[Any]]]
"""Per lead: the UPDATE's parameters, the history rows, the outbox rows."""


def raw_worker(url: str, work: Work, barrier: Any, out: Any) -> None:
    """The raw floor: each lead's rows written with plain statements, a commit per lead."""
    _floor(url, work, barrier, out, pipelined=False)


def pipelined_worker(url: str, work: Work, barrier: Any, out: Any) -> None:
    """The raw floor with each lead's BEGIN, statements and COMMIT in one round trip (psycopg's
    pipeline mode): the least a commit per lead can cost. The engine cannot match it: it must
    read the lead first and see its UPDATE's row count before it commits."""
    _floor(url, work, barrier, out, pipelined=True)


def _floor(url: str, work: Work, barrier: Any, out: Any, *, pipelined: bool) -> None:
    with psycopg.connect(conninfo(url)) as conn:
        cur = conn.cursor()
        (warm, *rest) = work
        write_rows(cur.execute, *warm)
        conn.commit()
        barrier.wait()
        t = time.perf_counter()
        if pipelined:
            for rows in rest:
                with conn.pipeline():
                    write_rows(cur.execute, *rows)
                    conn.commit()
        else:
            for rows in rest:
                write_rows(cur.execute, *rows)
                conn.commit()
        out.put(time.perf_counter() - t)


def bare_worker(url: str, leads: list[str], barrier: Any, out: Any) -> None:
    """The bound: per lead, the engine's two round trips (its read, then its one statement
    that writes and commits) with the least Python between them (``bench_hotpath.Bare``)."""
    bare = Bare()
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        cur = conn.cursor()

        def fire(lead: str) -> None:
            cur.execute(SQL["load"], (PROCESS, lead))
            now = datetime.now(UTC)
            update, history, outbox = bare.plan(cur.fetchone(), FIRE_DATA, now, now.isoformat())
            cur.execute(SQL["write_one"], update + history + outbox)
            if cur.rowcount != 1:
                raise RuntimeError(f"{lead} moved on")

        fire(leads[0])  # warm up, untimed
        barrier.wait()
        t = time.perf_counter()
        for lead in leads[1:]:
            fire(lead)
        out.put(time.perf_counter() - t)


def write_rows(execute: Any, update: Any, history: list[Any], outbox: list[Any]) -> None:
    """The durable writes of one fire: the instance UPDATE, the history and outbox INSERTs."""
    execute(SQL["update"], update)
    for row in history:
        execute(SQL["history"], row)
    for row in outbox:
        execute(SQL["outbox"], row)


def run_together(target: Any, args_per_proc: list[tuple[Any, ...]]) -> float:
    """Start one process per argument tuple, release them together; the slowest one's time."""
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(len(args_per_proc))
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, barrier, out)) for a in args_per_proc]
    for p in procs:
        p.start()
    times: list[float] = []
    deadline = time.monotonic() + 600
    while len(times) < len(procs):
        try:
            times.append(out.get(timeout=1))
        except queue.Empty:
            if any(p.exitcode for p in procs) or time.monotonic() > deadline:
                barrier.abort()  # the others stop waiting for the one that failed
                break
    for p in procs:
        p.join(60)
        if p.exitcode or len(times) < len(procs):
            raise RuntimeError(f"a benchmark process failed (exit code {p.exitcode})")
    return max(times)


def engine_and_floor(
    server: PostgresServer,
    folder: Path,
    leads: list[list[str]],
    then: Callable[[str], None] | None = None,
) -> tuple[float, float]:
    """One repetition on fresh databases: ``Engine.fire`` in one process per list of leads,
    then the raw floor writing the same rows; the slowest process's time of each. ``then(url)``
    runs with the engine's database before it is dropped (other contenders read its rows)."""
    url, raw_url = server.create_database(), server.create_database()
    try:
        prepare(url, folder, leads)
        prepare(raw_url, folder, leads)
        engine_s = run_together(engine_worker, [(url, ls) for ls in leads])
        work = written(url, raw_url, leads)
        raw_s = run_together(raw_worker, [(raw_url, w) for w in work])
        if then is not None:
            then(url)
    finally:
        for db in (url, raw_url):
            server.drop_database(db.rsplit("/", 1)[1])
    return engine_s, raw_s


def written(url: str, raw_url: str, leads: list[list[str]]) -> list[list[Any]]:
    """Per process, per lead: the rows the engine wrote, with the raw database's instance ids."""
    with psycopg.connect(conninfo(url)) as conn, psycopg.connect(conninfo(raw_url)) as raw:
        ids = dict(raw.execute("SELECT lead_id, id FROM lf_instances").fetchall())
        mine = dict(conn.execute("SELECT id, lead_id FROM lf_instances").fetchall())
        history: dict[int, list[Any]] = {}
        for row in conn.execute(
            "SELECT instance_id, seq, at, kind, trigger, from_stage, to_stage, actor, details "
            "FROM lf_history WHERE kind = 'transition' ORDER BY id"
        ):
            history.setdefault(row[0], []).append((ids[mine[row[0]]], *row[1:]))
        outbox: dict[int, list[Any]] = {}
        for row in conn.execute(
            "SELECT event_id, instance_id, seq, type, at, payload FROM lf_outbox "
            "WHERE type <> 'leadflow.lead.started' ORDER BY id"
        ):
            outbox.setdefault(row[1], []).append((row[0], ids[mine[row[1]]], *row[2:]))
        updates = {}
        for row in conn.execute(
            "SELECT definition_version, stage, owner, data, closed, version, updated_at, "
            "stage_entered_at, stage_seq, sla, id, version - 1 FROM lf_instances"
        ):
            iid = row[10]
            updates[mine[iid]] = ((*row[:10], ids[mine[iid]], row[11]), history[iid], outbox[iid])
    return [[updates[lead] for lead in ls] for ls in leads]


Results = dict[tuple[str, int], list[float]]


def repetitions(
    repeats: int,
    one: Callable[[PostgresServer, Path, int], dict[str, float]],
    settings: tuple[str, ...] = (),
) -> tuple[Results, str]:
    """On one throwaway server (with more ``settings``), ``one(server, folder, processes)`` for
    every repetition and process count: each contender's times, and a line with the load
    average at start and end."""
    load = os.getloadavg()
    results: Results = {}
    server_cm = start_server(find_bindir(), settings=settings)
    with server_cm as server, tempfile.TemporaryDirectory() as tmp:
        progress(f"PostgreSQL at {server.url('postgres')}")
        for rep in range(repeats):
            for procs in PROCESSES:
                for name, seconds in one(server, Path(tmp), procs).items():
                    results.setdefault((name, procs), []).append(seconds)
                progress(f"repetition {rep + 1}, {procs} process(es)")
    now = os.getloadavg()
    return results, (
        f"{os.cpu_count()} CPUs; load average at start {load[0]:.2f}, at end {now[0]:.2f}\n"
        f"median of {repeats} alternating repetitions; spread = slowest/fastest repetition"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 fires per process")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    n = 300 if args.quick else 1_000

    def one(server: PostgresServer, folder: Path, procs: int) -> dict[str, float]:
        leads = lead_names(procs, n)
        times: dict[str, float] = {}

        def pipelined(url: str) -> None:
            piped_url = server.create_database()
            try:
                prepare(piped_url, folder, leads)
                work = written(url, piped_url, leads)
                times["piped"] = run_together(pipelined_worker, [(piped_url, w) for w in work])
            finally:
                server.drop_database(piped_url.rsplit("/", 1)[1])

        times["engine"], times["raw"] = engine_and_floor(server, folder, leads, pipelined)
        bare_url = server.create_database()
        try:
            prepare(bare_url, folder, leads)
            times["bare"] = run_together(bare_worker, [(bare_url, ls) for ls in leads])
        finally:
            server.drop_database(bare_url.rsplit("/", 1)[1])
        return times

    results, conditions = repetitions(args.repeats, one)
    mode = "--quick, " if args.quick else ""
    print(f"leadflow hot path on PostgreSQL ({mode}{n:,} fires per process)")
    print(conditions)
    print()
    print(
        f"{'processes':>9} {'Engine.fire':>14} {'raw psycopg':>14} {'ratio':>7} "
        f"{'raw pipelined':>14} {'ratio':>7} {'bound: bare':>14} {'bare/raw':>8}  "
        "spread (engine/raw/pipelined/bare)"
    )
    names = ("engine", "raw", "piped", "bare")
    for procs in PROCESSES:
        ours, raw, piped, bare = (procs * n / statistics.median(results[(k, procs)]) for k in names)
        spread = "/".join(
            f"{max(results[(k, procs)]) / min(results[(k, procs)]):.2f}" for k in names
        )
        print(
            f"{procs:>9} {ours:>12,.0f}/s {raw:>12,.0f}/s {ours / raw:>6.2f}x "
            f"{piped:>12,.0f}/s {ours / piped:>6.2f}x {bare:>12,.0f}/s {bare / raw:>7.2f}x  "
            f"{spread}"
        )
    print()
    print(
        "bound: the engine's two round trips with the least Python a fire needs between them "
        "(bench_hotpath.Bare); no engine can beat it"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
