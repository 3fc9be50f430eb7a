"""Schema migrations with Alembic: ``leadflow db upgrade`` and the same from Python.

The migration scripts ship inside the package (``leadflow/engine/migrations``); no
``alembic.ini`` is needed. SQLite databases are created by :class:`~leadflow.engine.Engine` on
first use and stamped with the current revision, so later upgrades apply cleanly.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ._errors import StorageError
from ._store import _make_engine

__all__ = ["MIGRATIONS", "current", "head", "upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")
"""The folder holding ``env.py`` and ``versions/``."""


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    """The newest revision the shipped migrations define."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def _engine(db: str | sa.Engine) -> tuple[sa.Engine, bool]:
    return (db, False) if isinstance(db, sa.Engine) else (_make_engine(db), True)


def upgrade(db: str | sa.Engine, revision: str = "head") -> str:
    """Migrate the database to ``revision`` (default: the newest); return the revision reached."""
    engine, owned = _engine(db)
    try:
        with engine.begin() as conn:
            config = _config()
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
        return current(engine) or ""
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"database upgrade failed: {exc.__cause__ or exc}") from exc
    finally:
        if owned:
            engine.dispose()


def current(db: str | sa.Engine) -> str | None:
    """The revision the database is at, or None for a database without leadflow tables."""
    engine, owned = _engine(db)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"cannot read the schema revision: {exc.__cause__ or exc}") from exc
    finally:
        if owned:
            engine.dispose()
