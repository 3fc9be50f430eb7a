"""The outbox dispatcher's statements: fan-out, leased claims, outcomes and the next due time.

Every function takes an open SQLAlchemy connection inside a transaction opened by
:func:`write_tx` (or a plain read). On PostgreSQL, claims lock rows with ``FOR UPDATE SKIP
LOCKED`` so several dispatchers share the work without waiting for each other; on SQLite the
write transaction starts with ``BEGIN IMMEDIATE`` (one writer at a time, so a claim's SELECT and
UPDATE see the same rows).

A delivery is *eligible* when it is pending, due, not leased, and is the head of its lead's
queue for its adapter: no earlier (lower ``seq``) delivery of the same lead and adapter is
pending (or dead, with ``block_on_dead``), and no earlier event of the lead is still waiting
to be fanned out (another dispatcher may be fanning it out right now).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from leadflow.engine._errors import StorageError, TransactionConflict
from leadflow.engine.store.tables import deliveries, instances, outbox

__all__ = [
    "DEAD",
    "DELIVERED",
    "PENDING",
    "claim",
    "decode_time",
    "due_times",
    "fan_out",
    "record",
    "undispatched_count",
    "write_tx",
]

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"

_d = deliveries
_o = outbox
_i = instances
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})


@contextmanager
def write_tx(db: sa.Engine, what: str, *, write: bool = True) -> Iterator[sa.Connection]:
    """A short transaction (a write one starts with ``BEGIN IMMEDIATE`` on SQLite), committed
    on success.

    Database failures become :class:`~leadflow.engine.StorageError` (a deadlock or
    serialization failure: :class:`~leadflow.engine.TransactionConflict`).
    """
    try:
        with db.connect() as conn:
            if write and conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn
            conn.commit()
    except sa.exc.DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES:
            raise TransactionConflict(what) from exc
        raise StorageError(f"{what}: the database failed: {exc.orig}") from exc
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"{what}: the database failed: {exc}") from exc


def decode_time(value: datetime | str | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite gives naive UTC values back)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _stored(value: datetime) -> datetime:
    """A time to bind: UTC (SQLite stores the wall time without the zone)."""
    return value.astimezone(UTC)


# -- fan-out -----------------------------------------------------------------------------------


def fan_out(
    conn: sa.Connection,
    limit: int,
    targets: Callable[[str, str], Sequence[str]],
    now: datetime,
) -> tuple[int, int]:
    """Turn up to ``limit`` undispatched outbox rows into delivery rows and mark them dispatched.

    ``targets(event_type, payload)`` names the adapters that get an event. Returns (events fanned
    out, delivery rows created). Rows another dispatcher has locked are skipped (PostgreSQL).
    """
    rows = conn.execute(
        sa.select(_o.c.id, _o.c.instance_id, _o.c.seq, _o.c.type, _o.c.payload)
        .where(_o.c.dispatched == sa.false())
        .order_by(_o.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return 0, 0
    at = _stored(now)
    inserts: list[dict[str, Any]] = []
    for outbox_id, instance_id, seq, event_type, payload in rows:
        for adapter in targets(event_type, payload):
            inserts.append(
                {
                    "outbox_id": outbox_id,
                    "adapter": adapter,
                    "instance_id": instance_id,
                    "seq": seq,
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": at,
                    "created_at": at,
                }
            )
    if inserts:
        conn.execute(_d.insert(), inserts)
    conn.execute(
        sa.update(_o).where(_o.c.id.in_([r[0] for r in rows])).values(dispatched=sa.true())
    )
    return len(rows), len(inserts)


def undispatched_count(conn: sa.Connection) -> int:
    """How many outbox events wait to be fanned out."""
    count = conn.execute(
        sa.select(sa.func.count()).select_from(_o).where(_o.c.dispatched == sa.false())
    ).scalar()
    return int(count or 0)


# -- claims ------------------------------------------------------------------------------------


def _is_head(block_on_dead: bool) -> sa.ColumnElement[bool]:
    """No earlier delivery of the lead+adapter is in the way, no earlier event is unfanned.

    "Earlier" is by ``seq``, then by outbox id: one change can write several events with one
    ``seq`` (``contact`` writes stage_changed and sla_fulfilled), and they go out in the order
    they were written, one at a time, like events of different changes."""
    earlier = _d.alias("earlier")
    blocking = [PENDING, DEAD] if block_on_dead else [PENDING]
    waiting = _o.alias("waiting")
    return sa.and_(
        ~sa.exists().where(
            earlier.c.instance_id == _d.c.instance_id,
            earlier.c.adapter == _d.c.adapter,
            earlier.c.status.in_(blocking),
            earlier.c.seq <= _d.c.seq,
            sa.or_(earlier.c.seq < _d.c.seq, earlier.c.outbox_id < _d.c.outbox_id),
        ),
        ~sa.exists().where(
            waiting.c.instance_id == _d.c.instance_id,
            waiting.c.dispatched == sa.false(),
            waiting.c.seq <= _d.c.seq,
            sa.or_(waiting.c.seq < _d.c.seq, waiting.c.id < _d.c.outbox_id),
        ),
    )


def _free(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(_d.c.leased_until.is_(None), _d.c.leased_until <= now)


def claim(
    conn: sa.Connection,
    adapters: Sequence[str],
    now: datetime,
    limit: int,
    lease_until: datetime,
    owner: str,
    block_on_dead: bool,
) -> list[Any]:
    """Lease up to ``limit`` eligible deliveries of ``adapters``, oldest first.

    Rows: (id, adapter, seq, attempts, payload, lead data JSON or None). At most one per lead
    and adapter, since only the head of each lead's queue is eligible.
    """
    if not adapters:
        return []
    at = _stored(now)
    rows = conn.execute(
        sa.select(_d.c.id, _d.c.adapter, _d.c.seq, _d.c.attempts, _o.c.payload, _i.c.data)
        .join(_o, _o.c.id == _d.c.outbox_id)
        .outerjoin(_i, _i.c.id == _d.c.instance_id)
        .where(
            _d.c.status == PENDING,
            _d.c.adapter.in_(adapters),
            _d.c.next_attempt_at <= at,
            _free(at),
            _is_head(block_on_dead),
        )
        .order_by(_d.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=_d)
    ).all()
    if rows:
        conn.execute(
            sa.update(_d)
            .where(_d.c.id.in_([r[0] for r in rows]))
            .values(leased_until=_stored(lease_until), lease_owner=owner)
        )
    return list(rows)


def claim_followers(
    conn: sa.Connection,
    head: int,
    types: Collection[str],
    now: datetime,
    lease_until: datetime,
    owner: str,
    limit: int,
) -> list[Any]:
    """Lease the run of pending deliveries right after queue head ``head`` (same lead and
    adapter, next by seq then outbox id) whose event type is in ``types`` and that are due,
    for coalescing into one write. Rows as :func:`claim` gives them, in order. Nobody else
    claims them meanwhile: they are not queue heads while ``head`` is pending."""
    first = sa.select(_d.c.instance_id, _d.c.adapter, _d.c.seq, _d.c.outbox_id).where(
        _d.c.id == head
    )
    found = conn.execute(first).first()
    if found is None or found.instance_id is None:
        return []
    rows = conn.execute(
        sa.select(
            _d.c.id,
            _d.c.adapter,
            _d.c.seq,
            _d.c.attempts,
            _o.c.payload,
            _i.c.data,
            _o.c.type,
            _d.c.next_attempt_at,
            _d.c.leased_until,
        )
        .join(_o, _o.c.id == _d.c.outbox_id)
        .outerjoin(_i, _i.c.id == _d.c.instance_id)
        .where(
            _d.c.instance_id == found.instance_id,
            _d.c.adapter == found.adapter,
            _d.c.status == PENDING,
            sa.or_(
                _d.c.seq > found.seq,
                sa.and_(_d.c.seq == found.seq, _d.c.outbox_id > found.outbox_id),
            ),
        )
        .order_by(_d.c.seq, _d.c.outbox_id)
        .limit(limit)
        .with_for_update(of=_d)
    ).all()
    run = []
    for r in rows:
        lease = decode_time(r.leased_until)
        due = decode_time(r.next_attempt_at)
        if r.type not in types or (due and due > now) or (lease and lease > now):
            break
        run.append(tuple(r)[:6])
    if run:
        conn.execute(
            sa.update(_d)
            .where(_d.c.id.in_([r[0] for r in run]))
            .values(leased_until=_stored(lease_until), lease_owner=owner)
        )
    return run


def record(conn: sa.Connection, outcomes: Sequence[dict[str, Any]], owner: str) -> int:
    """Write the outcome of each delivery this dispatcher still holds the lease of.

    Each outcome has ``b_id``, ``status``, ``attempts``, ``next_attempt_at``, ``last_status``,
    ``last_error`` and ``delivered_at``. Returns how many rows were written (fewer when a lease
    expired and another dispatcher took the delivery over).
    """
    if not outcomes:
        return 0
    statement = (
        sa.update(_d)
        .where(
            _d.c.id == sa.bindparam("b_id"),
            _d.c.lease_owner == owner,
            _d.c.status == PENDING,
        )
        .values(
            status=sa.bindparam("b_status"),
            attempts=sa.bindparam("b_attempts"),
            next_attempt_at=sa.bindparam("b_next", type_=_d.c.next_attempt_at.type),
            leased_until=None,
            lease_owner=None,
            last_status=sa.bindparam("b_last_status"),
            last_error=sa.bindparam("b_last_error"),
            delivered_at=sa.bindparam("b_delivered_at", type_=_d.c.delivered_at.type),
        )
    )
    ordered = sorted(outcomes, key=lambda o: int(o["b_id"]))  # one lock order: no deadlocks
    result = conn.execute(statement, ordered)
    return int(result.rowcount)


# -- when is something due ---------------------------------------------------------------------


def due_times(
    conn: sa.Connection, adapters: Sequence[str], block_on_dead: bool
) -> dict[str, datetime]:
    """Per adapter, the earliest time one of its queue heads can be attempted (lease included)."""
    if not adapters:
        return {}
    start = sa.case(
        (
            sa.and_(_d.c.leased_until.is_not(None), _d.c.leased_until > _d.c.next_attempt_at),
            _d.c.leased_until,
        ),
        else_=_d.c.next_attempt_at,
    )
    rows = conn.execute(
        sa.select(_d.c.adapter, sa.func.min(start))
        .where(_d.c.status == PENDING, _d.c.adapter.in_(adapters), _is_head(block_on_dead))
        .group_by(_d.c.adapter)
    ).all()
    out: dict[str, datetime] = {}
    for adapter, when in rows:
        decoded = decode_time(when)
        if decoded is not None:
            out[adapter] = decoded
    return out
