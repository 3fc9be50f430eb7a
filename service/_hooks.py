"""``POST /hooks/{source}``: inbound CRM webhooks, answered by the adapters' ``InboundHandler``.

The router reads the request and leaves verification, translation and the answers to
:class:`leadflow.adapters.inbound.InboundHandler`: the URI is rebuilt as the CRM called it
(scheme, ``Host``, raw path and query string: signatures cover it), the body is read up to
``MAX_BODY`` bytes and refused past that without being read whole, and the blocking engine work
runs in a worker thread. Every answer is JSON; an unexpected exception is logged and answered
500 ``{"error": "internal", ...}``, never with a traceback. Other methods on the path are 405
with ``Allow: POST``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from leadflow.adapters import DeploymentConfig
from leadflow.adapters.inbound import (
    MAX_BODY,
    InboundHandler,
    Reply,
    internal_error,
    method_not_allowed,
    too_large,
    unknown_source,
)
from leadflow.engine import Engine

__all__ = ["hooks_router"]

log = logging.getLogger("leadflow.service.hooks")

OTHER_METHODS = ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"]


class _Json(JSONResponse):
    """A JSON answer; values JSON does not know are written as strings (as ever)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=str).encode()


def hooks_router(engine: Engine, config: DeploymentConfig) -> APIRouter:
    """The router of ``POST /hooks/{source}`` for the ``[inbound.*]`` sources of ``config``.

    Raises :class:`~leadflow.adapters.AdapterConfigError` naming the file and table of a bad
    source, or a secret reference that does not resolve. The HTTP client used for CRM lookups
    is closed when the app including the router shuts down.
    """
    handler = InboundHandler.from_config(engine, config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            handler.close()

    router = APIRouter(tags=["hooks"], lifespan=lifespan)

    @router.post("/hooks/{source}", summary="Receive one CRM webhook")
    async def receive_hook(source: str, request: Request) -> JSONResponse:
        """Verify the request and apply its events to the engine (see ``docs/adapters.md``)."""
        try:
            return _reply(await _hook(handler, source, request))
        except Exception:
            log.exception("inbound %s: the request failed", source)
            return _reply(internal_error())

    @router.api_route("/hooks/{source}", methods=OTHER_METHODS, include_in_schema=False)
    async def hook_method_not_allowed(source: str) -> JSONResponse:
        return _reply(method_not_allowed("POST"))

    return router


async def _hook(handler: InboundHandler, name: str, request: Request) -> Reply:
    if name not in handler.sources:
        return unknown_source(name)
    body = await read_body(request, MAX_BODY)
    if body is None:
        return too_large()
    headers = request_headers(request)
    uri = request_uri(request)
    return await run_in_threadpool(handler.handle, name, request.method, uri, headers, body)


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def request_headers(request: Request) -> dict[str, str]:
    """The headers with lower-case names, a repeated header's values joined with ``,``."""
    headers: dict[str, str] = {}
    for raw_key, raw_value in request.headers.raw:
        key, value = raw_key.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    return headers


def request_uri(request: Request) -> str:
    """The URI as the client called it: scheme, ``Host``, raw path and query string."""
    scope = request.scope
    server = scope.get("server") or ("localhost", 80)
    host = request.headers.get("host") or f"{server[0]}:{server[1]}"
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{scope.get('scheme', 'http')}://{host}{path}" + (f"?{query}" if query else "")


def _reply(reply: Reply) -> JSONResponse:
    status, body = reply
    headers = {"Allow": str(body["allow"])} if status == 405 else None
    return _Json(body, status_code=status, headers=headers)
