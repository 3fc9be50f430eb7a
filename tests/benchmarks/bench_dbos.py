"""leadflow against DBOS Transact on one PostgreSQL server: ``Engine.fire`` against one DBOS
workflow per lead event, both against the raw psycopg floor, with 1, 2 and 4 processes.

Run from the repository root (leadflow importable; PostgreSQL server binaries on the machine,
found as the tests find them; ``pip install '.[bench]'``, which brings ``dbos``)::

    python tests/benchmarks/bench_dbos.py            # 1,000 events per process, 3 repetitions
    python tests/benchmarks/bench_dbos.py --quick    # 200 events per process
    python tests/benchmarks/bench_dbos.py --no-queue # without the queued DBOS row
    python tests/benchmarks/bench_dbos.py --step     # and a row with a plain DBOS step

For every repetition and process count N, on fresh databases of one throwaway server, each
contender runs in N processes released by one barrier, each on its own leads, one after the
other (the repetitions alternate them; the median of each is kept):

1. **leadflow**: ``Engine.fire`` of the CEL-guarded ``qualify`` of ``bench_hotpath.py``, one
   transaction per call (``bench_hotpath_pg.py``'s run).
2. **raw floor**: psycopg 3 writing exactly the rows the engine wrote, with its statements, a
   commit per lead (``bench_hotpath_pg.py``'s floor).
3. **DBOS, direct**: one ``@DBOS.workflow()`` per lead event, called directly with the
   event's trigger and data, whose one step is a DBOS transaction (``@ds.transaction()`` of a
   ``SQLAlchemyDatasource``: DBOS 3 replaced ``@DBOS.transaction()`` and the application
   database with datasources; ``READ COMMITTED`` as leadflow, where DBOS's default is
   ``SERIALIZABLE``) doing the floor's writes: the same statements and row values (read back
   from leadflow's database of the same repetition) into a database prepared like the others.
   A check after the run fails the benchmark unless that database then holds as many
   transitions, events and qualified leads as leadflow's. DBOS's system database is another
   database on the same server, fresh for every run and migrated before the timed part.
4. **DBOS, queued**: the same workflows enqueued on one DBOS queue, polled every 0.1 s, at
   most 16 of them at once per process (one name for every run, since DBOS polls every queue
   its system database has seen); each process waits for its own, and any process may run any
   of them.
5. **DBOS step** (only with ``--step``): as 3, but the step is a plain ``@DBOS.step()``
   writing the rows through its own psycopg connection (DBOS then checkpoints the step in its
   system database, not in the transaction that writes the rows).

Each process configures and launches its own DBOS (its own ``executor_id``; no OTLP export,
no Conductor key, so nothing leaves the machine; log level ``WARNING``). The server is the
tests' throwaway one (fsync off, for every contender alike; 200 connections allowed, as four
DBOS processes pool up to 35 each). DBOS is the slow part: ``--quick --step`` took 3.5 minutes
on the 2-core machine under load, and a full run has five times the events. It is a
benchmark, not a test: the exit code is 0 whatever the figures are.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import multiprocessing as mp
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
# Exits with a message when leadflow or psycopg cannot be imported.
from bench_hotpath_pg import (  # noqa: E402
    PROCESSES,
    Results,
    conninfo,
    engine_and_floor,
    lead_names,
    prepare,
    repetitions,
    run_together,
    write_rows,
    written,
)

try:
    from dbos import DBOS, DBOSConfig, SQLAlchemyDatasource
except ImportError as exc:  # pragma: no cover - a usage error, not a benchmark result
    sys.exit(
        f"cannot import dbos ({exc}): DBOS Transact is only in the bench extra; "
        "pip install '.[bench]'"
    )
import psycopg  # noqa: E402
from bench_hotpath import FIRE_DATA  # noqa: E402
from postgres_server import PostgresServer  # noqa: E402

APP = "leadflow-bench"
QUEUE = "leadflow-bench-events"  # one name for every run: DBOS polls every queue it has seen
QUEUE_POLL_S = 0.1  # DBOS's default is 1 s, which would dominate a short run's tail
QUEUE_WORKERS = 16  # workflows of the queue at once per process (unlimited: a thread each)
# Each DBOS process pools up to 20 system and 15 datasource connections: 4 of them need more
# than the throwaway server's 100.
SERVER_SETTINGS = ("max_connections=200",)
# The transaction step's isolation: as leadflow and the floor (DBOS's default is SERIALIZABLE).
ISOLATION: Literal["READ COMMITTED"] = "READ COMMITTED"
CONTENDERS = ("leadflow", "dbos", "queued", "step", "raw")
HEADS = {
    "leadflow": "leadflow fire",
    "dbos": "DBOS direct",
    "queued": "DBOS queued",
    "step": "DBOS step",
    "raw": "raw floor",
}
RATIOS = {"dbos": "lf/DBOS", "queued": "lf/queued", "step": "lf/step", "raw": "lf/raw"}

# This process's DBOS step writing a lead's rows, set after the fork by `launched`.
_write_lead: Callable[[str], None] | None = None


@DBOS.workflow()
def lead_event(lead: str, trigger: str, data: dict[str, Any]) -> None:
    """One lead event as a DBOS user writes it: the durable writes in one transaction step.

    ``trigger`` and ``data`` are what ``Engine.fire`` gets; DBOS stores them as the workflow's
    inputs. The rows written are leadflow's own for this lead."""
    assert _write_lead is not None, "DBOS is not launched in this process"
    _write_lead(lead)


def dbos_config(sys_url: str, executor: str, *, migrate: bool) -> DBOSConfig:
    """DBOS's configuration: its own system database, no OTLP export, no Conductor (so nothing
    leaves the machine), warnings only (it logs URLs without passwords; there are none)."""
    return {
        "name": APP,
        "system_database_url": sys_url,
        "application_version": "bench",
        "executor_id": executor,
        "enable_otlp": False,
        "log_level": "WARNING",
        "run_migrations": migrate,
    }


@contextlib.contextmanager
def launched(
    sys_url: str, app_url: str, rows: dict[str, Any], executor: str, mode: str = "dbos"
) -> Iterator[None]:
    """DBOS launched in this process, its step writing ``rows[lead]`` to ``app_url``: a DBOS
    transaction, or for the ``step`` mode a plain step with its own psycopg connection."""
    global _write_lead
    DBOS(config=dbos_config(sys_url, executor, migrate=mode == "setup"))
    with contextlib.ExitStack() as stack:
        if mode == "step":
            cur = stack.enter_context(psycopg.connect(conninfo(app_url))).cursor()

            @DBOS.step(name="write_lead")
            def write_lead(lead: str) -> None:
                write_rows(cur.execute, *rows[lead])
                cur.connection.commit()

        else:
            ds = SQLAlchemyDatasource.create(app_url, run_migrations=mode == "setup")

            @ds.transaction(name="write_lead", isolation_level=ISOLATION)
            def write_lead(lead: str) -> None:
                write_rows(ds.sql_session().connection().exec_driver_sql, *rows[lead])

        _write_lead = write_lead
        DBOS.launch()
        stack.callback(DBOS.destroy)
        yield


def _setup(sys_url: str, app_url: str, mode: str) -> None:
    """Create DBOS's system tables, its datasource table and, for a queued run, the queue
    (before the timed run, so the N processes do not race to migrate)."""
    with launched(sys_url, app_url, {}, "bench-setup", "setup"):
        if mode == "queued":
            DBOS.register_queue(
                QUEUE, polling_interval_sec=QUEUE_POLL_S, worker_concurrency=QUEUE_WORKERS
            )


def dbos_worker(
    mode: str,
    sys_url: str,
    app_url: str,
    rows: dict[str, Any],
    leads: list[str],
    executor: str,
    barrier: Any,
    out: Any,
) -> None:
    """One process's DBOS run: its lead events called directly or through the queue."""
    run = _through_queue if mode == "queued" else _directly
    try:
        with launched(sys_url, app_url, rows, executor, mode):
            run(leads[:1])  # warm up, untimed
            barrier.wait()
            t = time.perf_counter()
            run(leads[1:])
            out.put(time.perf_counter() - t)
            # Any process may run any process's queued workflows: none stops before all are done.
            barrier.wait()
    except BaseException:
        barrier.abort()  # the others stop waiting for this one
        raise


def _directly(leads: list[str]) -> None:
    for lead in leads:
        lead_event(lead, "qualify", FIRE_DATA)


def _through_queue(leads: list[str]) -> None:
    queue = DBOS.retrieve_queue(QUEUE)
    assert queue is not None, f"queue {QUEUE} was not registered"
    handles = [queue.enqueue(lead_event, lead, "qualify", FIRE_DATA) for lead in leads]
    for handle in handles:
        handle.get_result(polling_interval_sec=QUEUE_POLL_S)


def _in_child(target: Callable[..., None], *args: Any) -> None:
    """Run ``target`` in a forked process, so this one never starts DBOS's threads."""
    proc = mp.get_context("fork").Process(target=target, args=args)
    proc.start()
    proc.join(300)
    if proc.exitcode != 0:
        proc.kill()  # still running after 5 minutes, or already gone
        raise RuntimeError(f"DBOS setup failed (exit code {proc.exitcode})")


def dbos_run(
    server: PostgresServer, folder: Path, url: str, leads: list[list[str]], mode: str
) -> float:
    """One DBOS run on fresh databases: the slowest process's time; checks the rows arrived."""
    app_url, sys_url = server.create_database(), server.create_database()
    try:
        prepare(app_url, folder, leads)
        work = written(url, app_url, leads)
        rows: dict[str, Any] = {}
        for ls, ws in zip(leads, work, strict=True):
            rows.update(zip(ls, ws, strict=True))
        _in_child(_setup, sys_url, app_url, mode)
        seconds = run_together(
            dbos_worker,
            [(mode, sys_url, app_url, rows, ls, f"bench-{k}") for k, ls in enumerate(leads)],
        )
        _check_same_rows(url, app_url)
        return seconds
    finally:
        for db in (app_url, sys_url):
            server.drop_database(db.rsplit("/", 1)[1])


def _check_same_rows(url: str, app_url: str) -> None:
    """DBOS's database holds as many transitions, events and qualified leads as leadflow's."""
    query = (
        "SELECT (SELECT count(*) FROM lf_history WHERE kind = 'transition'), "
        "(SELECT count(*) FROM lf_outbox), "
        "(SELECT count(*) FROM lf_instances WHERE stage = 'qualified')"
    )
    with psycopg.connect(conninfo(url)) as ours, psycopg.connect(conninfo(app_url)) as theirs:
        want, got = ours.execute(query).fetchone(), theirs.execute(query).fetchone()
    if want != got:
        raise RuntimeError(f"DBOS wrote {got} (transitions, events, qualified), leadflow {want}")


def measure(
    server: PostgresServer, folder: Path, procs: int, n: int, modes: list[str]
) -> dict[str, float]:
    """One repetition with ``procs`` processes: each contender's slowest process's time."""
    leads = lead_names(procs, n)
    times: dict[str, float] = {}

    def dbos_rows(url: str) -> None:
        for mode in modes:
            times[mode] = dbos_run(server, folder, url, leads, mode)

    times["leadflow"], times["raw"] = engine_and_floor(server, folder, leads, dbos_rows)
    return times


def report(results: Results, n: int, names: list[str]) -> None:
    """The table: events per second of each contender (medians), and leadflow's ratios."""
    others = [c for c in names if c != "leadflow"]
    lines = [["processes", *(HEADS[c] for c in names), *(RATIOS[c] for c in others), "spread"]]
    for procs in PROCESSES:
        times = {c: results[(c, procs)] for c in names}
        rate = {c: procs * n / statistics.median(times[c]) for c in names}
        lines.append(
            [
                str(procs),
                *(f"{rate[c]:,.0f}/s" for c in names),
                *(f"{rate['leadflow'] / rate[c]:.2f}x" for c in others),
                "/".join(f"{max(times[c]) / min(times[c]):.2f}" for c in names),
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for line in lines:
        print("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)))
    print(f"spread columns: {'/'.join(names)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 events per process")
    parser.add_argument("--events", type=int, help="events per process (default 1,000)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-queue", action="store_true", help="leave out the queued DBOS row")
    parser.add_argument(
        "--step",
        action="store_true",
        help="add a row: DBOS with a plain @DBOS.step writing through its own psycopg connection",
    )
    args = parser.parse_args(argv)
    n = args.events or (200 if args.quick else 1_000)
    modes = ["dbos", *(["queued"] if not args.no_queue else []), *(["step"] if args.step else [])]
    results, conditions = repetitions(
        args.repeats,
        lambda server, folder, procs: measure(server, folder, procs, n, modes),
        SERVER_SETTINGS,
    )
    quick = "--quick, " if args.quick else ""
    print(f"leadflow against DBOS Transact {importlib.metadata.version('dbos')} on PostgreSQL")
    print(f"({quick}{n:,} lead events per process; one transaction per event)")
    print(conditions)
    print(
        f"DBOS: transaction step {ISOLATION}; queue polled every {QUEUE_POLL_S} s, "
        f"at most {QUEUE_WORKERS} of its workflows at once per process"
    )
    print()
    report(results, n, [c for c in CONTENDERS if c in ("leadflow", "raw", *modes)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
