"""A PostgreSQL server the chaos and reconnection tests may restart (not the session's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chaos_support import CHAOS
from postgres_server import PostgresServer, PostgresUnavailable, find_bindir, start_server

from leadflow.engine import Engine


@pytest.fixture(scope="session")
def server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of these tests' own (the tests restart it), committing durably so
    an immediate shutdown keeps every acknowledged commit."""
    try:
        bindir = find_bindir()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    with start_server(bindir, settings=("synchronous_commit=on",)) as pg:
        yield pg


@pytest.fixture
def url(server: PostgresServer) -> Iterator[str]:
    """A new database on that server with ``chaos.yaml`` deployed (the server up first)."""
    if server.process.poll() is not None:
        server.start()
    made = server.create_database()
    with Engine(made, create=True) as engine:
        engine.deploy(CHAOS)
    yield made
    server.drop_database(made.rsplit("/", 1)[1])
