"""Fixtures of the engine's API tests (the ``test_runtime_*`` files): a clock, engines on the
test's database, and a second empty database on the same backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from runtime_support import FEATURES, REFERENCE, T0

from leadflow.engine import Engine
from leadflow.engine.testing import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    """Simulated time starting at ``T0``."""
    return ManualClock(T0)


@pytest.fixture
def make_engine(db_url: str, clock: ManualClock) -> Iterator[Callable[..., Engine]]:
    """A factory of engines on the test's database; each is closed after the test."""
    opened: list[Engine] = []

    def make(**kwargs: Any) -> Engine:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("create", True)
        engine = Engine(db_url, **kwargs)
        opened.append(engine)
        return engine

    yield make
    for engine in opened:
        engine.close()


@pytest.fixture
def engine(make_engine: Callable[..., Engine]) -> Engine:
    """An engine with the reference and the feature definitions deployed."""
    eng = make_engine()
    eng.deploy(REFERENCE)
    eng.deploy(FEATURES)
    return eng


@pytest.fixture
def other_db_url(db_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A second empty database on the same backend as ``db_url``."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'other.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    url: str = server.create_database()
    yield url
    server.drop_database(url.rsplit("/", 1)[1])
