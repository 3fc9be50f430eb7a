"""Alembic environment for leadflow's own tables (run through ``leadflow.engine.store``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from leadflow.engine.store.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - migrate.py always passes a connection
    raise RuntimeError("run leadflow migrations through leadflow.engine.store.upgrade()")
_run(connection)
