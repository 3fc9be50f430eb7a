"""The HTTP service: one FastAPI application over one engine.

``create_app(engine)`` builds it: ``/api/v1`` (processes, leads, reports, outbox), the web app
under ``/app`` (:mod:`leadflow.service.web`), ``/healthz``, ``/readyz``, OpenAPI at
``/openapi.json`` and interactive docs at ``/docs``. Every error is an RFC 9457 problem
details answer (a page under ``/app``); bodies over 1 MiB are refused with 413 before they are read.
The app keeps no lead state between requests: any number of replicas can serve one database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from leadflow.adapters import DeploymentConfig
from leadflow.engine import Engine
from leadflow.engine.store import TokenStore
from leadflow.service import (
    _health,
    _journeys,
    _leads,
    _metrics,
    _outbox_api,
    _processes,
    _reports,
)
from leadflow.service._hooks import hooks_router
from leadflow.service._metrics import Metrics, MetricsMiddleware
from leadflow.service._problems import install_problem_handlers, problem
from leadflow.service._query import known_query
from leadflow.service._token_cache import DEFAULT_TTL, TokenCache
from leadflow.service.web import error_page, install_web, start_web, stop_web

__all__ = ["MAX_BODY", "create_app"]

MAX_BODY = 1 << 20
"""The largest request body accepted (1 MiB)."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def create_app(
    engine: Engine,
    *,
    config: DeploymentConfig | None = None,
    owns_engine: bool = False,
    title: str = "leadflow",
    token_ttl: float = DEFAULT_TTL,
    session_key: bytes | None = None,
) -> FastAPI:
    """The service's ASGI application for ``engine``. ``config``'s ``[inbound.<name>]``
    sources are served at ``/hooks/<name>``; with ``owns_engine`` the app closes the engine
    when it shuts down. A verified token is trusted for ``token_ttl`` seconds without a query
    (a revoked token stops working within that time; 0 checks every request). The web app's
    session cookies are signed with ``session_key`` (replicas must share it; without one, a
    random key of this process)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        start_web(app)
        yield
        stop_web(app)
        if owns_engine:
            engine.close()

    app = FastAPI(
        title=title,
        version="1",
        summary="Sales processes as durable per-lead state machines, over HTTP.",
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.tokens = TokenCache(TokenStore(engine.store), token_ttl)
    install_problem_handlers(app, error_page)
    app.state.metrics = Metrics(engine)
    for module in (_health, _metrics):
        app.include_router(module.router)
    for module in (_processes, _leads, _journeys, _reports, _outbox_api):
        app.include_router(module.router, dependencies=[Depends(known_query)])
    install_web(app, engine, session_key)
    if config is not None:
        app.include_router(hooks_router(engine, config))
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


class BodyLimit:
    """413 for a request body over ``limit`` bytes: by its Content-Length at once, or when the
    streamed body passes the limit (the rest is never read)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, "too_large", f"request bodies are limited to {self.limit} bytes")
        await response(scope, receive, send)


class _TooLarge(Exception):
    """The streamed body passed the limit."""
