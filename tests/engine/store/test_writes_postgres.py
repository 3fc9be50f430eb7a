"""Writes on PostgreSQL: one that lost a race to another engine (the lead moved on after this
transaction read it) ends as :class:`ConcurrentUpdate` with nothing of it kept, and leaves the
engine's kept connection usable; a single change's log rows and wake-up go in one statement."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
import sqlalchemy as sa
from runtime_support import REFERENCE, T0

from leadflow.engine import ConcurrentUpdate, Engine, LeadflowError
from leadflow.engine.store import WAKEUP_CHANNEL
from leadflow.engine.testing import ManualClock

P = "inbound-lead"


@pytest.fixture
def engines(postgres_url: str) -> Iterator[tuple[Engine, Engine]]:
    clock = ManualClock(T0)
    first = Engine(postgres_url, create=True, clock=clock)
    rival = Engine(postgres_url, clock=clock)
    first.deploy(REFERENCE)
    first.start(P, "a", {"email": "a@example.com"})
    yield first, rival
    rival.close()
    first.close()


def _history(engine: Engine) -> list[tuple[int, str, str | None]]:
    with engine.store.sa.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT h.seq, h.kind, h.actor FROM lf_history h "
                "JOIN lf_instances i ON i.id = h.instance_id WHERE i.lead_id = 'a' ORDER BY h.seq"
            )
        )
        return [(r[0], r[1], r[2]) for r in rows]


def _outbox_count(engine: Engine) -> int:
    with engine.store.sa.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM lf_outbox")).scalar_one())


@pytest.mark.postgres
def test_a_write_that_lost_a_race_keeps_nothing(
    engines: tuple[Engine, Engine],
) -> None:
    """The lead moves on (another engine commits version 2) after this transaction read
    version 1: the version-checked UPDATE matches no row; the caller gets ConcurrentUpdate,
    only the rival's change is stored, and the next change through the same engine (and its
    kept connection) works."""
    engine, rival = engines
    runtime = engine.runtime
    events_before = _outbox_count(engine)

    def lose_a_race() -> None:
        with engine.store.transaction("race") as tx:
            row = runtime.load(tx, P, "a")
            rival.record(P, "a", "call", {"minutes": 3}, actor="rival")
            compiled = runtime.compiled(P, row.definition_version)
            activity = runtime.planner.activity(P, "a", "email", {})
            change = runtime.planner.record(compiled, row, activity, "loser", T0)
            runtime.write(tx, change)

    with pytest.raises(ConcurrentUpdate) as caught:
        lose_a_race()
    assert caught.value.expected_version == 1
    assert _history(engine) == [(1, "started", None), (2, "activity", "rival")]
    assert _outbox_count(engine) == events_before + 1  # the rival's event only
    engine.record(P, "a", "email", {}, actor="winner")
    assert _history(engine)[-1] == (3, "activity", "winner")


@pytest.mark.postgres
def test_writes_of_one_lead_from_two_engines_keep_every_version(
    engines: tuple[Engine, Engine],
) -> None:
    """Alternating engines (each keeping its connection) write versions 2..21 in order."""
    engine, rival = engines
    for i in range(20):
        (engine if i % 2 else rival).record(P, "a", "call", {}, actor=f"a{i}")
    seqs = [seq for seq, _, _ in _history(engine)]
    assert seqs == list(range(1, 22))
    assert engine.get(P, "a").version == 21


@pytest.mark.postgres
def test_a_change_written_in_one_statement_keeps_its_rows_and_wakes_listeners(
    engines: tuple[Engine, Engine], postgres_url: str
) -> None:
    """On PostgreSQL a single change's history row, its event and the workers' wake-up go in
    one statement: the rows hold exactly what the change made (time, kind, actor, seq), the
    event's payload is its CloudEvent, and a listener hears one notification per commit and
    none from a change that was refused."""
    engine, _ = engines
    listener = psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True)
    try:
        listener.execute(f"LISTEN {WAKEUP_CHANNEL}")
        at = T0 + timedelta(minutes=5)
        engine.record(P, "a", "call", {"minutes": 3}, actor="ana", at=at)
        with pytest.raises(LeadflowError):
            engine.fire(P, "a", "no-such-trigger", actor="ana", at=at)
        heard = [n.channel for n in listener.notifies(timeout=1, stop_after=2)]
    finally:
        listener.close()
    assert heard == [WAKEUP_CHANNEL]
    with engine.store.sa.connect() as conn:
        history = conn.execute(
            sa.text("SELECT seq, kind, actor, at FROM lf_history WHERE seq = 2")
        ).one()
        event = conn.execute(
            sa.text("SELECT seq, type, at, payload FROM lf_outbox WHERE seq = 2")
        ).one()
    assert tuple(history) == (2, "activity", "ana", at)
    assert (event[0], event[1], event[2]) == (2, "leadflow.lead.activity_recorded", at)
    payload = json.loads(event[3])
    assert payload["type"] == "leadflow.lead.activity_recorded"
    assert payload["data"]["lead_id"] == "a"
    assert payload["data"]["seq"] == 2


@pytest.mark.postgres
def test_disposing_the_pool_renews_the_connections_the_store_kept(postgres_url: str) -> None:
    """A database setting changed, then ``store.sa.dispose()``: the next transaction runs on a
    new connection with the new setting (the connection kept from the last one is closed)."""
    with Engine(postgres_url, create=True) as engine:
        engine.deploy(REFERENCE)  # leaves a connection kept for the next transaction

        def setting() -> str:
            with engine.store.transaction("show") as tx:
                tx.cur.execute("SHOW deadlock_timeout")
                return str(tx.cur.fetchone()[0])

        before = setting()
        with engine.store.sa.connect() as conn:
            name = conn.execute(sa.text("SELECT current_database()")).scalar_one()
            conn.execute(sa.text(f"ALTER DATABASE \"{name}\" SET deadlock_timeout = '123ms'"))
            conn.commit()
        assert setting() == before  # a kept connection keeps its session's settings
        engine.store.sa.dispose()
        assert setting() == "123ms"
