"""Inbound CRM webhooks as engine calls: :class:`InboundHandler` answers one request.

The HTTP surface (``POST /hooks/{source}``) is the service's (``leadflow.service``); it reads
the request and hands method, URI, headers and body to :meth:`InboundHandler.handle`, which
answers ``(status, JSON body)``. Sources are the ``[inbound.<source>]`` tables of the deployment
configuration (see ``docs/adapters.md``). A request is verified first (401 with the failed
``check``), then translated into ``engine.fire(process, lead_id, trigger, data,
actor="crm:<source>")``. Engine errors become JSON 4xx answers (404 lead or process unknown,
409 transition not allowed or criteria unmet, 422 invalid data); a storage failure is 503 so the
CRM retries. Echoes of our own writes (the lead already in the trigger's target stage, or a
configured source/user id of our integration) answer ``{"status": "ignored", "reason": "echo"}``
and change nothing. A delivery id (``webhook-id``, HubSpot ``eventId``, Pipedrive ``meta.id``)
is the idempotency key of the change it makes (scope ``inbound:<source>``), stored in the
database in the change's own transaction: a replayed delivery, after a restart or on another
replica, changes nothing and answers what the first did (``"replayed": true``), even for flows
that can move back where the echo rule cannot tell. Ids are also kept in memory for an hour, so
a copy arriving while the first is in flight answers ``{"status": "duplicate"}``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from leadflow.adapters._config import DeploymentConfig
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
    Idempotency,
    InvalidData,
    InvalidTransition,
    LeadflowError,
    LeadNotFound,
    StorageError,
    UnknownProcess,
)

__all__ = [
    "MAX_BODY",
    "InboundHandler",
    "Reply",
    "internal_error",
    "method_not_allowed",
    "too_large",
    "unknown_source",
]

log = logging.getLogger("leadflow.adapters.inbound")

Reply = tuple[int, dict[str, Any]]
"""An answer: HTTP status and JSON body."""

MAX_BODY = 1 << 20
"""Request bodies over this many bytes are refused (:func:`too_large`)."""
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


class InboundHandler:
    """Verifies, translates and applies inbound requests (see the module docstring)."""

    def __init__(self, engine: Engine, sources: Mapping[str, Source]) -> None:
        self.engine = engine
        self.sources = dict(sources)
        self._seen = _Seen(DEDUPE_WINDOW)
        self._http = httpx.Client(timeout=10.0)

    @classmethod
    def from_config(cls, engine: Engine, config: DeploymentConfig) -> InboundHandler:
        """The handler of the ``[inbound.*]`` sources of ``config`` against ``engine``.

        Raises :class:`~leadflow.adapters.AdapterConfigError` naming the file and table of a bad
        source, or a secret reference that does not resolve.
        """
        return cls(engine, parse_sources(config.inbound, config.source, config.secret))

    def handle(
        self, source_name: str, method: str, uri: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        """Verify, translate and apply one request (blocking; run it in a worker thread).

        ``uri`` is the URI the CRM called (scheme, host, raw path and query), which signatures
        cover; ``headers`` have lower-case names, repeated ones joined with ``,``.
        """
        source = self.sources.get(source_name)
        if source is None:
            return unknown_source(source_name)
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
        reply = self._fire(source, command, now)
        if reply[0] >= 300:
            self._seen.release(f"{source.name}:{command.key}")  # let the CRM's retry through
        return reply

    def _fire(self, source: Source, command: Command, now: datetime) -> Reply:
        assert command.lead_id is not None
        assert command.trigger is not None
        process, lead_id, trigger = source.process, command.lead_id, command.trigger
        for attempt in range(3):
            try:
                if self._is_echo(process, lead_id, trigger):
                    return 200, {"status": "ignored", "reason": "echo", "lead_id": lead_id}
                key = _delivery_key(source, command)
                instance = self.engine.fire(
                    process,
                    lead_id,
                    trigger,
                    command.data,
                    actor=f"crm:{source.name}",
                    idempotency=key,
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
                return internal_error()
            reply: dict[str, Any] = {
                "status": "fired",
                "lead_id": lead_id,
                "trigger": trigger,
                "stage": instance.stage,
            }
            if instance.updated_at < now:  # the stored answer of a delivery made before
                reply["replayed"] = True
            return 200, reply
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


def _delivery_key(source: Source, command: Command) -> Idempotency:
    """The delivery's id as the idempotency key of its change (one per source); the request
    hash covers what it asks, so a reused id for another request is refused, not replayed."""
    asked = json.dumps(
        [command.lead_id, command.trigger, command.data], sort_keys=True, default=str
    )
    return Idempotency(
        key=str(command.key)[:255],
        request_hash=hashlib.sha256(asked.encode()).hexdigest(),
        scope=f"inbound:{source.name}"[:255],
    )


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


def unknown_source(name: str) -> Reply:
    """The answer for a source the configuration does not have (404)."""
    return 404, {"error": "unknown-source", "message": f"no inbound source '{name}'"}


def too_large() -> Reply:
    """The answer for a body over :data:`MAX_BODY` bytes (413)."""
    return 413, {"error": "too-large", "message": f"bodies are limited to {MAX_BODY} bytes"}


def method_not_allowed(allowed: str) -> Reply:
    """The answer for a method other than ``allowed`` (405; send ``Allow: allowed`` with it)."""
    return 405, {"error": "method-not-allowed", "message": f"use {allowed}", "allow": allowed}


def internal_error() -> Reply:
    """The answer for an unexpected failure (500; the details go to the server log only)."""
    return 500, {"error": "internal", "message": "the engine failed; see the server log"}
