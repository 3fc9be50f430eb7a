"""Inbound CRM webhooks as engine calls: a plain ASGI app a host mounts, or ``serve_inbound``.

Routes: ``POST /hooks/{source}`` for each ``[inbound.<source>]`` of the deployment configuration
(see ``docs/adapters.md``) and ``GET /healthz``. A request is verified first (401 with the
failed ``check``), then translated into ``engine.fire(process, lead_id, trigger, data,
actor="crm:<source>")``. Engine errors become JSON 4xx answers (404 lead or process unknown,
409 transition not allowed or criteria unmet, 422 invalid data); a storage failure is 503 so the
CRM retries. Echoes of our own writes (the lead already in the trigger's target stage, or a
configured source/user id of our integration) answer ``{"status": "ignored", "reason": "echo"}``
and change nothing. A delivery id seen before (``webhook-id``, HubSpot ``eventId``, Pipedrive
``meta.id``) answers ``{"status": "duplicate"}``; ids are kept in memory for an hour (longer
than the 5-minute signature window), and stage changes are idempotent through the echo rule.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from leadflow.adapters._config import DeploymentConfig, load_config
from leadflow.adapters._inbound_sources import (
    Command,
    PayloadError,
    Source,
    hubspot_fetcher,
    parse_sources,
)
from leadflow.adapters._signing import SignatureError
from leadflow.engine import (
    ConcurrentUpdate,
    Engine,
    GuardFailed,
    InvalidData,
    InvalidTransition,
    LeadflowError,
    LeadNotFound,
    StorageError,
    UnknownProcess,
)

__all__ = ["InboundApp", "create_inbound_app", "serve_inbound"]

log = logging.getLogger("leadflow.adapters.inbound")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Reply = tuple[int, dict[str, Any]]

MAX_BODY = 1 << 20
DEDUPE_WINDOW = timedelta(hours=1)


class _Seen:
    """Delivery ids claimed recently (in flight or done), forgotten after the window."""

    def __init__(self, window: timedelta) -> None:
        self._window = window
        self._until: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, now: datetime) -> bool:
        with self._lock:
            if len(self._until) > 10_000:
                self._until = {k: t for k, t in self._until.items() if t > now}
            if self._until.get(key, now) > now:
                return False
            self._until[key] = now + self._window
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._until.pop(key, None)


class InboundApp:
    """The ASGI application (see the module docstring)."""

    def __init__(self, engine: Engine, sources: Mapping[str, Source]) -> None:
        self.engine = engine
        self.sources = dict(sources)
        self._seen = _Seen(DEDUPE_WINDOW)
        self._http = httpx.Client(timeout=10.0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, self.close)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/healthz":
            reply: Reply = (200, {"status": "ok"}) if method == "GET" else _not_allowed("GET")
        elif path.startswith("/hooks/") and path.count("/") == 2:
            reply = await self._hook(scope, receive, path[len("/hooks/") :], method)
        else:
            reply = (404, {"error": "not-found", "message": f"no route {path}"})
        await _respond(send, *reply)

    async def _hook(self, scope: Scope, receive: Receive, name: str, method: str) -> Reply:
        if method != "POST":
            return _not_allowed("POST")
        source = self.sources.get(name)
        if source is None:
            return 404, {"error": "unknown-source", "message": f"no inbound source '{name}'"}
        body = await _read_body(receive)
        if body is None:
            return 413, {"error": "too-large", "message": f"bodies are limited to {MAX_BODY} bytes"}
        headers = _headers(scope)
        uri = _uri(scope, headers)
        return await asyncio.to_thread(self.handle, source, scope["method"], uri, headers, body)

    def handle(
        self, source: Source, method: str, uri: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        """Verify, translate and apply one request (blocking; runs in a worker thread)."""
        now = self.engine.clock.now()
        try:
            source.verify(method, uri, headers, body, now)
        except SignatureError as exc:
            return 401, {"error": "unauthorized", "check": exc.check, "message": str(exc)}
        fetch = hubspot_fetcher(source, self._http)
        try:
            commands = source.commands(headers, body, fetch)
        except PayloadError as exc:
            return exc.status, {"error": "bad-payload", "message": str(exc)}
        replies = [self._apply(source, c, now) for c in commands]
        if len(replies) == 1:
            return replies[0]
        status = next((s for s, _ in replies if s >= 300), 200)
        return status, {"results": [dict(r, status_code=s) for s, r in replies]}

    def _apply(self, source: Source, command: Command, now: datetime) -> Reply:
        if command.ignored is not None:
            return 200, {"status": "ignored", "reason": command.ignored}
        if not self._seen.claim(f"{source.name}:{command.key}", now):
            return 200, {"status": "duplicate", "id": command.key}
        reply = self._fire(source, command)
        if reply[0] >= 300:
            self._seen.release(f"{source.name}:{command.key}")  # let the CRM's retry through
        return reply

    def _fire(self, source: Source, command: Command) -> Reply:
        assert command.lead_id is not None
        assert command.trigger is not None
        process, lead_id, trigger = source.process, command.lead_id, command.trigger
        for attempt in range(3):
            try:
                if self._is_echo(process, lead_id, trigger):
                    return 200, {"status": "ignored", "reason": "echo", "lead_id": lead_id}
                instance = self.engine.fire(
                    process, lead_id, trigger, command.data, actor=f"crm:{source.name}"
                )
            except ConcurrentUpdate:
                if attempt == 2:
                    return 409, {"error": "concurrent-update", "message": "retry later"}
                continue
            except LeadflowError as exc:
                return _error_reply(exc)
            except Exception:
                log.exception(
                    "inbound %s: firing %s on lead %s failed", source.name, trigger, lead_id
                )
                return 500, {
                    "error": "internal",
                    "message": "the engine failed; see the server log",
                }
            return 200, {
                "status": "fired",
                "lead_id": lead_id,
                "trigger": trigger,
                "stage": instance.stage,
            }
        raise AssertionError("unreachable")

    def _is_echo(self, process: str, lead_id: str, trigger: str) -> bool:
        """Whether the lead already is where ``trigger`` would take it (our own write, echoed)."""
        instance = self.engine.get(process, lead_id)
        definition = self.engine.definition(process, instance.definition_version)
        moves = [t for t in definition.transitions if t.name == trigger]
        here = [t for t in moves if instance.stage in t.source or "*" in t.source]
        return any(t.to == instance.stage for t in moves) and not any(
            t.to == instance.stage for t in here
        )

    def close(self) -> None:
        """Close the HTTP client used for CRM lookups."""
        self._http.close()


def _error_reply(exc: LeadflowError) -> Reply:
    body: dict[str, Any] = {"error": getattr(exc, "code", "error"), "message": str(exc)}
    if isinstance(exc, LeadNotFound | UnknownProcess):
        return 404, body
    if isinstance(exc, InvalidTransition):
        return 409, body | {"stage": exc.stage, "allowed": list(exc.allowed)}
    if isinstance(exc, GuardFailed):
        unmet = [{"id": c.id, "message": c.message} for c in exc.unmet]
        return 409, body | {"stage": exc.stage, "unmet": unmet}
    if isinstance(exc, InvalidData):
        return 422, body | {"issues": [str(i) for i in exc.issues]}
    if isinstance(exc, StorageError):
        return 503, body
    return 422, body


def _not_allowed(allowed: str) -> Reply:
    return 405, {"error": "method-not-allowed", "message": f"use {allowed}", "allow": allowed}


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_key, raw_value in scope.get("headers", []):
        key, value = raw_key.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    return headers


def _uri(scope: Scope, headers: Mapping[str, str]) -> str:
    host = headers.get("host") or "{}:{}".format(*(scope.get("server") or ("localhost", 80)))
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{scope.get('scheme', 'http')}://{host}{path}" + (f"?{query}" if query else "")


async def _read_body(receive: Receive) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send: Send, status: int, body: Mapping[str, Any]) -> None:

    payload = json.dumps(body, default=str).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    if status == 405:
        headers.append((b"allow", str(body["allow"]).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _lifespan(receive: Receive, send: Send, close: Callable[[], None]) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            close()
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_inbound_app(engine: Engine, config: DeploymentConfig) -> InboundApp:
    """The ASGI app serving the ``[inbound.*]`` sources of ``config`` against ``engine``.

    Raises :class:`~leadflow.adapters.AdapterConfigError` naming the file and table of a bad
    source, or a secret reference that does not resolve.
    """
    return InboundApp(engine, parse_sources(config.inbound, config.source, config.secret))


def serve_inbound(
    db: str,
    config_path: str | os.PathLike[str] | None,
    host: str = "127.0.0.1",
    port: int = 8080,
) -> None:
    """Serve the inbound app with uvicorn until interrupted (``pip install 'leadflow[serve]'``).

    Raises :class:`~leadflow.adapters.AdapterConfigError` for a bad configuration and
    :class:`RuntimeError` (saying what to install) when uvicorn is missing.
    """
    try:
        import uvicorn
    except ImportError:
        raise RuntimeError(
            "serving inbound webhooks needs uvicorn: pip install 'leadflow[serve]'"
        ) from None
    config = load_config(config_path)
    with Engine(db) as engine:
        app = create_inbound_app(engine, config)
        uvicorn.run(app, host=host, port=port, log_level="info", lifespan="on")
