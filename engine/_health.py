"""What operators watch: is work getting done? Timer lag, outbox lag, dead letters, expired
claims and live workers, read from the database in a few indexed queries.

:func:`health` is what ``leadflow doctor`` prints with a verdict, and what ``/metrics`` (the
service, and the worker with ``--metrics-port``) exports as Prometheus gauges at each scrape. The
figures come from the database, not from one process, so every replica reports the same ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from leadflow.engine._clock import as_utc
from leadflow.engine._errors import StorageError
from leadflow.engine.store import Store
from leadflow.engine.store.tables import deliveries, outbox, timers, workers

__all__ = ["AdapterBacklog", "Health", "Limits", "health"]


@dataclass(frozen=True, slots=True)
class AdapterBacklog:
    """One adapter's deliveries that are not done."""

    adapter: str
    pending: int
    """Deliveries waiting (including retries not yet due)."""
    lag_seconds: float
    """Age of the oldest pending delivery (0 when none)."""
    dead: int
    """Dead letters: deliveries that gave up, waiting for ``leadflow outbox retry``."""


@dataclass(frozen=True, slots=True)
class Limits:
    """When figures mean trouble (seconds)."""

    timer_lag: float = 60.0
    """A due SLA mark not fired for longer than this: is a worker running?"""
    delivery_lag: float = 300.0
    """A pending delivery older than this: is a dispatcher running, is the CRM up?"""
    worker_stale: float = 30.0
    """A worker whose heartbeat is older than this is not alive."""


@dataclass(frozen=True, slots=True)
class Health:
    """The figures at ``at``, and the verdict against :class:`Limits`."""

    at: datetime
    timers: int
    """Running SLA clocks' next marks, due or not."""
    timers_due: int
    """Marks due at ``at`` and not fired yet."""
    timer_lag_seconds: float
    """How late the oldest due mark is (0 when none is due)."""
    undispatched: int
    """Outbox events not fanned out to adapters yet."""
    fanout_lag_seconds: float
    adapters: tuple[AdapterBacklog, ...]
    expired_claims: int
    """Deliveries claimed by a dispatcher whose lease ran out (it died or hangs)."""
    workers_alive: int
    workers_stale: int
    problems: tuple[str, ...] = field(default=())
    """Trouble: something is not getting done."""
    warnings: tuple[str, ...] = field(default=())
    """Worth a look, not urgent."""

    @property
    def verdict(self) -> str:
        """``ok``, ``warning`` or ``trouble``."""
        return "trouble" if self.problems else "warning" if self.warnings else "ok"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "at": self.at.isoformat(),
            "verdict": self.verdict,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "timers": self.timers,
            "timers_due": self.timers_due,
            "timer_lag_seconds": self.timer_lag_seconds,
            "undispatched": self.undispatched,
            "fanout_lag_seconds": self.fanout_lag_seconds,
            "adapters": [
                {
                    "adapter": a.adapter,
                    "pending": a.pending,
                    "lag_seconds": a.lag_seconds,
                    "dead": a.dead,
                }
                for a in self.adapters
            ],
            "expired_claims": self.expired_claims,
            "workers_alive": self.workers_alive,
            "workers_stale": self.workers_stale,
        }


def _age(store: Store, at: datetime, oldest: datetime | str | None) -> float:
    """Seconds from ``oldest`` (a stored time: aggregates come back as the driver gives them)
    to ``at``; 0 when there is none."""
    return max(0.0, (at - store.decode_time(oldest)).total_seconds()) if oldest else 0.0


def health(store: Store, at: datetime, limits: Limits | None = None) -> Health:
    """The health figures of the database behind ``store`` at ``at`` (see the module)."""
    limits = limits or Limits()
    at = as_utc(at)
    t, o, d, w = timers, outbox, deliveries, workers
    try:
        with store.sa.connect() as conn:
            n_timers = conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            due, oldest_due = conn.execute(
                sa.select(sa.func.count(), sa.func.min(t.c.due_at)).where(t.c.due_at <= at)
            ).one()
            undispatched, oldest_event = conn.execute(
                sa.select(sa.func.count(), sa.func.min(o.c.at)).where(o.c.dispatched == sa.false())
            ).one()
            by_status = conn.execute(
                sa.select(d.c.adapter, d.c.status, sa.func.count(), sa.func.min(d.c.created_at))
                .where(d.c.status != "delivered")
                .group_by(d.c.adapter, d.c.status)
            ).all()
            expired = conn.execute(
                sa.select(sa.func.count()).where(
                    d.c.status == "pending",
                    d.c.lease_owner.is_not(None),
                    d.c.leased_until < at,
                )
            ).scalar_one()
            beats = conn.execute(sa.select(w.c.heartbeat_at)).scalars().all()
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"health: the database failed: {exc.__cause__ or exc}") from exc
    adapters: dict[str, dict[str, Any]] = {}
    for adapter, status, count, oldest in by_status:
        entry = adapters.setdefault(adapter, {"pending": 0, "lag": 0.0, "dead": 0})
        if status == "dead":
            entry["dead"] += int(count)
        else:
            entry["pending"] += int(count)
            entry["lag"] = max(entry["lag"], _age(store, at, oldest))
    backlog = tuple(
        AdapterBacklog(name, e["pending"], e["lag"], e["dead"])
        for name, e in sorted(adapters.items())
    )
    alive = sum(1 for b in beats if _age(store, at, b) <= limits.worker_stale)
    figures = Health(
        at=at,
        timers=int(n_timers),
        timers_due=int(due),
        timer_lag_seconds=_age(store, at, oldest_due),
        undispatched=int(undispatched),
        fanout_lag_seconds=_age(store, at, oldest_event),
        adapters=backlog,
        expired_claims=int(expired),
        workers_alive=alive,
        workers_stale=len(beats) - alive,
    )
    problems, warnings = _judge(figures, limits)
    return dataclasses.replace(figures, problems=problems, warnings=warnings)


def _judge(h: Health, limits: Limits) -> tuple[tuple[str, ...], tuple[str, ...]]:
    problems: list[str] = []
    warnings: list[str] = []
    if h.timer_lag_seconds > limits.timer_lag:
        problems.append(
            f"{h.timers_due} SLA marks are due and not fired, the oldest for "
            f"{h.timer_lag_seconds:.0f} s (limit {limits.timer_lag:g} s): start `leadflow worker`"
            + ("" if h.workers_alive else " (no worker is alive)")
        )
    elif h.timers and not h.workers_alive:
        warnings.append(
            f"no worker is alive and {h.timers} SLA marks are waiting: nothing will fire them "
            "(start `leadflow worker --db URL`)"
        )
    for a in h.adapters:
        if a.lag_seconds > limits.delivery_lag:
            problems.append(
                f"adapter {a.adapter}: {a.pending} deliveries pending, the oldest for "
                f"{a.lag_seconds:.0f} s (limit {limits.delivery_lag:g} s): is a dispatcher "
                "running (`leadflow outbox run` or `leadflow worker --config`), is the CRM up?"
            )
        if a.dead:
            warnings.append(
                f"adapter {a.adapter}: {a.dead} dead letters (see `leadflow outbox list "
                "--status dead`, then `leadflow outbox retry`)"
            )
    if h.expired_claims:
        warnings.append(
            f"{h.expired_claims} deliveries are claimed past their lease (a dispatcher died or "
            "hangs); another dispatcher takes them over"
        )
    if h.workers_stale:
        warnings.append(
            f"{h.workers_stale} workers have not sent a heartbeat for over "
            f"{limits.worker_stale:g} s (stopped without unregistering, or hanging)"
        )
    return tuple(problems), tuple(warnings)
