"""``GET /metrics``: Prometheus metrics of the service and of the work behind it.

Two kinds, in one registry per application:

* **This process's traffic**, counted as requests pass: ``leadflow_http_requests_total``
  (``method``, ``route`` template, ``status``), ``leadflow_http_request_duration_seconds``
  (a histogram per ``method`` and ``route``), and the engine's own counters and histograms
  (:class:`leadflow.engine.metrics.EngineMetrics`): ``leadflow_fires_total`` and
  ``leadflow_fire_duration_seconds`` (``process``, ``outcome``: fired, refused,
  access_denied, invalid, error), ``leadflow_refusals_total``, ``leadflow_starts_total``,
  ``leadflow_batch_duration_seconds`` and ``leadflow_batch_items`` (``start_many`` and
  ``fire_many`` calls, whose items count in the fires and starts), SLA marks and their
  deadline-to-action, deliveries by outcome.
* **The database's figures**, read at each scrape (:meth:`Engine.health`), so every replica
  reports the same ones: SLA marks waiting and due, timer lag, events not fanned out, pending
  deliveries, delivery lag and dead letters per adapter, claims past their lease, live workers.

A scrape needs a token whose role may operate the outbox (``admin``, ``ops``): Prometheus sends
it with ``authorization: {credentials: ...}`` in its scrape configuration.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadflow.engine import Engine
from leadflow.engine.access import require
from leadflow.engine.metrics import EngineMetrics, HealthCollector
from leadflow.service._deps import Caller, EngineDep

__all__ = ["Metrics", "MetricsMiddleware", "router"]

router = APIRouter(tags=["operations"])


class Metrics:
    """The registry and the traffic metrics of one application."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "leadflow_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "leadflow_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.engine_metrics = EngineMetrics(engine, self.registry)
        self.registry.register(HealthCollector(engine))


class MetricsMiddleware:
    """Counts every HTTP request by its route template (never the raw path: no lead ids in
    label values) and times it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self._count(scope, status, time.perf_counter() - started)

    def _count(self, scope: Scope, status: int, seconds: float) -> None:
        route: Any = scope.get("route")
        # the template as the API documents it: ``{lead_id}``, not the ``{lead_id:path}`` the
        # router matches with
        template = str(getattr(route, "path_format", None) or getattr(route, "path", "unmatched"))
        method = str(scope.get("method", ""))
        m = self.metrics
        m.requests.labels(method, template, str(status)).inc()
        m.duration.labels(method, template).observe(seconds)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, engine: EngineDep, actor: Caller) -> Response:
    """The Prometheus text format (see the module)."""
    require(actor, "outbox")
    registry: CollectorRegistry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
