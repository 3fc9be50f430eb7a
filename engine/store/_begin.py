"""A SQLAlchemy connection in a transaction for the small side tables (views, batch runs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from leadflow.engine._errors import StorageError
from leadflow.engine.store._store import Store

__all__ = ["begin"]


@contextmanager
def begin(store: Store, what: str) -> Iterator[sa.Connection]:
    """Commit on success, roll back on an error; database errors become StorageError
    saying ``what`` was being done."""
    try:
        with store.sa.begin() as conn:
            yield conn
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"{what}: the database failed: {exc.__cause__ or exc}") from exc
