"""A backlog fanned out at once refreshes PostgreSQL's statistics of the deliveries table, so
the dispatcher's claim is not planned for the empty table the statistics still describe (with
10,000 pending deliveries such a claim ran for minutes: ``bench_scaleout.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from runtime_support import REFERENCE, T0

from leadflow.engine import Engine
from leadflow.engine.store import OutboxStore
from leadflow.engine.store._outbox_store import ANALYZE_AFTER

P = "inbound-lead"


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    with Engine(postgres_url, create=True) as eng:
        eng.deploy(REFERENCE)
        with eng.store.sa.begin() as conn:  # only the store may refresh them in this test
            conn.exec_driver_sql("ALTER TABLE lf_deliveries SET (autovacuum_enabled = false)")
        yield eng


def _analyzed(engine: Engine) -> tuple[bool, float]:
    with engine.store.sa.connect() as conn:
        last = conn.exec_driver_sql(
            "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'lf_deliveries'"
        ).scalar()
        rows = conn.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE oid = 'lf_deliveries'::regclass"
        ).scalar()
    return last is not None, float(rows or 0)


def _fan_out_all(store: OutboxStore) -> int:
    created = 0
    while True:
        events, deliveries = store.fan_out(400, lambda kind, payload: ["crm"], T0)
        created += deliveries
        if events == 0:
            return created


@pytest.mark.postgres
def test_a_backlog_fanned_out_at_once_refreshes_the_statistics(engine: Engine) -> None:
    """1,200 deliveries created by one store: past ANALYZE_AFTER the table's statistics count
    them; a few more do not analyze again."""
    leads = [(f"L{i}", {"email": f"l{i}@example.com"}) for i in range(ANALYZE_AFTER + 200)]
    engine.start_many(P, leads)
    store = OutboxStore(engine.store.sa)
    assert _fan_out_all(store) == ANALYZE_AFTER + 200
    analyzed, rows = _analyzed(engine)
    assert analyzed
    assert rows >= ANALYZE_AFTER  # the claim is planned for the rows that are there


@pytest.mark.postgres
def test_a_few_deliveries_leave_the_statistics_to_autovacuum(engine: Engine) -> None:
    """Below the threshold nothing is analyzed: small rounds cost no ANALYZE."""
    engine.start_many(P, [(f"L{i}", {"email": f"l{i}@example.com"}) for i in range(50)])
    assert _fan_out_all(OutboxStore(engine.store.sa)) == 50
    assert not _analyzed(engine)[0]


def test_statistics_are_postgresql_only(tmp_path: Path) -> None:
    """On SQLite a large fan-out runs no ANALYZE (the store checks the dialect)."""
    with Engine(f"sqlite:///{tmp_path}/x.db") as eng:
        eng.deploy(REFERENCE)
        eng.start_many(P, [(f"L{i}", {"email": f"l{i}@example.com"}) for i in range(1_100)])
        store = OutboxStore(eng.store.sa)
        assert _fan_out_all(store) == 1_100
        with eng.store.sa.connect() as conn:
            stat = "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
            assert conn.execute(sa.text(stat)).scalar() == 0
