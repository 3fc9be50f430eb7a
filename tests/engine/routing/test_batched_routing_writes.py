"""Routing writes batched in the transaction: many decisions in one transaction rotate exactly
as one-by-one decisions do, every decision is recorded, reads see the decisions made before
them, and a transaction that fails writes none of it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leadflow.engine import Engine
from leadflow.engine.routing import Router, RoutingStore
from leadflow.engine.testing import ManualClock

DESKS = Path(__file__).parents[2] / "definitions" / "routing" / "desks.yaml"
P = "desks"
MON = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A new database with the desks process: SQLite, then PostgreSQL."""
    with Engine(db_url, clock=ManualClock(MON), create=True) as eng:
        eng.deploy(DESKS)
        yield eng


def _rows(engine: Engine, sql: str) -> list[tuple[object, ...]]:
    with engine.store.transaction("read") as tx:
        tx.cur.execute(sql)
        return [tuple(r) for r in tx.cur.fetchall()]


def test_a_batch_rotates_and_records_like_single_starts(engine: Engine) -> None:
    items = [(f"E{i}", {"email": f"e{i}@x.io", "segment": "enterprise"}) for i in range(7)]
    result = engine.start_many(P, items[:4])
    assert not result.failed
    for lead_id, data in items[4:]:  # then one by one, continuing the same rotation
        engine.start(P, lead_id, data)
    owners = [engine.get(P, lead_id).owner for lead_id, _ in items]
    assert owners == ["erin", "frank", "grace", "erin", "frank", "grace", "erin"]
    routes = _rows(engine, "SELECT team, owner FROM lf_routes ORDER BY id")
    assert routes == [("enterprise", o) for o in owners]
    pointer = _rows(engine, "SELECT pointer FROM lf_team_state WHERE team = 'enterprise'")
    assert pointer == [(7 % 3,)]


def test_reads_in_the_transaction_see_its_held_back_decisions(engine: Engine) -> None:
    router = Router(engine.definition(P))
    with engine.store.transaction("route two") as tx:
        routing = RoutingStore.of(tx)
        for lead_id in ("A", "B"):
            tx.cur.execute(
                "INSERT INTO lf_instances (process, lead_id, definition_version, stage, data, "
                "version, created_at, updated_at, stage_entered_at, stage_seq) VALUES "
                f"('{P}', '{lead_id}', 1, 'new', '{{}}', 1, '2026-01-05 15:00:00.000000', "
                "'2026-01-05 15:00:00.000000', '2026-01-05 15:00:00.000000', 1)"
                if engine.store.is_sqlite
                else "INSERT INTO lf_instances (process, lead_id, definition_version, stage, "
                "data, version, created_at, updated_at, stage_entered_at, stage_seq) VALUES "
                f"('{P}', '{lead_id}', 1, 'new', '{{}}', 1, now(), now(), now(), 1)"
            )
        tx.cur.execute("SELECT id FROM lf_instances ORDER BY id")
        ids = [r[0] for r in tx.cur.fetchall()]
        for iid in ids:
            router.route(routing, iid, {"segment": "enterprise"}, MON)
        total, teams = routing.routed(P, MON)  # a read: the held-back decisions count
        assert (total, teams) == (2, {"enterprise": 2})


def test_a_failed_transaction_writes_no_decision_and_no_pointer(engine: Engine) -> None:
    router = Router(engine.definition(P))

    def route_twice_then_fail() -> None:
        with engine.store.transaction("route, then fail") as tx:
            router.route(RoutingStore.of(tx), None, {"segment": "enterprise"}, MON)
            router.route(RoutingStore.of(tx), None, {"segment": "enterprise"}, MON)
            raise RuntimeError("the caller failed after routing")

    with pytest.raises(RuntimeError):
        route_twice_then_fail()
    assert _rows(engine, "SELECT count(*) FROM lf_routes") == [(0,)]
    pointers = _rows(engine, "SELECT pointer FROM lf_team_state WHERE team = 'enterprise'")
    assert pointers in ([], [(0,)])
    engine.start(P, "first", {"email": "f@x.io", "segment": "enterprise"})
    assert engine.get(P, "first").owner == "erin"  # the rotation did not move
