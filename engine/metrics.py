"""Prometheus metrics of the engine's work, for ``/metrics`` of the service and the worker.

Needs ``prometheus-client`` (the ``[metrics]`` or ``[serve]`` extra); nothing else in the engine
imports this module. :class:`HealthCollector` reads :meth:`Engine.health` at each scrape (the
database's figures, the same on every replica); :class:`WorkerCollector` reports what one worker
process did since it started; :class:`EngineMetrics` counts and times what this process's engine
does as it happens (fires, SLA marks, deliveries; see :mod:`leadflow.engine.telemetry`).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from leadflow.engine import telemetry
from leadflow.engine._health import Health

if TYPE_CHECKING:
    from leadflow.engine._engine import Engine
    from leadflow.engine.worker import Worker

__all__ = ["EngineMetrics", "HealthCollector", "WorkerCollector", "health_metrics"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Seconds: a fire or an adapter call."""
BATCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Seconds: one ``start_many`` / ``fire_many`` call (a transaction per 1,000 items)."""
SIZE_BUCKETS = (1, 10, 100, 1000, 10_000, 100_000, 1_000_000)
"""Items in one ``start_many`` / ``fire_many`` call."""
LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
"""Seconds from an SLA mark's due time to its firing: 0.1 s is the target, minutes an outage."""


class EngineMetrics:
    """Counters and histograms of what ``engine`` does in this process, in ``registry``.

    ``leadflow_fires_total`` and ``leadflow_fire_duration_seconds`` (``process``, ``outcome``),
    ``leadflow_refusals_total`` (``process``, ``code``), ``leadflow_starts_total``
    (``process``, ``outcome``), ``leadflow_batch_duration_seconds`` and
    ``leadflow_batch_items`` (``process``, ``operation``; the duration also by ``outcome``):
    one observation per ``start_many`` / ``fire_many`` call, whose items count in the fires
    and starts counters; ``leadflow_sla_marks_total`` and
    ``leadflow_sla_deadline_to_action_seconds``, ``leadflow_deliveries_total`` (``adapter``,
    ``outcome``) and ``leadflow_delivery_duration_seconds`` (``adapter``). :meth:`close` stops
    listening."""

    def __init__(self, engine: Engine, registry: CollectorRegistry) -> None:
        self._engine = weakref.ref(engine)  # the engine's observers hold this: no cycle
        self.fires = Counter(
            "leadflow_fires",
            "Triggers fired (fire and each fire_many item), by process and outcome (fired, "
            "refused, access_denied, invalid, error).",
            ["process", "outcome"],
            registry=registry,
        )
        self.fire_seconds = Histogram(
            "leadflow_fire_duration_seconds",
            "Time a fire took (load, decide, write, commit), by process and outcome; fire_many "
            "is timed per call in leadflow_batch_duration_seconds.",
            ["process", "outcome"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self.refusals = Counter(
            "leadflow_refusals",
            "Fires refused, by process and error code (guard-failed, invalid-transition, "
            "concurrent-update).",
            ["process", "code"],
            registry=registry,
        )
        self.starts = Counter(
            "leadflow_starts",
            "Leads started (start and each start_many item), by process and outcome (started, "
            "access_denied, invalid, error).",
            ["process", "outcome"],
            registry=registry,
        )
        batch = ["process", "operation", "outcome"]
        self.batch_seconds = Histogram(
            "leadflow_batch_duration_seconds",
            "Time one start_many or fire_many call took (all its items), by process, operation "
            "and outcome (completed; error: the call raised).",
            batch,
            registry=registry,
            buckets=BATCH_BUCKETS,
        )
        self.batch_items = Histogram(
            "leadflow_batch_items",
            "Items in one completed start_many or fire_many call, by process and operation.",
            ["process", "operation"],
            registry=registry,
            buckets=SIZE_BUCKETS,
        )
        self.marks_total = Counter(
            "leadflow_sla_marks", "SLA marks fired by this process.", registry=registry
        )
        self.lag = Histogram(
            "leadflow_sla_deadline_to_action_seconds",
            "Seconds from an SLA mark's due time to its firing (deadline to action).",
            registry=registry,
            buckets=LAG_BUCKETS,
        )
        self.deliveries = Counter(
            "leadflow_deliveries",
            "Outbox deliveries by adapter and outcome (delivered, retry, failed, lost_lease).",
            ["adapter", "outcome"],
            registry=registry,
        )
        self.delivery_seconds = Histogram(
            "leadflow_delivery_duration_seconds",
            "Time one adapter call took, by adapter.",
            ["adapter"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        telemetry.observe(engine, self)

    def close(self) -> None:
        """Stop counting (the metrics keep their values)."""
        engine = self._engine()
        if engine is not None:
            telemetry.forget(engine, self)

    def fired(self, process: str, outcome: str, seconds: float, code: str | None) -> None:
        """See :class:`leadflow.engine.telemetry.Observer`."""
        self.fires.labels(process, outcome).inc()
        self.fire_seconds.labels(process, outcome).observe(seconds)
        if outcome == "refused" and code:
            self.refusals.labels(process, code).inc()

    def counted(
        self, operation: str, process: str, outcomes: Mapping[tuple[str, str | None], int]
    ) -> None:
        """See :class:`leadflow.engine.telemetry.Observer`."""
        for (outcome, code), count in outcomes.items():
            if operation == "start":
                self.starts.labels(process, outcome).inc(count)
                continue
            self.fires.labels(process, outcome).inc(count)
            if outcome == "refused" and code:
                self.refusals.labels(process, code).inc(count)

    def batch(self, operation: str, process: str, size: int | None, seconds: float) -> None:
        """See :class:`leadflow.engine.telemetry.Observer`."""
        outcome = "error" if size is None else "completed"
        self.batch_seconds.labels(process, operation, outcome).observe(seconds)
        if size is not None:
            self.batch_items.labels(process, operation).observe(size)

    def marks(self, lags: Sequence[float]) -> None:
        """See :class:`leadflow.engine.telemetry.Observer`."""
        self.marks_total.inc(len(lags))
        for lag in lags:
            self.lag.observe(lag)

    def delivered(self, adapter: str, outcomes: Mapping[str, int], seconds: float | None) -> None:
        """See :class:`leadflow.engine.telemetry.Observer`."""
        for outcome, count in outcomes.items():
            self.deliveries.labels(adapter, outcome).inc(count)
        if seconds is not None:
            self.delivery_seconds.labels(adapter).observe(seconds)


class HealthCollector(Collector):
    """The database's figures (:func:`health_metrics`), read at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        """One reading of :meth:`Engine.health`."""
        yield from health_metrics(self.engine.health())


class WorkerCollector(Collector):
    """What one worker did since it started: timers, schedules, deliveries, rounds, errors."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def collect(self) -> Iterator[Metric]:
        """The worker's counters."""
        s = self.worker.stats
        for name, doc, value in (
            ("leadflow_worker_timers", "SLA timers this worker processed.", s.timers),
            ("leadflow_worker_schedules", "Schedule occurrences this worker ran.", s.schedules),
            (
                "leadflow_worker_deliveries",
                "Outbox deliveries this worker attempted.",
                s.deliveries,
            ),
            ("leadflow_worker_rounds", "Rounds this worker ran.", s.rounds),
            ("leadflow_worker_errors", "Rounds that failed and were retried.", s.errors),
        ):
            yield CounterMetricFamily(name, doc, value=value)


def health_metrics(h: Health) -> Iterator[Metric]:
    """The database's figures as Prometheus gauges (the worker's ``/metrics`` uses them too)."""

    def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, doc, value=value)

    yield gauge("leadflow_timers", "SLA marks waiting (running clocks' next marks).", h.timers)
    yield gauge("leadflow_timers_due", "SLA marks due and not fired yet.", h.timers_due)
    yield gauge(
        "leadflow_timer_lag_seconds", "How late the oldest due SLA mark is.", h.timer_lag_seconds
    )
    yield gauge("leadflow_outbox_undispatched", "Events not fanned out yet.", h.undispatched)
    yield gauge(
        "leadflow_outbox_fanout_lag_seconds",
        "Age of the oldest event not fanned out.",
        h.fanout_lag_seconds,
    )
    per_adapter = [
        ("leadflow_deliveries_pending", "Deliveries waiting, by adapter.", "pending"),
        ("leadflow_delivery_lag_seconds", "Age of the oldest pending delivery.", "lag_seconds"),
        ("leadflow_deliveries_dead", "Dead letters, by adapter.", "dead"),
    ]
    for name, doc, attribute in per_adapter:
        family = GaugeMetricFamily(name, doc, labels=["adapter"])
        for a in h.adapters:
            family.add_metric([a.adapter], float(getattr(a, attribute)))
        yield family
    yield gauge(
        "leadflow_delivery_claims_expired",
        "Deliveries claimed past their lease (a dispatcher died or hangs).",
        h.expired_claims,
    )
    yield gauge("leadflow_workers_alive", "Workers with a recent heartbeat.", h.workers_alive)
    yield gauge(
        "leadflow_healthy", "1 when leadflow doctor finds no trouble.", 0 if h.problems else 1
    )
