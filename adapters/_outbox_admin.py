"""Operating the outbox: what is waiting, what died, retry it, purge what is done.

:class:`Outbox` needs only the engine (no adapter, no secret): ``leadflow outbox status|list|
retry|purge`` are built on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from leadflow.definitions import LeadflowError
from leadflow.engine import Engine, StorageError
from leadflow.engine.store._outbox import (
    DEAD,
    DELIVERED,
    PENDING,
    decode_time,
    undispatched_count,
    write_tx,
)
from leadflow.engine.store.tables import deliveries, instances, outbox

__all__ = [
    "AdapterBacklog",
    "DeliveryInfo",
    "InvalidOutboxRequest",
    "Outbox",
    "OutboxError",
    "OutboxStatus",
    "PurgeResult",
    "UnknownDelivery",
]

STATUSES = (PENDING, DELIVERED, DEAD)
_d = deliveries
_o = outbox
_i = instances


class OutboxError(LeadflowError):
    """An outbox operation was refused; nothing was changed."""

    code = "outbox-error"


class UnknownDelivery(OutboxError, LookupError):
    """No delivery has these ids (``ids``)."""

    code = "unknown-delivery"

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids = tuple(ids)
        shown = ", ".join(str(i) for i in self.ids)
        super().__init__(
            f"no delivery with id {shown}; `leadflow outbox list` shows the ids (nothing retried)"
        )


class InvalidOutboxRequest(OutboxError, ValueError):
    """The request contradicts itself or the state of the deliveries it names."""

    code = "invalid-outbox-request"


@dataclass(frozen=True, slots=True)
class AdapterBacklog:
    """The deliveries of one adapter by state."""

    adapter: str
    pending: int
    """Not delivered yet (due, waiting for a retry, or leased)."""
    due: int
    """Pending and due now (the head of its lead's queue or not)."""
    leased: int
    """Pending and claimed by a dispatcher right now."""
    dead: int
    """Dead letters: failed permanently or out of retries."""
    delivered: int
    oldest_pending: datetime | None
    """When the oldest pending delivery was created."""
    configured: bool | None = None
    """Whether the adapter is configured (None: not asked)."""


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """The whole outbox at a glance."""

    undispatched: int
    """Events not yet fanned out into deliveries."""
    adapters: tuple[AdapterBacklog, ...]
    """One entry per adapter with deliveries (and per configured adapter), by name."""

    @property
    def pending(self) -> int:
        """Pending deliveries over all adapters."""
        return sum(a.pending for a in self.adapters)

    @property
    def dead(self) -> int:
        """Dead letters over all adapters."""
        return sum(a.dead for a in self.adapters)


@dataclass(frozen=True, slots=True)
class DeliveryInfo:
    """One delivery of one event to one adapter."""

    id: int
    adapter: str
    status: str
    """``pending``, ``delivered`` or ``dead``."""
    attempts: int
    process: str
    lead_id: str
    seq: int
    event_id: str
    """The CloudEvents id: the idempotency key every attempt carries."""
    event_type: str
    created_at: datetime
    next_attempt_at: datetime
    leased_until: datetime | None
    delivered_at: datetime | None
    last_status: int | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What :meth:`Outbox.purge` deleted."""

    deliveries: int
    events: int
    """Outbox events deleted (fanned out, older than the cut-off, with no delivery left)."""


class Outbox:
    """Inspect and repair the outbox of an engine's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _now(self, now: datetime | None) -> datetime:
        when = now if now is not None else self.engine.clock.now()
        if when.tzinfo is None:
            raise ValueError(f"{when.isoformat()} has no timezone; pass an aware datetime")
        return when.astimezone(UTC)

    def _read(self, what: str) -> sa.Connection:
        try:
            return self.engine.store.sa.connect()
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"{what}: cannot connect: {exc}") from exc

    def status(
        self, now: datetime | None = None, configured: Iterable[str] | None = None
    ) -> OutboxStatus:
        """Counts per adapter; ``configured`` (adapter names) marks which ones are configured
        and adds configured adapters that have no deliveries."""
        at = self._now(now)
        leased = sa.and_(_d.c.status == PENDING, _d.c.leased_until > at)
        due = sa.and_(_d.c.status == PENDING, _d.c.next_attempt_at <= at)
        query = sa.select(
            _d.c.adapter,
            *(sa.func.count().filter(_d.c.status == s) for s in STATUSES),
            sa.func.count().filter(due),
            sa.func.count().filter(leased),
            sa.func.min(_d.c.created_at).filter(_d.c.status == PENDING),
        ).group_by(_d.c.adapter)
        try:
            with self._read("outbox status") as conn:
                rows = conn.execute(query).all()
                waiting = undispatched_count(conn)
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"outbox status: the database failed: {exc}") from exc
        names = None if configured is None else set(configured)
        found = {
            r[0]: AdapterBacklog(
                adapter=r[0],
                pending=r[1],
                delivered=r[2],
                dead=r[3],
                due=r[4],
                leased=r[5],
                oldest_pending=decode_time(r[6]),
                configured=None if names is None else r[0] in names,
            )
            for r in rows
        }
        for name in names or ():
            found.setdefault(name, AdapterBacklog(name, 0, 0, 0, 0, 0, None, True))
        return OutboxStatus(waiting, tuple(found[k] for k in sorted(found)))

    def list(
        self,
        status: str | None = None,
        adapter: str | None = None,
        lead_id: str | None = None,
        limit: int = 50,
    ) -> list[DeliveryInfo]:
        """Deliveries, oldest first, filtered by status, adapter and lead id."""
        if status is not None and status not in STATUSES:
            raise InvalidOutboxRequest(
                f"status '{status}' is not one of: {', '.join(STATUSES)} (nothing listed)"
            )
        if limit < 1:
            raise InvalidOutboxRequest(f"limit must be at least 1; got {limit}")
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
        rows = self.engine.store.query(query, "list outbox deliveries")
        return [_info(r) for r in rows]

    def retry(
        self,
        ids: Sequence[int] | None = None,
        *,
        all_dead: bool = False,
        adapter: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Make deliveries due now: dead letters come back with a fresh retry budget, pending
        ones skip their backoff. Name ``ids``, or ``all_dead=True`` (optionally of one
        ``adapter``). Returns how many deliveries changed.

        A dead letter retried after later events of its lead were delivered arrives after
        them: ordering holds only among deliveries that are pending together.
        """
        if bool(ids) == all_dead:
            raise InvalidOutboxRequest(
                "name the deliveries to retry (ids) or ask for all dead letters, not both "
                "and not neither (nothing retried)"
            )
        at = self._now(now)
        with write_tx(self.engine.store.sa, "retry outbox deliveries") as conn:
            if all_dead:
                where = [_d.c.status == DEAD]
                if adapter is not None:
                    where.append(_d.c.adapter == adapter)
                result = conn.execute(sa.update(_d).where(*where).values(**_fresh(at, reset=True)))
                return int(result.rowcount)
            wanted = sorted(set(ids or ()))
            where = [_d.c.id.in_(wanted)]
            if adapter is not None:
                where.append(_d.c.adapter == adapter)
            found = dict(conn.execute(sa.select(_d.c.id, _d.c.status).where(*where)).all())
            missing = [i for i in wanted if i not in found]
            if missing:
                raise UnknownDelivery(missing)
            done = [i for i in wanted if found[i] == DELIVERED]
            if done:
                raise InvalidOutboxRequest(
                    f"delivery {', '.join(map(str, done))} was already delivered; only "
                    "pending and dead deliveries can be retried (nothing retried)"
                )
            dead = [i for i in wanted if found[i] == DEAD]
            pending = [i for i in wanted if found[i] == PENDING]
            if dead:
                conn.execute(sa.update(_d).where(_d.c.id.in_(dead)).values(**_fresh(at, True)))
            if pending:
                conn.execute(sa.update(_d).where(_d.c.id.in_(pending)).values(**_fresh(at, False)))
            return len(wanted)

    def purge(self, *, delivered_before: datetime | None = None, dead: bool = False) -> PurgeResult:
        """Delete deliveries that are done: ``delivered_before`` deletes deliveries delivered
        before then and the fanned-out events older than then that have no delivery left;
        ``dead`` deletes every dead letter. Pending deliveries are never purged."""
        if delivered_before is None and not dead:
            raise InvalidOutboxRequest(
                "say what to purge: deliveries delivered before a date, dead letters, or "
                "both (nothing purged)"
            )
        if delivered_before is not None and delivered_before.tzinfo is None:
            raise ValueError(f"{delivered_before.isoformat()} has no timezone")
        removed = events = 0
        with write_tx(self.engine.store.sa, "purge the outbox") as conn:
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
        return PurgeResult(int(removed), int(events))


def _fresh(at: datetime, reset: bool) -> dict[str, Any]:
    values: dict[str, Any] = {"status": PENDING, "next_attempt_at": at}
    if reset:
        values.update(attempts=0, leased_until=None, lease_owner=None)
    return values


def _info(r: Sequence[Any]) -> DeliveryInfo:
    created, next_at = decode_time(r[9]), decode_time(r[10])
    assert created is not None
    assert next_at is not None
    return DeliveryInfo(
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
