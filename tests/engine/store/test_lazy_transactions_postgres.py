"""Lazy transactions on PostgreSQL: a fire, update, assignment or activity reads its lead
without BEGIN, and a change that is the call's only write commits by itself as one
statement: two round trips instead of four. A change that sets rules off, or whose answer is
remembered under an idempotency key, is still written in one transaction with what follows it.

The round trips are read from libpq's own protocol trace of the engine's connections: each
one ends with the server's ReadyForQuery, which says whether a transaction is open (T) or
not (I)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from psycopg import pq
from runtime_support import REFERENCE, T0

from leadflow.engine import ConcurrentUpdate, Engine, GuardFailed, Idempotency
from leadflow.engine.store import Tx
from leadflow.engine.testing import ManualClock

P = "inbound-lead"
RHYTHM = Path(__file__).parents[2] / "definitions" / "auto" / "rhythm.yaml"

pytestmark = pytest.mark.postgres


class Trace:
    """libpq's protocol trace of every connection an SQLAlchemy engine opens."""

    def __init__(self, engine: sa.Engine, folder: Path) -> None:
        self.conns: list[tuple[Any, Path]] = []
        self.marks: dict[Path, int] = {}
        self.folder = folder

        @sa.event.listens_for(engine, "connect")
        def trace(dbapi: Any, _record: Any) -> None:
            path = folder / f"trace-{len(self.conns)}.txt"
            path.touch()
            self._start(dbapi, path)
            self.conns.append((dbapi, path))

    def _start(self, dbapi: Any, path: Path) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        dbapi.pgconn.trace(fd)
        dbapi.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def _flush(self) -> None:
        for dbapi, path in self.conns:  # untrace flushes libpq's buffer; then trace on
            dbapi.pgconn.untrace()
            self._start(dbapi, path)

    def mark(self) -> None:
        """From here on: what :meth:`since` reads."""
        self._flush()
        self.marks = {path: path.stat().st_size for _, path in self.conns}

    def since(self) -> list[list[str]]:
        """The protocol messages (direction, length, type, ...) sent since :meth:`mark`."""
        self._flush()
        lines: list[list[str]] = []
        for _, path in self.conns:
            with path.open() as f:
                f.seek(self.marks.get(path, 0))
                lines += [line.rstrip("\n").split("\t") for line in f if line.strip()]
        return lines


def ready_states(messages: list[list[str]]) -> list[str]:
    """The transaction state the server reported at the end of each round trip."""
    return [m[3].strip() for m in messages if m[0] == "B" and m[2] == "ReadyForQuery"]


def simple_queries(messages: list[list[str]]) -> list[str]:
    """The statements sent as simple queries (psycopg's BEGIN and COMMIT, and ours)."""
    return [m[3].strip().strip('"') for m in messages if m[0] == "F" and m[2] == "Query"]


@pytest.fixture
def traced(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Engine, Trace]]:
    db = sa.create_engine(postgres_url, pool_reset_on_return=None)
    trace = Trace(db, tmp_path)
    with Engine(db, create=True, clock=ManualClock(T0)) as engine:
        engine.deploy(REFERENCE)
        engine.deploy(RHYTHM)
        for i in range(8):
            engine.start(P, f"l{i}", {"email": f"l{i}@example.com"})
        for i in range(6):  # psycopg prepares a statement on its fifth use: not measured
            engine.update(P, f"l{i}", {"segment": "smb"})
            engine.fire(P, f"l{i}", "lose", {"lost_reason": "bad_data"})
        yield engine, trace
    db.dispose()


def test_a_lone_change_takes_two_round_trips_and_no_transaction(
    traced: tuple[Engine, Trace],
) -> None:
    """An update and a fire each: the read and the one statement that writes and commits;
    the server never reports an open transaction, and the changes are stored."""
    engine, trace = traced
    trace.mark()
    engine.update(P, "l7", {"segment": "enterprise"})
    update = trace.since()
    trace.mark()
    engine.fire(P, "l7", "lose", {"lost_reason": "bad_data"})
    fire = trace.since()
    for messages in (update, fire):
        assert ready_states(messages) == ["I", "I"]
        assert simple_queries(messages) == []
    lead = engine.get(P, "l7")
    assert (lead.stage, lead.data["segment"], lead.version) == ("lost", "enterprise", 3)
    assert [h.kind for h in engine.history(P, "l7")] == ["started", "updated", "transition"]


def test_a_refused_fire_only_reads(traced: tuple[Engine, Trace]) -> None:
    """A fire whose guard is unmet costs one round trip and writes nothing."""
    engine, trace = traced
    trace.mark()
    with pytest.raises(GuardFailed):
        engine.fire(P, "l7", "lose")  # lost_reason missing
    messages = trace.since()
    assert ready_states(messages) == ["I"]
    assert engine.get(P, "l7").version == 1


def test_a_change_that_sets_rules_off_is_written_in_one_transaction(
    traced: tuple[Engine, Trace],
) -> None:
    """A rescore that wakes a parked lead (an automatic transition follows the update): the
    read, then BEGIN, the update, the rule's transition and COMMIT: both or neither."""
    engine, trace = traced
    assert engine.start("rhythm", "r1", {"score": 20}).stage == "nurture"
    trace.mark()
    assert engine.update("rhythm", "r1", {"score": 95}).stage == "new"
    messages = trace.since()
    assert simple_queries(messages) == ["BEGIN", "COMMIT"]
    states = ready_states(messages)
    assert states[0] == "I"  # the read
    assert states[-1] == "I"  # COMMIT
    assert set(states[1:-1]) == {"T"}
    assert len(states) >= 5  # BEGIN and the two writes inside
    kinds = [(h.kind, h.trigger) for h in engine.history("rhythm", "r1")]
    assert kinds[-2:] == [("updated", None), ("transition", "wake")]


def test_an_answer_kept_for_an_idempotency_key_commits_with_its_change(
    traced: tuple[Engine, Trace],
) -> None:
    """The change and its remembered answer go in one transaction; the retry returns it."""
    engine, trace = traced
    key = Idempotency(key="k-1", scope="test", request_hash="h")
    trace.mark()
    first = engine.update(P, "l7", {"segment": "mid_market"}, idempotency=key)
    messages = trace.since()
    assert simple_queries(messages) == ["BEGIN", "COMMIT"]
    again = engine.update(P, "l7", {"segment": "mid_market"}, idempotency=key)
    assert again.version == first.version == 2


def _update_alone(engine: Engine, segment: str, between: Any = None, after: Any = None) -> None:
    """Lead "a"'s segment set as a lazy call's lone write; ``between()`` runs after the read,
    ``after(tx)`` after the write."""
    runtime = engine.runtime
    with engine.store.transaction("lone write", lazy=True) as tx:
        row = runtime.load(tx, P, "a")
        if between is not None:
            between()
        compiled = runtime.compiled(P, row.definition_version)
        change = runtime.planner.update(compiled, row, {"segment": segment}, "me", T0)
        assert change is not None
        runtime.write(tx, change, last=True)
        if after is not None:
            after(tx)


def test_a_lone_write_that_lost_a_race_keeps_nothing(postgres_url: str) -> None:
    """Another engine changes the lead between this call's read and its lone write: the
    write matches no row, so nothing of it is stored, and the caller gets ConcurrentUpdate."""
    clock = ManualClock(T0)
    with Engine(postgres_url, create=True, clock=clock) as engine, Engine(postgres_url) as rival:
        engine.deploy(REFERENCE)
        engine.start(P, "a", {"email": "a@example.com"})

        def rival_writes() -> None:
            rival.update(P, "a", {"segment": "smb"}, actor="rival")

        with pytest.raises(ConcurrentUpdate):
            _update_alone(engine, "enterprise", between=rival_writes)
        lead = engine.get(P, "a")
        assert (lead.version, lead.data["segment"]) == (2, "smb")
        assert [(h.seq, h.actor) for h in engine.history(P, "a")] == [(1, None), (2, "rival")]


def test_nothing_is_written_after_a_lone_write(postgres_url: str) -> None:
    """A lone write has committed: a later write in the same call is a programming error,
    refused before it reaches the database."""
    with Engine(postgres_url, create=True, clock=ManualClock(T0)) as engine:
        engine.deploy(REFERENCE)
        engine.start(P, "a", {"email": "a@example.com"})

        def write_more(tx: Tx) -> None:
            tx.cur.execute("DELETE FROM lf_outbox")

        with pytest.raises(RuntimeError, match="cannot write more"):
            _update_alone(engine, "smb", after=write_more)
        assert engine.get(P, "a").version == 2  # the lone write stands
        assert len(engine.history(P, "a")) == 2


def test_the_kept_connection_is_transactional_again_after_a_lazy_call(
    postgres_url: str,
) -> None:
    """After lazy calls, the engine's kept connection runs ordinary transactions again: a
    write in a transaction rolled back (a dry run) leaves nothing behind."""
    with Engine(postgres_url, create=True, clock=ManualClock(T0)) as engine:
        engine.deploy(REFERENCE)
        engine.start(P, "a", {"email": "a@example.com"})
        engine.update(P, "a", {"segment": "smb"})
        runtime = engine.runtime
        with engine.store.transaction("dry run", commit=False) as tx:
            row = runtime.load(tx, P, "a")
            compiled = runtime.compiled(P, row.definition_version)
            change = runtime.planner.update(compiled, row, {"segment": "enterprise"}, None, T0)
            assert change is not None
            runtime.write(tx, change)
        lead = engine.get(P, "a")
        assert (lead.version, lead.data["segment"]) == (2, "smb")
