"""Alembic migrations: they build exactly the tables the engine expects, on every backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from leadflow.engine import Engine, SchemaMismatch
from leadflow.engine import store as schema
from leadflow.engine.store.tables import SCHEMA_REVISION, metadata

REFERENCE = Path(__file__).parents[2] / "definitions" / "reference.yaml"


def test_the_code_expects_the_newest_migration() -> None:
    """The revision the engine checks for is the head of the shipped migrations."""
    assert schema.head() == SCHEMA_REVISION


def test_upgrade_builds_the_tables_the_engine_declares(db_url: str) -> None:
    """`upgrade` on an empty database yields a schema with no difference from the tables in
    code (columns, types, indexes, constraints), then the engine runs on it."""
    assert schema.current(db_url) is None
    assert schema.upgrade(db_url) == SCHEMA_REVISION
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
    finally:
        engine.dispose()
    with Engine(db_url) as lf:
        lf.deploy(REFERENCE)
        assert lf.start("inbound-lead", "L1", {"email": "a@b.c"}).stage == "new"


def test_upgrade_is_idempotent(db_url: str) -> None:
    """Upgrading a database that is already at the head changes nothing."""
    schema.upgrade(db_url)
    assert schema.upgrade(db_url) == SCHEMA_REVISION
    assert schema.current(db_url) == SCHEMA_REVISION


def test_embedded_sqlite_is_created_and_stamped(sqlite_url: str) -> None:
    """A new SQLite database gets its tables from the engine and the current revision stamp,
    so a later `leadflow db upgrade` applies cleanly."""
    Engine(sqlite_url).close()
    assert schema.current(sqlite_url) == SCHEMA_REVISION


def test_postgres_is_not_created_implicitly(postgres_url: str) -> None:
    """On PostgreSQL the engine refuses an empty database until it is migrated."""
    with pytest.raises(SchemaMismatch) as info:
        Engine(postgres_url)
    assert info.value.found is None
    assert "leadflow db upgrade" in str(info.value)
    schema.upgrade(postgres_url)
    Engine(postgres_url).close()


@pytest.mark.parametrize("how", ["engine", "alembic"])
def test_history_is_append_only_in_the_database(db_url: str, how: str) -> None:
    """UPDATE and DELETE on the history table are refused by the database itself, whether the
    schema came from the engine (SQLite) or from the migrations."""
    if how == "alembic" or not db_url.startswith("sqlite"):
        schema.upgrade(db_url)
    with Engine(db_url) as lf:
        lf.deploy(REFERENCE)
        lf.start("inbound-lead", "L1", {"email": "a@b.c"})
        for statement in ("UPDATE lf_history SET actor = 'x'", "DELETE FROM lf_history"):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), lf.store.sa.begin() as c:
                c.execute(sa.text(statement))
        assert len(lf.history("inbound-lead", "L1")) == 1


def test_a_database_of_the_first_release_upgrades_with_its_leads(db_url: str) -> None:
    """A database at 0001 with a deployed process, a lead, its history and an outbox event
    upgrades to the head; the engine then runs the old lead (and the outbox row waits for
    fan-out)."""
    from leadflow.definitions import load_definition
    from leadflow.engine._engine import _canonical

    schema.upgrade(db_url, "0001_initial")
    definition = load_definition(REFERENCE)
    body = _canonical(definition, sort_keys=True)
    engine = sa.create_engine(db_url)
    now = "2026-01-05 09:00:00"
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO lf_definitions (process, version, digest, body, deployed_at) "
                    "VALUES (:p, 1, :d, :b, :t)"
                ),
                {"p": definition.process, "d": "0" * 64, "b": body, "t": now},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO lf_instances (process, lead_id, definition_version, stage, "
                    "owner, data, closed, version, created_at, updated_at, stage_entered_at, "
                    "stage_seq) VALUES (:p, 'OLD', 1, 'new', 'ann', :data, NULL, 1, :t, :t, :t, 1)"
                ),
                {"p": definition.process, "data": '{"email": "old@example.com"}', "t": now},
            )
            iid = conn.execute(sa.text("SELECT id FROM lf_instances")).scalar_one()
            conn.execute(
                sa.text(
                    "INSERT INTO lf_history (instance_id, seq, at, kind, details) "
                    "VALUES (:i, 1, :t, 'started', '{}')"
                ),
                {"i": iid, "t": now},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO lf_outbox (event_id, instance_id, seq, type, at, payload) "
                    "VALUES ('e1', :i, 1, 'leadflow.lead.started', :t, '{}')"
                ),
                {"i": iid, "t": now},
            )
    finally:
        engine.dispose()
    assert schema.upgrade(db_url) == SCHEMA_REVISION
    with Engine(db_url) as lf:
        assert lf.get(definition.process, "OLD").owner == "ann"
        lf.record(definition.process, "OLD", "call")
        assert lf.fire(definition.process, "OLD", "contact").stage == "contacted"
        with lf.store.sa.connect() as conn:
            pending = conn.execute(sa.text("SELECT count(*) FROM lf_outbox WHERE NOT dispatched"))
            assert pending.scalar_one() == 3


def test_alembic_is_imported_only_to_migrate(tmp_path: Path) -> None:
    """The engine, the CLI and the service start without importing Alembic (about 80 ms);
    an upgrade imports it and works."""
    url = f"sqlite:///{tmp_path / 'u.db'}"
    code = (
        "import sys\n"
        "import leadflow.engine, leadflow.cli._app, leadflow.service\n"
        "assert 'alembic' not in sys.modules, 'imported at start'\n"
        "from leadflow.engine import store\n"
        f"print(store.upgrade({url!r}))\n"
        "assert 'alembic' in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == SCHEMA_REVISION
