"""The throwaway PostgreSQL server and the database URL fixtures work as promised."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from postgres_server import PostgresServer


@contextmanager
def _engine(url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_query_runs_on_fresh_database(postgres_url: str) -> None:
    """A fresh database answers queries through SQLAlchemy and holds no tables of its own."""
    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    with _engine(postgres_url) as engine, engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1 + 1")).scalar_one() == 2
        assert sa.inspect(conn).get_table_names() == []
        dbname = conn.execute(sa.text("SELECT current_database()")).scalar_one()
    assert postgres_url.endswith(f"/{dbname}")


@pytest.mark.postgres
def test_databases_are_isolated(postgres_server: PostgresServer, postgres_url: str) -> None:
    """A table created in one test database is not visible in another one."""
    other_url = postgres_server.create_database()
    try:
        assert other_url != postgres_url
        with _engine(postgres_url) as engine, engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE leads (id integer PRIMARY KEY)"))
            conn.execute(sa.text("INSERT INTO leads VALUES (1)"))
        with _engine(other_url) as engine, engine.connect() as conn:
            assert sa.inspect(conn).get_table_names() == []
        with _engine(postgres_url) as engine, engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM leads")).scalar_one() == 1
    finally:
        postgres_server.drop_database(other_url.rsplit("/", 1)[1])


@pytest.mark.postgres
def test_server_listens_on_loopback_only(postgres_url: str) -> None:
    """The server is reached over TCP on 127.0.0.1 and listens on no other address."""
    with _engine(postgres_url) as engine, engine.connect() as conn:
        assert str(conn.execute(sa.text("SELECT inet_server_addr()")).scalar_one()) == "127.0.0.1"
        assert conn.execute(sa.text("SHOW listen_addresses")).scalar_one() == "127.0.0.1"
        assert conn.execute(sa.text("SHOW fsync")).scalar_one() == "off"


def test_db_url_covers_both_backends(db_url: str) -> None:
    """Each backend of the parametrized `db_url` fixture gives a working, empty database."""
    with _engine(db_url) as engine, engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
        assert sa.inspect(conn).get_table_names() == []
