"""Prometheus metrics of the engine's work, for ``/metrics`` of the service and the worker.

Needs ``prometheus-client`` (the ``[metrics]`` or ``[serve]`` extra); nothing else in the engine
imports this module. :class:`HealthCollector` reads :meth:`Engine.health` at each scrape (the
database's figures, the same on every replica); :class:`WorkerCollector` reports what one worker
process did since it started.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from leadflow.engine._health import Health

if TYPE_CHECKING:
    from leadflow.engine._engine import Engine
    from leadflow.engine.worker import Worker

__all__ = ["HealthCollector", "WorkerCollector", "health_metrics"]


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
