"""The outbox's administrative statements: backlog counts, listing, retries and purges.

Like :mod:`._outbox`, every function takes an open connection inside a transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from leadflow.engine.store._outbox import DEAD, DELIVERED, PENDING, decode_time
from leadflow.engine.store.tables import deliveries, instances, outbox

__all__ = [
    "DELIVERY_STATUSES",
    "BacklogRow",
    "DeliveryRow",
    "backlog",
    "list_deliveries",
    "purge",
    "retry_dead",
    "retry_ids",
    "statuses",
]

DELIVERY_STATUSES = (PENDING, DELIVERED, DEAD)
_d = deliveries
_o = outbox
_i = instances


class BacklogRow(NamedTuple):
    """One adapter's deliveries by status (``due`` and ``leased`` are pending ones)."""

    adapter: str
    pending: int
    delivered: int
    dead: int
    due: int
    leased: int
    oldest_pending: datetime | None


class DeliveryRow(NamedTuple):
    """One delivery with its lead and event."""

    id: int
    adapter: str
    status: str
    attempts: int
    process: str
    lead_id: str
    seq: int
    event_id: str
    event_type: str
    created_at: datetime
    next_attempt_at: datetime
    leased_until: datetime | None
    delivered_at: datetime | None
    last_status: int | None
    last_error: str | None


def backlog(conn: sa.Connection, at: datetime) -> list[BacklogRow]:
    """Per adapter with deliveries: counts by status, due and leased as of ``at``."""
    leased = sa.and_(_d.c.status == PENDING, _d.c.leased_until > at)
    due = sa.and_(_d.c.status == PENDING, _d.c.next_attempt_at <= at)
    query = sa.select(
        _d.c.adapter,
        *(sa.func.count().filter(_d.c.status == s) for s in DELIVERY_STATUSES),
        sa.func.count().filter(due),
        sa.func.count().filter(leased),
        sa.func.min(_d.c.created_at).filter(_d.c.status == PENDING),
    ).group_by(_d.c.adapter)
    return [
        BacklogRow(r[0], r[1], r[2], r[3], r[4], r[5], decode_time(r[6]))
        for r in conn.execute(query).all()
    ]


def list_deliveries(
    conn: sa.Connection,
    status: str | None,
    adapter: str | None,
    lead_id: str | None,
    limit: int,
) -> list[DeliveryRow]:
    """Deliveries, oldest first, filtered by status, adapter and lead id."""
    query = (
        sa.select(
            _d.c.id,
            _d.c.adapter,
            _d.c.status,
            _d.c.attempts,
            _i.c.process,
            _i.c.lead_id,
            _d.c.seq,
            _o.c.event_id,
            _o.c.type,
            _d.c.created_at,
            _d.c.next_attempt_at,
            _d.c.leased_until,
            _d.c.delivered_at,
            _d.c.last_status,
            _d.c.last_error,
        )
        .join(_o, _o.c.id == _d.c.outbox_id)
        .join(_i, _i.c.id == _d.c.instance_id)
        .order_by(_d.c.id)
        .limit(limit)
    )
    if status is not None:
        query = query.where(_d.c.status == status)
    if adapter is not None:
        query = query.where(_d.c.adapter == adapter)
    if lead_id is not None:
        query = query.where(_i.c.lead_id == lead_id)
    return [_row(r) for r in conn.execute(query).all()]


def _row(r: Sequence[Any]) -> DeliveryRow:
    created, next_at = decode_time(r[9]), decode_time(r[10])
    assert created is not None
    assert next_at is not None
    return DeliveryRow(
        id=r[0],
        adapter=r[1],
        status=r[2],
        attempts=r[3],
        process=r[4],
        lead_id=r[5],
        seq=r[6],
        event_id=r[7],
        event_type=r[8],
        created_at=created,
        next_attempt_at=next_at,
        leased_until=decode_time(r[11]),
        delivered_at=decode_time(r[12]),
        last_status=r[13],
        last_error=r[14],
    )


def _fresh(at: datetime, reset: bool) -> dict[str, Any]:
    values: dict[str, Any] = {"status": PENDING, "next_attempt_at": at}
    if reset:
        values.update(attempts=0, leased_until=None, lease_owner=None)
    return values


def retry_dead(conn: sa.Connection, adapter: str | None, at: datetime) -> int:
    """Every dead letter (of ``adapter``) due at ``at`` with a fresh retry budget."""
    where: list[sa.ColumnElement[bool]] = [_d.c.status == DEAD]
    if adapter is not None:
        where.append(_d.c.adapter == adapter)
    result = conn.execute(sa.update(_d).where(*where).values(**_fresh(at, reset=True)))
    return int(result.rowcount)


def statuses(conn: sa.Connection, ids: Sequence[int], adapter: str | None) -> dict[int, str]:
    """The status of each of ``ids`` that exists (and belongs to ``adapter``)."""
    where: list[sa.ColumnElement[bool]] = [_d.c.id.in_(ids)]
    if adapter is not None:
        where.append(_d.c.adapter == adapter)
    return {int(i): str(s) for i, s in conn.execute(sa.select(_d.c.id, _d.c.status).where(*where))}


def retry_ids(
    conn: sa.Connection, dead: Sequence[int], pending: Sequence[int], at: datetime
) -> None:
    """Dead letters ``dead`` come back with a fresh budget; ``pending`` skip their backoff."""
    if dead:
        conn.execute(sa.update(_d).where(_d.c.id.in_(dead)).values(**_fresh(at, True)))
    if pending:
        conn.execute(sa.update(_d).where(_d.c.id.in_(pending)).values(**_fresh(at, False)))


def purge(conn: sa.Connection, delivered_before: datetime | None, dead: bool) -> tuple[int, int]:
    """Delete deliveries delivered before ``delivered_before`` (and the fanned-out events older
    than then with no delivery left) and, with ``dead``, every dead letter. Returns (deliveries,
    events) deleted."""
    removed = events = 0
    if delivered_before is not None:
        cut = delivered_before.astimezone(UTC)
        removed += conn.execute(
            sa.delete(_d).where(_d.c.status == DELIVERED, _d.c.delivered_at < cut)
        ).rowcount
    if dead:
        removed += conn.execute(sa.delete(_d).where(_d.c.status == DEAD)).rowcount
    if delivered_before is not None:
        left = sa.exists().where(_d.c.outbox_id == _o.c.id)
        events = conn.execute(
            sa.delete(_o).where(
                _o.c.dispatched == sa.true(),
                _o.c.at < delivered_before.astimezone(UTC),
                ~left,
            )
        ).rowcount
    return int(removed), int(events)
