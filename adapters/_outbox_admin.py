"""Operating the outbox: what is waiting, what died, retry it, purge what is done.

:class:`Outbox` needs only the engine (no adapter, no secret): ``leadflow outbox status|list|
retry|purge`` are built on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from leadflow.definitions import LeadflowError
from leadflow.engine import Engine
from leadflow.engine.store import (
    DELIVERED,
    DELIVERY_STATUSES,
    DeliveryRow,
    OutboxStore,
)

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

STATUSES = DELIVERY_STATUSES


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
        self.rows = OutboxStore(engine.store.sa)

    def _now(self, now: datetime | None) -> datetime:
        when = now if now is not None else self.engine.clock.now()
        if when.tzinfo is None:
            raise ValueError(f"{when.isoformat()} has no timezone; pass an aware datetime")
        return when.astimezone(UTC)

    def status(
        self, now: datetime | None = None, configured: Iterable[str] | None = None
    ) -> OutboxStatus:
        """Counts per adapter; ``configured`` (adapter names) marks which ones are configured
        and adds configured adapters that have no deliveries."""
        waiting, rows = self.rows.backlog(self._now(now))
        names = None if configured is None else set(configured)
        found = {
            r.adapter: AdapterBacklog(
                adapter=r.adapter,
                pending=r.pending,
                delivered=r.delivered,
                dead=r.dead,
                due=r.due,
                leased=r.leased,
                oldest_pending=r.oldest_pending,
                configured=None if names is None else r.adapter in names,
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
        return [_info(r) for r in self.rows.deliveries(status, adapter, lead_id, limit)]

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
        if all_dead:
            return self.rows.retry_dead(adapter, at)
        wanted = sorted(set(ids or ()))

        def check(found: Mapping[int, str]) -> None:
            missing = [i for i in wanted if i not in found]
            if missing:
                raise UnknownDelivery(missing)
            done = [i for i in wanted if found[i] == DELIVERED]
            if done:
                raise InvalidOutboxRequest(
                    f"delivery {', '.join(map(str, done))} was already delivered; only "
                    "pending and dead deliveries can be retried (nothing retried)"
                )

        return self.rows.retry(wanted, adapter, at, check)

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
        return PurgeResult(*self.rows.purge(delivered_before, dead))


def _info(r: DeliveryRow) -> DeliveryInfo:
    return DeliveryInfo(**r._asdict())
