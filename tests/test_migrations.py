"""Alembic migrations: they build exactly the tables the engine expects, on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from leadflow.engine import Engine, SchemaMismatch, migrate
from leadflow.engine._tables import SCHEMA_REVISION, metadata

REFERENCE = Path(__file__).parent / "definitions" / "reference.yaml"


def test_the_code_expects_the_newest_migration() -> None:
    """The revision the engine checks for is the head of the shipped migrations."""
    assert migrate.head() == SCHEMA_REVISION


def test_upgrade_builds_the_tables_the_engine_declares(db_url: str) -> None:
    """`upgrade` on an empty database yields a schema with no difference from the tables in
    code (columns, types, indexes, constraints), then the engine runs on it."""
    assert migrate.current(db_url) is None
    assert migrate.upgrade(db_url) == SCHEMA_REVISION
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
    migrate.upgrade(db_url)
    assert migrate.upgrade(db_url) == SCHEMA_REVISION
    assert migrate.current(db_url) == SCHEMA_REVISION


def test_embedded_sqlite_is_created_and_stamped(sqlite_url: str) -> None:
    """A new SQLite database gets its tables from the engine and the current revision stamp,
    so a later `leadflow db upgrade` applies cleanly."""
    Engine(sqlite_url).close()
    assert migrate.current(sqlite_url) == SCHEMA_REVISION


def test_postgres_is_not_created_implicitly(postgres_url: str) -> None:
    """On PostgreSQL the engine refuses an empty database until it is migrated."""
    with pytest.raises(SchemaMismatch) as info:
        Engine(postgres_url)
    assert info.value.found is None
    assert "leadflow db upgrade" in str(info.value)
    migrate.upgrade(postgres_url)
    Engine(postgres_url).close()


@pytest.mark.parametrize("how", ["engine", "alembic"])
def test_history_is_append_only_in_the_database(db_url: str, how: str) -> None:
    """UPDATE and DELETE on the history table are refused by the database itself, whether the
    schema came from the engine (SQLite) or from the migrations."""
    if how == "alembic" or not db_url.startswith("sqlite"):
        migrate.upgrade(db_url)
    with Engine(db_url) as lf:
        lf.deploy(REFERENCE)
        lf.start("inbound-lead", "L1", {"email": "a@b.c"})
        for statement in ("UPDATE lf_history SET actor = 'x'", "DELETE FROM lf_history"):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), lf.store.sa.begin() as c:
                c.execute(sa.text(statement))
        assert len(lf.history("inbound-lead", "L1")) == 1
