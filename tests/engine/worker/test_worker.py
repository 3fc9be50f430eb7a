"""The worker: start and stop, catch-up, waking at the next due time, signals, the SQLite rule,
schedules and pumps. Workers run on the wall clock here (SystemClock), in threads or in
subprocesses; waiting for them polls the database with a deadline."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner
from worker_support import (
    ESCALATE,
    LEADFLOW,
    PROCESS,
    RELEASE,
    scalar,
    spawn_worker,
    start_due_leads,
    stop_worker,
    sweep_counts,
    wait_for,
)

from leadflow.adapters.jsonl import JsonlAdapter
from leadflow.adapters.outbox import Dispatcher, DispatchOptions
from leadflow.cli import app
from leadflow.engine import Engine
from leadflow.engine.testing import ManualClock
from leadflow.engine.worker import Worker, WorkerOptions, WorkerRefused

FAST = WorkerOptions(heartbeat=0.2, stale_after=30.0, poll=0.1)


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    """An engine on a new SQLite file with the worker test process deployed."""
    with Engine(sqlite_url) as lf:
        lf.deploy(ESCALATE)
        yield lf


@pytest.fixture
def worker(engine: Engine) -> Iterator[Worker]:
    """A started worker on ``engine``, stopped after the test."""
    w = Worker(engine, FAST)
    w.start()
    yield w
    w.stop()


def _timers(engine: Engine) -> int:
    with engine.store.sa.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM lf_timers")).scalar() or 0)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LEADFLOW, "worker", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


# -- lifecycle ---------------------------------------------------------------------------------


def test_start_registers_and_stop_unregisters(engine: Engine) -> None:
    """A started worker holds a row in lf_workers with its host and pid; stop removes it."""
    w = Worker(engine, FAST)
    w.start()
    try:
        assert w.running
        (info,) = w.workers()
        assert (info.id, info.host, info.pid) == (w.id, socket.gethostname(), os.getpid())
        with pytest.raises(RuntimeError, match="already started"):
            w.start()
        wait_for(lambda: w.stats.rounds >= 1, 5, "a first round")
    finally:
        stats = w.stop()
    assert not w.running
    assert w.workers() == []
    assert stats.rounds >= 1
    assert w.stop() is stats  # stopping twice is harmless


def test_heartbeat_moves_forward(worker: Worker) -> None:
    """The heartbeat job refreshes heartbeat_at every few tenths of a second here."""
    first = worker.workers()[0].heartbeat_at
    wait_for(lambda: worker.workers()[0].heartbeat_at > first, 5, "a heartbeat")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch": 0}, "batch must be 1 to 10000"),
        ({"poll": 0.0}, "poll must be 0.01 to 86400"),
        ({"recheck": -1}, "recheck must be"),
        ({"heartbeat": 20, "stale_after": 30}, "at least twice the heartbeat"),
        ({"keep_answers": 59}, "keep_answers must be 60 to 7776000 seconds"),
        ({"housekeeping": 0}, "housekeeping must be 0.01 to 86400"),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, float], message: str) -> None:
    """Options out of range raise ValueError naming the option and the allowed range."""
    with pytest.raises(ValueError, match=message):
        WorkerOptions(**kwargs)  # type: ignore[arg-type]


def test_housekeeping_deletes_answers_older_than_keep_answers(sqlite_url: str) -> None:
    """Idempotency answers older than keep_answers (engine time) go; younger ones stay. The
    worker runs it when it starts, and each run adds to the stats."""
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    with Engine(sqlite_url, clock=clock) as lf:
        now = clock.now()
        with lf.store.transaction("answers") as tx:
            tx.save_answer("s", "old", "h", 200, "{}", now - timedelta(hours=25))
            tx.save_answer("s", "young", "h", 200, "{}", now - timedelta(hours=23))
        w = Worker(lf, WorkerOptions(keep_answers=86_400, poll=0.1))
        w.start()
        try:
            wait_for(lambda: w.stats.answers_purged == 1, 5, "the first housekeeping run")
        finally:
            w.stop()
        with lf.store.transaction("read") as tx:
            assert tx.answer("s", "old") is None
            assert tx.answer("s", "young") is not None
        clock.advance(timedelta(hours=2))
        assert w.housekeep() == 1
        assert w.stats.answers_purged == 2
        assert w.housekeep() == 0


# -- firing timers -----------------------------------------------------------------------------


def test_catch_up_on_start_records_the_deadline_time(engine: Engine) -> None:
    """Marks that fell due while no worker ran fire on start, recorded at their due time."""
    due = start_due_leads(engine, 300, -timedelta(hours=2))
    with Worker(engine, FAST) as w:
        wait_for(lambda: w.stats.timers == 300, 30, "the overdue timers")
        assert _timers(engine) == 0
    entries = engine.history(PROCESS, "lead-7")
    assert [e.kind for e in entries] == ["started", "sla"]
    mark = entries[-1]
    assert mark.at == due
    assert mark.details["sla"][0]["event"] == "breached"
    assert mark.details["owner"] != "ann"  # reassigned within the desk team
    assert engine.get(PROCESS, "lead-7").data["priority"] == "high"
    times = {
        json.loads(p)["time"]
        for (p,) in engine.store.query(
            sa.text("SELECT payload FROM lf_outbox WHERE type = 'leadflow.lead.sla_breached'"),
            "read events",
        )
    }
    assert {datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times} == {due}


def test_wakes_at_the_next_due_time_without_polling(engine: Engine) -> None:
    """With the idle poll off, the worker sleeps until the next timer and fires it on time."""
    w = Worker(engine, WorkerOptions(poll=None, recheck=60))
    due = start_due_leads(engine, 1, timedelta(seconds=1.2), prefix="soon")
    w.start()
    try:
        wait_for(lambda: w.stats.rounds >= 1, 5, "the first round")
        assert w.next_work == due
        assert _timers(engine) == 1  # not fired early
        wait_for(lambda: _timers(engine) == 0, 5, "the timer")
        fired_at = datetime.now(UTC)
    finally:
        w.stop()
    assert due <= fired_at < due + timedelta(seconds=0.7)
    assert engine.history(PROCESS, "soon-0")[-1].at == due


def test_idle_poll_notices_timers_written_elsewhere(engine: Engine, sqlite_url: str) -> None:
    """A timer another process writes, already due, fires within the 0.1 s poll (< 1 s)."""
    w = Worker(engine, WorkerOptions(poll=0.1, recheck=60))
    w.start()
    try:
        wait_for(lambda: w.stats.rounds >= 1, 5, "the first round")
        with Engine(sqlite_url) as other:
            start_due_leads(other, 1, -timedelta(seconds=1), prefix="elsewhere")
        written = time.monotonic()
        wait_for(lambda: _timers(engine) == 0, 5, "the timer")
        assert time.monotonic() - written < 1.0
    finally:
        w.stop()


def test_backlog_is_swept_in_batches_and_rounds(engine: Engine) -> None:
    """A backlog larger than the batch is swept in several transactions, all of it once."""
    start_due_leads(engine, 1_000, -timedelta(minutes=5))
    with Worker(engine, WorkerOptions(batch=64, budget=0.05, poll=0.1)) as w:
        wait_for(lambda: w.stats.timers == 1_000, 30, "the backlog")
        assert w.stats.rounds >= 2  # the budget split the backlog over rounds
    counts = sweep_counts(engine.store.sa.url.render_as_string(hide_password=False))
    assert counts["sla_history"] == counts["breached_events"] == 1_000
    assert counts["leads_not_once"] == counts["events_not_once"] == 0


def test_a_failing_round_is_logged_and_retried(
    engine: Engine, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A database error in a round is logged; the worker keeps going and sweeps later."""
    _execute(sqlite_url, "ALTER TABLE lf_timers RENAME TO lf_timers_away")
    caplog.set_level(logging.ERROR, logger="leadflow.worker")
    w = Worker(engine, WorkerOptions(poll=0.1, retry=0.1))
    w.start()
    try:
        wait_for(lambda: w.stats.errors >= 1, 5, "a failed round")
        assert "worker round failed" in caplog.text
        assert "lf_timers" in caplog.text
        _execute(sqlite_url, "ALTER TABLE lf_timers_away RENAME TO lf_timers")
        start_due_leads(engine, 5, -timedelta(seconds=5))
        wait_for(lambda: _timers(engine) == 0, 5, "the timers after recovery")
    finally:
        w.stop()


def _execute(url: str, sql: str) -> None:
    db = sa.create_engine(url)
    try:
        with db.begin() as conn:
            conn.execute(sa.text(sql))
    finally:
        db.dispose()


# -- the SQLite single-worker rule ---------------------------------------------------------


def test_second_sqlite_worker_is_refused_naming_the_first(engine: Engine, worker: Worker) -> None:
    """A second worker on the same SQLite file is refused with the first one's host and pid."""
    second = Worker(engine, FAST)
    with pytest.raises(WorkerRefused) as caught:
        second.start()
    err = caught.value
    assert err.code == "worker-running"
    assert err.running.id == worker.id
    message = str(err)
    assert f"host {socket.gethostname()}, pid {os.getpid()}" in message
    assert "last seen" in message
    assert "30 s old" in message
    assert [i.id for i in worker.workers()] == [worker.id]  # nothing changed
    assert second.stop().rounds == 0


def test_cli_second_worker_is_refused(engine: Engine, worker: Worker, sqlite_url: str) -> None:
    """`leadflow worker` on a SQLite file that has a live worker exits 1 with one error line."""
    result = CliRunner().invoke(app, ["worker", "--db", sqlite_url])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: another worker runs on this SQLite database")
    assert f"pid {os.getpid()}" in result.stderr
    assert "Traceback" not in result.output


def test_stale_worker_is_taken_over(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """A registration whose heartbeat is older than stale_after does not block a new worker."""
    old = engine.clock.now() - timedelta(minutes=5)
    _register(engine, "gone-elsewhere", "other-host", 4242, old)
    caplog.set_level(logging.WARNING, logger="leadflow.worker")
    with Worker(engine, FAST) as w:
        assert [i.id for i in w.stats.taken_over] == ["gone-elsewhere"]
        assert [i.id for i in w.workers()] == [w.id]
    assert "took over from worker gone-elsewhere (host other-host, pid 4242" in caplog.text


def test_dead_process_on_this_host_is_taken_over_at_once(engine: Engine) -> None:
    """A fresh registration of a process on this host that no longer exists is taken over."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(proc.stdout)
    _register(engine, "killed", socket.gethostname(), dead_pid, engine.clock.now())
    with Worker(engine, FAST) as w:
        assert [i.pid for i in w.stats.taken_over] == [dead_pid]


def test_live_process_on_this_host_is_not_taken_over(engine: Engine) -> None:
    """A fresh registration of a live process on this host blocks a second worker."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        _register(engine, "alive", socket.gethostname(), proc.pid, engine.clock.now())
        with pytest.raises(WorkerRefused, match=f"pid {proc.pid}"):
            Worker(engine, FAST).start()
    finally:
        proc.communicate("")


def test_worker_whose_row_was_taken_stops(engine: Engine, worker: Worker) -> None:
    """A SQLite worker whose registration disappeared stops itself at the next heartbeat."""
    with engine.store.sa.begin() as conn:
        conn.execute(sa.text("DELETE FROM lf_workers"))
    assert worker.wait(timeout=5)
    assert not worker.running


def _register(engine: Engine, wid: str, host: str, pid: int, seen: datetime) -> None:
    enc = engine.store.encode_time
    with engine.store.sa.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO lf_workers VALUES (:i, :h, :p, :s, :b)"),
            {"i": wid, "h": host, "p": pid, "s": enc(seen), "b": enc(seen)},
        )


# -- signals and the command line --------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_after_the_current_batch(engine: Engine, sqlite_url: str, sig: int) -> None:
    """SIGTERM or SIGINT during a backlog commits the running batch, unregisters, exits 0."""
    start_due_leads(engine, 3_000, -timedelta(minutes=5))
    proc = spawn_worker(sqlite_url, "--batch", "50", "--log-level", "debug")
    wait_for(
        lambda: scalar(sqlite_url, "SELECT count(*) FROM lf_history WHERE kind = 'sla'"),
        30,
        "the sweep to start",
    )
    code, err = stop_worker(proc, sig=sig)
    assert code == 0, err
    assert "worker stopped:" in err
    assert "Traceback" not in err
    counts = sweep_counts(sqlite_url)
    assert counts["workers"] == 0
    assert counts["sla_history"] == counts["breached_events"] == 3_000 - counts["timers"]
    assert counts["sla_history"] % 50 == 0  # whole batches only
    assert counts["timers"] > 0, "the worker finished the backlog before SIGTERM; add leads"


def test_cli_refuses_a_missing_database_file(tmp_path: Path) -> None:
    """`leadflow worker` on a SQLite path that does not exist says so and creates nothing."""
    url = f"sqlite:///{tmp_path / 'typo.db'}"
    result = _cli("--db", url)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: no database at {tmp_path / 'typo.db'}")
    assert not (tmp_path / "typo.db").exists()


def test_cli_reports_a_bad_config_without_traceback(sqlite_url: str, engine: Engine) -> None:
    """`--config` naming a missing file is one error line, exit code 1."""
    result = CliRunner().invoke(
        app, ["worker", "--db", sqlite_url, "--config", "/nonexistent.toml"]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("value", "message"),
    [("10s", "--keep-answers must be 1m to 90d, not 10s"), ("soon", "'soon' is not a duration")],
)
def test_cli_refuses_a_bad_keep_answers(
    sqlite_url: str, engine: Engine, value: str, message: str
) -> None:
    """`--keep-answers` out of range or not a duration: one error line naming it, exit 1."""
    result = CliRunner().invoke(app, ["worker", "--db", sqlite_url, "--keep-answers", value])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {message}")
    assert "Traceback" not in result.output


# -- schedules and pumps -----------------------------------------------------------------------


def test_missed_schedule_occurrences_run_once_on_start(sqlite_url: str) -> None:
    """Minutely occurrences missed since deployment are coalesced into one run by the worker."""
    wall = datetime.now(UTC)
    with Engine(sqlite_url, clock=ManualClock(wall - timedelta(minutes=3))) as past:
        past.deploy(RELEASE)
    with Engine(sqlite_url) as lf, Worker(lf, FAST) as w:
        wait_for(lambda: w.stats.rounds >= 1, 5, "the first round")
        assert w.stats.schedules >= 1
        latest = datetime.now(UTC).replace(second=0, microsecond=0)
        stored = lf.store.decode_time(
            scalar(sqlite_url, "SELECT last_due_at FROM lf_schedule_runs")
        )
        assert latest - timedelta(minutes=1) <= stored <= latest
        assert w.next_work is not None
        assert w.next_work <= stored + timedelta(minutes=1)


def test_pumps_deliver_what_the_sweep_wrote(engine: Engine, tmp_path: Path) -> None:
    """A dispatcher pump delivers the breach events the sweep wrote, in the same worker."""
    start_due_leads(engine, 40, -timedelta(minutes=1))
    path = tmp_path / "events.jsonl"
    archive = JsonlAdapter("archive", path)
    try:
        dispatcher = Dispatcher(engine, {"archive": archive}, DispatchOptions())
        with dispatcher, Worker(engine, FAST, pumps=[dispatcher]) as w:
            wait_for(
                lambda: path.exists() and len(path.read_text().splitlines()) >= 40,
                20,
                "40 delivered events",
            )
            wait_for(lambda: w.stats.deliveries >= 40, 5, "the round's stats")
    finally:
        archive.close()
    types = {json.loads(line)["type"] for line in path.read_text().splitlines()}
    assert types == {"leadflow.lead.sla_breached"}


@pytest.mark.skipif(
    not hasattr(__import__("leadflow.adapters").adapters, "Dispatcher"),
    reason="leadflow.adapters does not export Dispatcher yet (the worker then refuses --config)",
)
def test_cli_with_config_delivers_the_outbox(
    engine: Engine, sqlite_url: str, tmp_path: Path
) -> None:
    """`leadflow worker --config` fires the timers and delivers their events to the adapters."""
    start_due_leads(engine, 25, -timedelta(minutes=1))
    events = tmp_path / "events.jsonl"
    config = tmp_path / "leadflow.toml"
    config.write_text(f'[adapters.archive]\ntype = "jsonl"\npath = "{events}"\n')
    proc = spawn_worker(sqlite_url, "--config", str(config))
    try:
        wait_for(
            lambda: events.exists() and len(events.read_text().splitlines()) >= 25,
            30,
            "25 delivered events",
        )
    finally:
        code, err = stop_worker(proc)
    assert code == 0, err
    assert "25 timers" in err
