"""Reading many leads of a process: filtered, in id order, a page at a time."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa

from leadflow.engine.store._rows import SELECT_COLS, InstanceRow
from leadflow.engine.store._store import Store
from leadflow.engine.store.tables import instances

__all__ = ["lead_rows"]


def lead_rows(
    store: Store,
    process: str,
    *,
    stage: str | None = None,
    owners: Collection[str] | None = None,
    unassigned: bool = False,
    closed: bool | None = None,
    after: int = 0,
    limit: int = 50,
) -> list[InstanceRow]:
    """Up to ``limit`` instances of ``process`` with an id above ``after``, by id.

    ``owners`` keeps leads owned by one of them (plus unowned ones with ``unassigned``);
    ``closed`` True keeps closed leads, False open ones, None both.
    """
    i = instances
    query = sa.select(*(i.c[c.strip()] for c in SELECT_COLS.split(","))).where(
        i.c.process == process, i.c.id > after
    )
    if stage is not None:
        query = query.where(i.c.stage == stage)
    if owners is not None:
        mine = i.c.owner.in_(sorted(owners))
        query = query.where(sa.or_(mine, i.c.owner.is_(None)) if unassigned else mine)
    if closed is not None:
        query = query.where(i.c.closed.is_not(None) if closed else i.c.closed.is_(None))
    rows = store.query(query.order_by(i.c.id).limit(limit), f"list leads of {process}")
    return [store.row(r) for r in rows]
