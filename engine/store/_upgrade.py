"""Schema upgrades with Alembic: ``leadflow db upgrade`` and the same from Python.

The upgrade scripts ship inside the package (``leadflow/engine/store/upgrades``); no
``alembic.ini`` is needed. SQLite databases are created by :class:`~leadflow.engine.Engine` on
first use and stamped with the current revision, so later upgrades apply cleanly. Alembic is
imported when one of these functions runs, not with the engine (about 80 ms by ``python -X
importtime``, which every CLI command, worker and service start paid).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from leadflow.engine._errors import StorageError
from leadflow.engine.store._store import _make_engine

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["UPGRADES", "current", "head", "upgrade"]

UPGRADES = Path(__file__).with_name("upgrades")
"""The folder holding ``env.py`` and ``versions/``."""


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(UPGRADES))
    return config


def head() -> str:
    """The newest revision the shipped migrations define."""
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def _engine(db: str | sa.Engine) -> tuple[sa.Engine, bool]:
    return (db, False) if isinstance(db, sa.Engine) else (_make_engine(db), True)


def upgrade(db: str | sa.Engine, revision: str = "head") -> str:
    """Migrate the database to ``revision`` (default: the newest); return the revision reached."""
    from alembic import command

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
    from alembic.runtime.migration import MigrationContext

    engine, owned = _engine(db)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"cannot read the schema revision: {exc.__cause__ or exc}") from exc
    finally:
        if owned:
            engine.dispose()
