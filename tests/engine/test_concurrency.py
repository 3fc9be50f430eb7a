"""Concurrent writers on one lead: exactly one change wins, the losers write nothing.

Two OS processes (``spawn``) fire the same trigger on the same lead at the same moment, released
together by a barrier, for many leads in a row, on a SQLite file and on PostgreSQL. Threads of
one process sharing an Engine do the same, and race ``start`` and ``record`` too.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from leadflow.engine import ConcurrentUpdate, DuplicateLead, Engine, LeadflowError

REFERENCE = Path(__file__).parents[1] / "definitions" / "reference.yaml"
P = "inbound-lead"
ROUNDS = 40
THREADS = 6
#: What the loser of a race on ``contact`` may see: the conflict itself, or (if it read after
#: the winner committed) a stage that no longer allows ``contact``.
LOSING = {"ConcurrentUpdate", "InvalidTransition", "GuardFailed"}


def _fire_worker(
    url: str, leads: list[str], barrier: Any, results: Any, name: str
) -> None:  # pragma: no cover - runs in a spawned process
    """Fire ``contact`` on each lead right after every process reached the barrier."""
    engine = Engine(url)
    outcomes: list[tuple[str, str, str]] = []
    try:
        for lead in leads:
            barrier.wait(timeout=60)
            try:
                engine.fire(P, lead, "contact", actor=name)
                outcomes.append((lead, "ok", name))
            except LeadflowError as exc:
                outcomes.append((lead, type(exc).__name__, str(exc)))
    except BaseException as exc:
        outcomes.append(("<worker>", type(exc).__name__, str(exc)))
        barrier.abort()
    finally:
        engine.close()
        results.put(outcomes)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine with the reference process and ROUNDS leads that each logged a call."""
    eng = Engine(db_url, create=True)
    eng.deploy(REFERENCE)
    leads = [f"L{n:02d}" for n in range(ROUNDS)]
    assert eng.start_many(P, [(lead, {"email": f"{lead}@x"}) for lead in leads]).ok
    for lead in leads:
        eng.record(P, lead, "call")
    yield eng
    eng.close()


def _table(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.store.sa.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def assert_one_transition_each(engine: Engine, leads: list[str]) -> None:
    """Each lead moved exactly once: one transition row and one stage event, version 3."""
    for lead in leads:
        inst = engine.get(P, lead)
        assert (inst.stage, inst.version) == ("contacted", 3), lead
        history = engine.history(P, lead)
        assert [h.seq for h in history] == [1, 2, 3]
        assert [(h.kind, h.trigger) for h in history] == [
            ("started", None),
            ("activity", None),
            ("transition", "contact"),
        ]
        events = _table(
            engine,
            "SELECT o.seq, o.type FROM lf_outbox o JOIN lf_instances i ON i.id = o.instance_id "
            "WHERE i.lead_id = :lead ORDER BY o.seq",
            lead=lead,
        )
        assert events == [
            (1, "leadflow.lead.started"),
            (2, "leadflow.lead.activity_recorded"),
            (3, "leadflow.lead.stage_changed"),
        ]


def _race_processes(url: str, leads: list[str]) -> list[tuple[str, str, str]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_fire_worker, args=(url, leads, barrier, results, f"worker-{n}"))
        for n in range(2)
    ]
    for proc in procs:
        proc.start()
    try:
        outcomes = [row for _ in procs for row in results.get(timeout=120)]
    finally:
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():  # pragma: no cover - only when a worker hangs
                proc.kill()
                proc.join()
            proc.close()
        results.close()
        results.join_thread()
    return outcomes


def test_two_processes_racing_on_each_lead_let_exactly_one_win(engine: Engine, db_url: str) -> None:
    """Two processes firing ``contact`` together: one succeeds, the other changes nothing."""
    leads = [f"L{n:02d}" for n in range(ROUNDS)]
    outcomes = _race_processes(db_url, leads)
    assert [row for row in outcomes if row[0] == "<worker>"] == []
    by_lead: dict[str, list[str]] = {lead: [] for lead in leads}
    for lead, outcome, _ in outcomes:
        by_lead[lead].append(outcome)
    for lead, seen in by_lead.items():
        assert len(seen) == 2, lead
        assert seen.count("ok") == 1, (lead, seen)
        assert set(seen) - {"ok"} <= LOSING, (lead, seen)
    assert_one_transition_each(engine, leads)
    winners = {name for lead, outcome, name in outcomes if outcome == "ok"}
    assert winners <= {"worker-0", "worker-1"}
    actors = {engine.history(P, lead)[-1].actor for lead in leads}
    assert actors == winners
    assert _table(engine, "SELECT count(*) FROM lf_outbox") == _table(
        engine, "SELECT count(*) FROM lf_history"
    )


def _race_threads(call: Callable[[int], Any], n: int = THREADS) -> list[str]:
    """Run ``call(i)`` in ``n`` threads released together; return each outcome's name."""
    barrier = threading.Barrier(n)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            call(i)
            outcome = "ok"
        except LeadflowError as exc:
            outcome = type(exc).__name__
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            outcome = repr(exc)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == n
    return outcomes


def test_threads_racing_on_a_lead_let_exactly_one_win(engine: Engine) -> None:
    """Threads sharing one Engine fire ``contact`` together on each lead: one wins."""
    leads = [f"L{n:02d}" for n in range(ROUNDS // 2)]
    for lead in leads:
        outcomes = _race_threads(lambda _i, lead=lead: engine.fire(P, lead, "contact"))
        assert outcomes.count("ok") == 1, (lead, outcomes)
        assert set(outcomes) - {"ok"} <= LOSING, (lead, outcomes)
    assert_one_transition_each(engine, leads)


def test_threads_starting_the_same_lead_start_it_once(engine: Engine) -> None:
    """Concurrent starts of one lead id: one succeeds, every other raises DuplicateLead."""
    for n in range(5):
        lead = f"NEW{n}"
        outcomes = _race_threads(
            lambda i, lead=lead: engine.start(P, lead, {"email": f"{i}@x", "score": i})
        )
        assert Counter(outcomes) == {"ok": 1, DuplicateLead.__name__: THREADS - 1}, outcomes
        history = engine.history(P, lead)
        assert [(h.seq, h.kind) for h in history] == [(1, "started")]
        assert engine.get(P, lead).data == history[0].details["data"]


def test_threads_recording_on_one_lead_lose_nothing_they_report(engine: Engine) -> None:
    """Concurrent records either commit or raise ConcurrentUpdate; only commits are stored."""
    lead = "L00"
    outcomes = _race_threads(lambda i: engine.record(P, lead, "email", {"n": i}))
    assert set(outcomes) <= {"ok", ConcurrentUpdate.__name__}, outcomes
    committed = outcomes.count("ok")
    assert committed >= 1
    history = engine.history(P, lead)
    assert [h.seq for h in history] == list(range(1, 3 + committed))
    assert engine.get(P, lead).version == 2 + committed
    emails = [
        h for h in history if h.kind == "activity" and h.details["activity"]["type"] == "email"
    ]
    assert len(emails) == committed
    activity_rows = _table(
        engine,
        "SELECT count(*) FROM lf_activities a JOIN lf_instances i ON i.id = a.instance_id "
        "WHERE i.lead_id = :lead AND a.type = 'email'",
        lead=lead,
    )
    assert activity_rows == [(committed,)]
    assert _table(engine, "SELECT count(*) FROM lf_outbox") == _table(
        engine, "SELECT count(*) FROM lf_history"
    )


def test_threads_deploying_the_same_version_agree_on_one_content(db_url: str) -> None:
    """Racing deploys of one version: same content all succeed, other content conflicts."""
    text = REFERENCE.read_text()
    changed = text.replace("version: 1", "version: 2")
    other = changed.replace("lead.score >= 60", "lead.score >= 90")
    engines = [Engine(db_url, create=True) for _ in range(THREADS)]
    try:
        engines[0].deploy(text)
        sources = [changed if i % 2 else other for i in range(THREADS)]
        outcomes = _race_threads(lambda i: engines[i].deploy(sources[i]))
        winner = engines[0].definition(P, 2)
        cel = next(t for t in winner.transitions if t.name == "qualify").guard[0].cel  # type: ignore[union-attr]
        won_text = changed if cel == "lead.score >= 60" else other
        expected_ok = sum(1 for source in sources if source == won_text)
        assert Counter(outcomes) == {"ok": expected_ok, "DeployConflict": THREADS - expected_ok}
        assert _table(engines[0], "SELECT count(*) FROM lf_definitions") == [(2,)]
    finally:
        for eng in engines:
            eng.close()


def test_threads_starting_overlapping_batches_start_each_lead_once(engine: Engine) -> None:
    """Overlapping start_many batches: every lead is started by exactly one of them."""
    leads = [f"B{n:02d}" for n in range(30)]
    results: list[Any] = [None] * THREADS

    def run(i: int) -> None:
        mine = leads[i * 3 :] + leads[: i * 3]  # each thread starts all of them, rotated
        results[i] = engine.start_many(P, [(lead, {"email": f"{i}@x"}) for lead in mine])

    assert _race_threads(run) == ["ok"] * THREADS
    started = Counter(inst.lead_id for result in results for inst in result.succeeded)
    assert started == dict.fromkeys(leads, 1)
    for result in results:
        assert {type(f.error) for f in result.failed} <= {DuplicateLead}
        assert len(result.succeeded) + len(result.failed) == len(leads)
    for lead in leads:
        assert [h.seq for h in engine.history(P, lead)] == [1]


# -- PostgreSQL deadlocks between batches, made deterministic ----------------------------------


@contextmanager
def _deadlock_setup(url: str) -> Iterator[tuple[Engine, sa.Engine]]:
    """An engine (reference deployed) and a rival SQLAlchemy engine on ``url``.

    The database gets a short ``deadlock_timeout`` so that PostgreSQL resolves a deadlock fast.
    """
    eng = Engine(url, create=True)
    rival = sa.create_engine(url)
    try:
        eng.deploy(REFERENCE)
        with rival.connect() as conn:
            name = conn.execute(sa.text("SELECT current_database()")).scalar_one()
            conn.execute(sa.text(f"ALTER DATABASE \"{name}\" SET deadlock_timeout = '200ms'"))
            conn.commit()
        eng.store.sa.dispose()  # new connections pick the setting up
        yield eng, rival
    finally:
        eng.close()
        rival.dispose()


def _wait_until_blocked(conn: sa.Connection, timeout: float = 10.0) -> None:
    """Wait until another session of this database waits for a lock."""
    deadline = time.monotonic() + timeout
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
    )
    while time.monotonic() < deadline:
        with conn.engine.connect() as probe:
            if probe.execute(query).scalar_one():
                return
        time.sleep(0.02)
    raise AssertionError("the engine never blocked on the rival's lock")


def _in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = call()
        except Exception as exc:
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


@pytest.mark.postgres
def test_fire_many_survives_a_deadlock_with_another_batch(postgres_url: str) -> None:
    """A batch chosen as a PostgreSQL deadlock victim is redone, not failed with StorageError."""
    with _deadlock_setup(postgres_url) as (eng, rival):
        for lead in ("L1", "L2"):
            eng.start(P, lead, {"email": f"{lead}@x"})
            eng.record(P, lead, "call")
        with rival.connect() as conn:
            lock = "SELECT id FROM lf_instances WHERE lead_id = :lead FOR UPDATE"
            conn.execute(sa.text(lock), {"lead": "L2"})  # another batch holds L2 ...
            thread, out = _in_thread(
                lambda: eng.fire_many(P, [("L1", "contact"), ("L2", "contact")])
            )
            _wait_until_blocked(conn)  # ... the engine holds L1 and waits for L2 ...
            with contextlib.suppress(sa.exc.DBAPIError):
                conn.execute(sa.text(lock), {"lead": "L1"})  # ... and the rival wants L1
            conn.rollback()
        thread.join(timeout=30)
        assert "error" not in out, repr(out.get("error"))
        result = out["result"]
        assert [(f.index, type(f.error).__name__) for f in result.failed] == []
        assert [(i.lead_id, i.stage) for i in result.succeeded] == [
            ("L1", "contacted"),
            ("L2", "contacted"),
        ]


@pytest.mark.postgres
def test_start_many_survives_a_deadlock_with_another_batch(postgres_url: str) -> None:
    """Two batches starting the same leads in opposite order: the engine's batch, the deadlock
    victim, is redone lead by lead and reports what the rival started as duplicates, never an
    error; each lead is started once.

    Who starts A is a race after the deadlock: usually the rival's waiting insert of A goes on
    and the rival commits A and B, so the engine reports both duplicates. On a busy machine the
    engine's redo may insert A before the rival's backend runs again: then the rival's insert
    fails, its transaction (with B) rolls back, and the engine starts both."""
    with _deadlock_setup(postgres_url) as (eng, rival):
        eng.start(P, "TEMPLATE", {"email": "t@x"})
        with rival.connect() as conn:
            table = sa.Table("lf_instances", sa.MetaData(), autoload_with=conn)
            template = dict(
                conn.execute(sa.select(table).where(table.c.lead_id == "TEMPLATE")).one()._mapping
            )
            template.pop("id")
            conn.execute(table.insert().values({**template, "lead_id": "B"}))  # rival: B ...
            thread, out = _in_thread(
                lambda: eng.start_many(P, [("A", {"email": "a@x"}), ("B", {"email": "b@x"})])
            )
            _wait_until_blocked(conn)  # ... the engine inserted A and waits on B ...
            try:
                conn.execute(table.insert().values({**template, "lead_id": "A"}))  # ... rival: A
                conn.commit()
                rival_won = True
            except sa.exc.IntegrityError:  # the engine's redo started A first
                conn.rollback()
                rival_won = False
        thread.join(timeout=30)
        assert "error" not in out, repr(out.get("error"))
        result = out["result"]
        failed = [(f.index, f.lead_id, type(f.error)) for f in result.failed]
        if rival_won:
            assert result.succeeded == []
            assert failed == [(0, "A", DuplicateLead), (1, "B", DuplicateLead)]
        else:
            assert [i.lead_id for i in result.succeeded] == ["A", "B"]
            assert failed == []
        with rival.connect() as conn:
            started = conn.execute(
                sa.text("SELECT lead_id, count(*) FROM lf_instances GROUP BY lead_id")
            ).all()
        assert sorted(started) == [("A", 1), ("B", 1), ("TEMPLATE", 1)]
