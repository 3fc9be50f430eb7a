"""Reading many leads of a process: filtered, in id order, a page at a time; their totals
per stage; their newest activities; the newest change."""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from leadflow.engine.store._rows import SELECT_COLS, InstanceRow
from leadflow.engine.store._store import Store
from leadflow.engine.store.tables import activities, history, instances

__all__ = ["last_activities", "last_change", "lead_rows", "open_totals"]


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
    fields: Mapping[str, str] | None = None,
) -> list[InstanceRow]:
    """Up to ``limit`` instances of ``process`` with an id above ``after``, by id.

    ``owners`` keeps leads owned by one of them (plus unowned ones with ``unassigned``);
    ``closed`` True keeps closed leads, False open ones, None both; ``fields`` keeps leads
    whose text fields hold exactly those values (``{"segment": "smb"}``).
    """
    i = instances
    query = sa.select(*(i.c[c.strip()] for c in SELECT_COLS.split(","))).where(
        i.c.process == process, i.c.id > after, *_field_filters(store, fields)
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


def open_totals(
    store: Store,
    process: str,
    *,
    owners: Collection[str] | None = None,
    unassigned: bool = False,
    value_field: str | None = None,
    fields: Mapping[str, str] | None = None,
) -> dict[str, tuple[int, float]]:
    """(open leads, sum of ``value_field``) per stage of ``process``, filtered by owners and
    fields as :func:`lead_rows` is. Values that are not finite numbers count as 0; without a
    value field the count is one grouped query."""
    i = instances
    where = [i.c.process == process, i.c.closed.is_(None), *_field_filters(store, fields)]
    if owners is not None:
        mine = i.c.owner.in_(sorted(owners))
        where.append(sa.or_(mine, i.c.owner.is_(None)) if unassigned else mine)
    what = f"count open leads of {process}"
    if value_field is None:
        query = sa.select(i.c.stage, sa.func.count()).where(*where).group_by(i.c.stage)
        return {stage: (int(n), 0.0) for stage, n in store.query(query, what)}
    totals: dict[str, tuple[int, float]] = {}
    for stage, data in store.query(sa.select(i.c.stage, i.c.data).where(*where), what):
        n, total = totals.get(stage, (0, 0.0))
        totals[stage] = (n + 1, total + _number(json.loads(data).get(value_field)))
    return totals


def last_activities(store: Store, instance_ids: Collection[int]) -> dict[int, tuple[str, datetime]]:
    """The newest activity (type, time) of each of the instances that has one: one query."""
    if not instance_ids:
        return {}
    a = activities
    newest = (
        sa.select(
            a.c.instance_id,
            a.c.type,
            a.c.at,
            sa.func.row_number()
            .over(partition_by=a.c.instance_id, order_by=(a.c.at.desc(), a.c.seq.desc()))
            .label("n"),
        )
        .where(a.c.instance_id.in_(sorted(instance_ids)))
        .subquery()
    )
    query = sa.select(newest.c.instance_id, newest.c.type, newest.c.at).where(newest.c.n == 1)
    rows = store.query(query, "read the last activities")
    return {int(r[0]): (str(r[1]), store.decode_time(r[2])) for r in rows}


def last_change(store: Store) -> int:
    """The id of the newest history row of any lead (0 when there is none): it grows with every
    change, so a page polls it to know whether anything changed (one indexed read)."""
    rows = store.query(sa.select(sa.func.max(history.c.id)), "read the last change")
    return int(rows[0][0] or 0)


def _field_filters(store: Store, fields: Mapping[str, str] | None) -> list[sa.ColumnElement[bool]]:
    """``data.<name> = value`` for each field, in the dialect's JSON (the data column is text:
    PostgreSQL casts it to jsonb, SQLite's JSON functions read text as it is)."""
    out: list[sa.ColumnElement[bool]] = []
    for name, value in (fields or {}).items():
        if store.dialect == "postgresql":
            text = sa.cast(instances.c.data, postgresql.JSONB)[name].astext
        else:
            text = sa.type_coerce(instances.c.data, sa.JSON)[name].as_string()
        out.append(text == value)
    return out


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) else 0.0
