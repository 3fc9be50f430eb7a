"""What every route needs: the engine, the caller (from its bearer token), the guards of writes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from leadflow.engine import Engine, Idempotency
from leadflow.engine.access import Actor
from leadflow.engine.store import TokenInfo
from leadflow.service._problems import Problem
from leadflow.service._token_cache import TokenCache

__all__ = [
    "Caller",
    "EngineDep",
    "WriteGuards",
    "Writes",
    "actor_of",
    "current_actor",
    "engine_of",
    "write_guards",
]

MAX_KEY = 255


async def engine_of(request: Request) -> Engine:
    """The engine the app was created with."""
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(engine_of)]


async def current_actor(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Actor:
    """The caller of a request: ``Authorization: Bearer <token>`` of a live token (401 else).
    A token verified in the last seconds is trusted without a query (:mod:`._token_cache`)."""
    if not authorization:
        raise _unauthorized("send 'Authorization: Bearer <token>' (leadflow token create)")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("the Authorization header must be 'Bearer <token>'")
    tokens: TokenCache = request.app.state.tokens
    token = token.strip()
    info = tokens.cached(token)
    if info is None:
        engine: Engine = request.app.state.engine
        info = await run_in_threadpool(tokens.verify, token, engine.clock.now())
    if info is None:
        raise _unauthorized("the token is unknown, malformed or revoked")
    request.state.token = info.name
    return actor_of(info)


def actor_of(info: TokenInfo) -> Actor:
    """Who a token acts as: its owner id (or ``token:<name>``), its role and team."""
    return Actor(id=info.owner or f"token:{info.name}", role=info.role, team=info.team)


Caller = Annotated[Actor, Depends(current_actor)]


@dataclass(frozen=True, slots=True)
class WriteGuards:
    """A write's caller and guards: ``If-Match`` (a lead's etag) and ``Idempotency-Key``."""

    actor: Actor
    if_version: int | None
    idempotency: Idempotency | None

    @property
    def options(self) -> dict[str, Any]:
        """The keyword arguments every engine write takes: ``actor``, ``if_version``,
        ``idempotency``."""
        return {
            "actor": self.actor,
            "if_version": self.if_version,
            "idempotency": self.idempotency,
        }


async def write_guards(
    request: Request,
    actor: Caller,
    if_match: Annotated[str | None, Header()] = None,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> WriteGuards:
    """The guards of a write; the key is scoped to the token and bound to a digest of the
    request (method, path, body), read here so that the route itself can run in a thread."""
    idempotency = None
    if idempotency_key is not None:
        if not 1 <= len(idempotency_key) <= MAX_KEY:
            raise Problem(422, "invalid_request", f"Idempotency-Key must be 1-{MAX_KEY} chars")
        body = await request.body()
        digest = hashlib.sha256(
            b"\0".join([request.method.encode(), request.url.path.encode(), body])
        ).hexdigest()
        idempotency = Idempotency(idempotency_key, digest, scope=request.state.token)
    return WriteGuards(actor, _version(if_match), idempotency)


Writes = Annotated[WriteGuards, Depends(write_guards)]


def _version(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None  # "*": any current version of the lead
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise Problem(
            412,
            "precondition_failed",
            f"If-Match must be a lead's etag such as '\"3\"', not {if_match!r}",
        )
    return int(text)


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "unauthorized", detail, {"WWW-Authenticate": 'Bearer realm="leadflow"'})
