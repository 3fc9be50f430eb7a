"""The transactional outbox dispatcher: every event reaches every subscribed adapter, in order.

The engine writes one ``lf_outbox`` row per change in the change's own transaction. The
:class:`Dispatcher` then, in short transactions of its own:

1. **fans out** undispatched events into one ``lf_deliveries`` row per subscription of the
   event's definition version that wants the event type (``subscriptions:`` in the YAML), and
   marks the event dispatched. Deliveries are made for every subscribed adapter, configured in
   this dispatcher or not: those of an adapter that is not configured wait (``leadflow outbox
   status`` shows them) and go out once it is;
2. **claims** due deliveries: only the head of each lead's queue per adapter (no earlier event of
   the lead pending for that adapter), leased for ``lease`` seconds (``FOR UPDATE SKIP LOCKED``
   on PostgreSQL, so any number of dispatchers can share one database);
3. **delivers** them outside any transaction, batches of different leads in parallel threads
   (at most ``Adapter.max_batch`` per call), every attempt carrying the event id;
4. **records** each outcome: delivered; retried after exponential backoff with full jitter
   (never sooner than the API's ``retry_after``, which also pauses the whole adapter in this
   dispatcher); or dead (a permanent failure, or the retry budget spent).

Dead letters do not hold back the later events of their lead (what HubSpot- and Stripe-style
consumers expect; ``block_on_dead`` changes that). A dispatcher that dies leaves leases that
expire: its in-flight batch is delivered again, with the same event ids, so receivers dedupe.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from leadflow.adapters._coalesce import COALESCED, merge
from leadflow.adapters._flow import listening
from leadflow.adapters._flow import rate_limits as rate_limits_of
from leadflow.adapters._outbox_admin import (
    AdapterBacklog,
    DeliveryInfo,
    InvalidOutboxRequest,
    Outbox,
    OutboxError,
    OutboxStatus,
    PurgeResult,
    UnknownDelivery,
)
from leadflow.adapters._outbox_options import DispatchOptions, backoff_seconds
from leadflow.adapters._views import RoleViews
from leadflow.adapters.base import Adapter, Delivery, Event, Outcome, Result, Subscription
from leadflow.engine import Clock, Engine, LeadflowError
from leadflow.engine.store import DEAD, DELIVERED, PENDING, ClaimedRow, OutboxStore
from leadflow.engine.telemetry import deliveries_done, delivery_span

__all__ = [
    "AdapterBacklog",
    "DeliveryInfo",
    "DispatchOptions",
    "DispatchStats",
    "Dispatcher",
    "InvalidOutboxRequest",
    "Outbox",
    "OutboxError",
    "OutboxStatus",
    "PurgeResult",
    "UnknownDelivery",
]

log = logging.getLogger("leadflow.outbox")

MAX_ERROR = 1000
"""``last_error`` keeps at most this many characters of an adapter's ``Result.detail``."""


@dataclass(slots=True)
class DispatchStats:
    """What one dispatcher did since it was made (counts of delivery attempts by outcome)."""

    fanned_out: int = 0
    """Outbox events fanned out into deliveries."""
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    lost_leases: int = 0
    """Outcomes not recorded because the lease expired first (another dispatcher took over)."""


@dataclass(slots=True)
class _Claimed:
    id: int
    adapter: str
    attempts: int
    delivery: Delivery
    folded: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    """(id, attempts) of later deliveries coalesced into this one (see ``_coalesce``)."""


class Dispatcher:
    """Delivers the outbox of ``engine``'s database to ``adapters`` (name -> adapter).

    ``dispatch_once()`` does one round and returns how many deliveries it attempted;
    ``next_due()`` says when the next round has work; ``run()`` loops. Time comes from
    ``clock`` (default: the engine's), randomness (backoff jitter) from ``rng``. Adapters stay
    the caller's: :meth:`close` does not close them.
    """

    def __init__(
        self,
        engine: Engine,
        adapters: Mapping[str, Adapter],
        options: DispatchOptions | None = None,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        views: Mapping[str, str] | None = None,
        rate_limits: Mapping[str, float] | None = None,
        coalesce: Collection[str] = (),
    ) -> None:
        self.engine = engine
        self.adapters = dict(adapters)
        self.views = RoleViews(engine, views or {})
        """Adapters sent a role's view of the leads (``view = "<role>"`` in the config)."""
        self.views.check()
        self.options = options or DispatchOptions()
        self.clock: Clock = clock or engine.clock
        self.rng = rng or random.Random()
        self.id = uuid.uuid4().hex
        """This dispatcher's lease owner id."""
        self.stats = DispatchStats()
        self.rows = OutboxStore(engine.store.sa)
        self._subscriptions: dict[tuple[str, int], dict[str, Subscription]] = {}
        self._paused: dict[str, datetime] = {}
        self._limits = rate_limits_of(rate_limits or {}, "Dispatcher(rate_limits=...)")
        self.coalesce = frozenset(coalesce)
        """Adapters whose rapid updates of one lead go out as one write (``_coalesce``)."""
        """Per-adapter token buckets (``rate_limit`` in the adapter's table; see ``_flow``)."""
        self._lock = threading.Lock()
        concurrency = self.options.concurrency
        self._pool = (
            ThreadPoolExecutor(concurrency, thread_name_prefix="leadflow-outbox")
            if concurrency > 1
            else None
        )

    def close(self) -> None:
        """Stop the delivery threads (the adapters are not closed)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now(self, now: datetime | None) -> datetime:
        when = now if now is not None else self.clock.now()
        if when.tzinfo is None:
            raise ValueError(f"{when.isoformat()} has no timezone; pass an aware datetime")
        return when.astimezone(UTC)

    # -- subscriptions -------------------------------------------------------------------------

    def _subs(self, process: str, version: int) -> dict[str, Subscription]:
        key = (process, version)
        found = self._subscriptions.get(key)
        if found is None:
            definition = self.engine.definition(process, version)
            found = {
                name: Subscription(
                    adapter=name,
                    events=frozenset(spec.events),
                    stages=dict(spec.stages),
                    fields=dict(spec.fields),
                    options=dict(spec.options),
                )
                for name, spec in definition.subscriptions.items()
            }
            with self._lock:
                self._subscriptions[key] = found
        return found

    def _targets(self, event_type: str, payload: str) -> list[str]:
        """The adapters subscribed to this event (configured here or not)."""
        try:
            data = json.loads(payload)["data"]
            subs = self._subs(data["process"], int(data["definition_version"]))
        except (LeadflowError, ValueError, KeyError, TypeError) as exc:
            log.error("outbox event cannot be fanned out (no delivery made): %s", exc)
            return []
        return [name for name, sub in subs.items() if sub.wants(event_type)]

    # -- one round -----------------------------------------------------------------------------

    def fan_out(self, now: datetime | None = None) -> int:
        """Fan out up to ``fanout_batch`` undispatched events; returns how many."""
        at = self._now(now)
        events, _ = self.rows.fan_out(self.options.fanout_batch, self._targets, at)
        self.stats.fanned_out += events
        return events

    def dispatch_once(self, now: datetime | None = None) -> int:
        """Fan out new events, then claim, deliver and record one batch of due deliveries.

        Returns how many deliveries were attempted (0: nothing was due; see :meth:`next_due`).
        ``now`` fixes the time of the whole round (default: the clock, read again to record).
        """
        at = self._now(now)
        while self.fan_out(at) == self.options.fanout_batch:
            pass
        active = self._active(at)
        if not active:
            return 0
        rows = self._claim(active, at)
        if not rows:
            return 0
        claimed = [self._coalesced(self._claimed(r), at) for r in rows]
        results = self._deliver(claimed)
        self._record(claimed, results, self._now(now))
        return len(claimed)

    def _claim(self, active: list[str], at: datetime) -> list[ClaimedRow]:
        """Lease due deliveries: those of adapters without a rate limit together, each
        rate-limited adapter's no more than its bucket allows."""
        lease_until = at + timedelta(seconds=self.options.lease)
        size, block = self.options.batch_size, self.options.block_on_dead
        free = [name for name in active if name not in self._limits]
        rows = self.rows.claim(free, at, size, lease_until, self.id, block) if free else []
        for name in active:
            bucket = self._limits.get(name)
            allowed = min(size - len(rows), bucket.allowance(at)) if bucket else 0
            if bucket and allowed > 0:
                got = self.rows.claim([name], at, allowed, lease_until, self.id, block)
                bucket.take(len(got), at)
                rows.extend(got)
        return rows

    def _coalesced(self, head: _Claimed, at: datetime) -> _Claimed:
        """``head`` with the updates right behind it folded in, when its adapter coalesces."""
        if head.adapter not in self.coalesce or head.delivery.event.type not in COALESCED:
            return head
        lease_until = at + timedelta(seconds=self.options.lease)
        rows = self.rows.claim_followers(head.id, COALESCED, at, lease_until, self.id)
        if not rows:
            return head
        more = [self._claimed(r) for r in rows]
        event = merge([head.delivery.event, *(c.delivery.event for c in more)])
        delivery = dataclasses.replace(head.delivery, event=event)
        return dataclasses.replace(
            head, delivery=delivery, folded=[(c.id, c.attempts) for c in more]
        )

    def _active(self, at: datetime) -> list[str]:
        """Configured adapters that are not paused by a throttling signal."""
        return sorted(n for n in self.adapters if self._paused.get(n, at) <= at)

    def _claimed(self, row: ClaimedRow) -> _Claimed:
        ident, adapter, seq, attempts, payload, lead = row
        event = Event.from_json(payload, seq)
        if lead:
            event = dataclasses.replace(event, lead=json.loads(lead))
        data = event.data
        try:
            subs = self._subs(str(data["process"]), int(data["definition_version"]))
        except (LeadflowError, KeyError, TypeError, ValueError):
            subs = {}
        subscription = subs.get(adapter) or Subscription(adapter=adapter)
        event = self.views.apply(adapter, event)
        return _Claimed(ident, adapter, attempts, Delivery(event, subscription, attempts + 1))

    def _deliver(self, claimed: Sequence[_Claimed]) -> list[Result]:
        """Deliver in batches of at most ``max_batch`` per adapter call, in parallel."""
        chunks: list[tuple[Adapter, list[int]]] = []
        by_adapter: dict[str, list[int]] = {}
        for index, c in enumerate(claimed):
            by_adapter.setdefault(c.adapter, []).append(index)
        for name, indexes in by_adapter.items():
            adapter = self.adapters[name]
            size = max(1, adapter.max_batch)
            chunks.extend((adapter, indexes[i : i + size]) for i in range(0, len(indexes), size))
        results: list[Result | None] = [None] * len(claimed)

        def one(chunk: tuple[Adapter, list[int]]) -> tuple[list[int], list[Result]]:
            adapter, indexes = chunk
            batch = [claimed[i].delivery for i in indexes]
            started = time.perf_counter()
            with delivery_span(adapter.name, [(d.event.id, d.event.subject) for d in batch]):
                results = _call(adapter, batch)
            seconds = time.perf_counter() - started
            outcomes = Counter(r.outcome.value for r in results)
            deliveries_done(self.engine, adapter.name, outcomes, seconds)
            return indexes, results

        done: Iterator[tuple[list[int], list[Result]]]
        done = map(one, chunks) if self._pool is None else self._pool.map(one, chunks)
        for indexes, outcome in done:
            for i, result in zip(indexes, outcome, strict=True):
                results[i] = result
        return [r if r is not None else Result.retry("no result") for r in results]

    def _record(self, claimed: Sequence[_Claimed], results: Sequence[Result], at: datetime) -> None:
        """Write the outcomes, one transaction per adapter, so an outcome dropped because its
        lease passed to another dispatcher counts as ``lost_lease`` under its own adapter."""
        by_adapter: dict[str, list[dict[str, Any]]] = {}
        for c, result in zip(claimed, results, strict=True):
            row = self._outcome(c, result, at)
            rows = by_adapter.setdefault(c.adapter, [])
            rows.append(row)
            rows.extend({**row, "b_id": i, "b_attempts": n + 1} for i, n in c.folded)
        for name, rows in by_adapter.items():
            lost = len(rows) - self.rows.record(rows, self.id)
            if lost:
                self.stats.lost_leases += lost
                deliveries_done(self.engine, name, {"lost_lease": lost}, None)

    def _outcome(self, c: _Claimed, result: Result, at: datetime) -> dict[str, Any]:
        """The row that records ``result`` of delivery ``c`` (counted in :attr:`stats`)."""
        attempts = c.attempts + 1
        detail = _clip(result.detail)
        row: dict[str, Any] = {
            "b_id": c.id,
            "b_attempts": attempts,
            "b_last_status": result.status,
            "b_next": at,
            "b_delivered_at": None,
            "b_last_error": None,
        }
        if result.outcome is Outcome.DELIVERED:
            row.update(b_status=DELIVERED, b_delivered_at=at)
            self.stats.delivered += 1
        elif result.outcome is Outcome.RETRY and attempts < self.options.max_attempts:
            wait = backoff_seconds(attempts, self.options, self.rng, result.retry_after)
            row.update(b_status=PENDING, b_next=at + timedelta(seconds=wait), b_last_error=detail)
            if result.retry_after is not None:
                until = at + timedelta(seconds=result.retry_after)
                self._paused[c.adapter] = max(self._paused.get(c.adapter, until), until)
            self.stats.retried += 1
        else:
            if result.outcome is Outcome.RETRY:
                detail = _clip(f"gave up after {attempts} attempts: {result.detail}")
            row.update(b_status=DEAD, b_last_error=detail)
            log.warning("dead letter: event %s to %s: %s", c.delivery.event.id, c.adapter, detail)
            self.stats.dead += 1
        return row

    # -- scheduling ----------------------------------------------------------------------------

    def next_due(self, now: datetime | None = None) -> datetime | None:
        """When the next delivery attempt (or fan-out) is due: ``now`` when work is waiting,
        a later time for retries, throttled adapters and leases held by others, or None when
        the configured adapters have nothing pending."""
        at = self._now(now)
        waiting, times = self.rows.schedule(sorted(self.adapters), self.options.block_on_dead)
        if waiting:
            return at
        due = [
            max(t, self._paused.get(name, t), self._limits[name].next_token(at))
            if name in self._limits
            else max(t, self._paused.get(name, t))
            for name, t in times.items()
        ]
        return max(at, min(due)) if due else None

    def run(self, *, until_idle: bool = False, stop: threading.Event | None = None) -> int:
        """Dispatch until ``stop`` is set (or, with ``until_idle``, until nothing is due within
        one lease period: leases of a dispatcher that died are waited for, long backoffs are
        not). Waits on ``stop`` between rounds, so setting it ends the loop promptly. Returns
        the number of deliveries attempted."""
        stop = stop or threading.Event()
        total = 0
        poll = self.options.poll_interval
        nudge = threading.Event()
        with listening(self.engine, nudge):  # PostgreSQL: new outbox rows wake it at once
            while not stop.is_set():
                nudge.clear()
                handled = self.dispatch_once()
                total += handled
                if handled:
                    continue
                now = self._now(None)
                due = self.next_due(now)
                if until_idle and (
                    due is None or (due - now).total_seconds() > self.options.lease + poll
                ):
                    break
                wait = poll if due is None else (due - now).total_seconds()
                _wait(stop, nudge, min(poll, max(wait, 0.01)))
        return total

    def status(self) -> OutboxStatus:
        """The outbox status, marking which adapters this dispatcher has configured."""
        return Outbox(self.engine).status(self._now(None), configured=self.adapters)


def _wait(stop: threading.Event, nudge: threading.Event, seconds: float) -> None:
    """Sleep up to ``seconds``, ending early when told to stop or nudged by a notification."""
    deadline = time.monotonic() + seconds
    while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
        if nudge.wait(min(left, 0.05)):
            return


def _call(adapter: Adapter, deliveries: list[Delivery]) -> list[Result]:
    """``adapter.deliver`` with the contract enforced: an exception or a wrong number of
    results retries the whole batch."""
    try:
        results = adapter.deliver(deliveries)
    except Exception as exc:
        detail = _clip(f"adapter {adapter.name} raised {type(exc).__name__}: {exc}")
        return [Result.retry(detail) for _ in deliveries]
    if len(results) != len(deliveries):
        detail = (
            f"adapter {adapter.name} returned {len(results)} results for "
            f"{len(deliveries)} deliveries"
        )
        return [Result.retry(detail) for _ in deliveries]
    return list(results)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."
