"""Moved: the schema upgrades are :mod:`leadflow.engine.store` (``upgrade``, ``current``,
``head``). This name stays so that code written for leadflow 0.1 keeps working."""

from leadflow.engine.store import UPGRADES, current, head, upgrade

MIGRATIONS = UPGRADES
"""The folder holding the Alembic ``env.py`` and ``versions/``."""

__all__ = ["MIGRATIONS", "current", "head", "upgrade"]
