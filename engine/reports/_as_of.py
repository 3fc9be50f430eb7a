"""The moment a report describes when none is given: now, or the last change when the data
is old (a demo's, or an export replayed months ago), so that "days in stage" are not the
months since the data ended."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from leadflow.engine import Engine
from leadflow.engine._clock import as_utc
from leadflow.engine.store.tables import history, instances

__all__ = ["STALE_AFTER", "default_as_of", "latest_change"]

STALE_AFTER = timedelta(days=1)
"""Data whose last change is older than this is described as of that change."""


def latest_change(engine: Engine, process: str) -> datetime | None:
    """When the newest change to a lead of ``process`` happened (None: no lead yet)."""
    h, i = history, instances
    query = (
        sa.select(sa.func.max(h.c.at))
        .select_from(h.join(i, h.c.instance_id == i.c.id))
        .where(i.c.process == process)
    )
    rows = engine.store.query(query, f"read the latest change of {process}")
    value = rows[0][0] if rows else None
    return None if value is None else engine.store.decode_time(value)


def default_as_of(engine: Engine, process: str) -> tuple[datetime, bool]:
    """(the moment to describe, whether it is the last change rather than now): the clock's
    now, unless the process's last change is more than :data:`STALE_AFTER` before it."""
    now = as_utc(engine.clock.now())
    latest = latest_change(engine, process)
    if latest is not None and now - latest > STALE_AFTER:
        return latest, True
    return now, False
