"""What every route needs: the engine, the caller (from its bearer token), the guards of writes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from leadflow.engine import Engine, Idempotency
from leadflow.engine.access import Actor, require
from leadflow.engine.store import TokenStore
from leadflow.service._problems import Problem

__all__ = [
    "Caller",
    "EngineDep",
    "Writes",
    "current_actor",
    "engine_of",
    "require_verb",
]

MAX_KEY = 255


def engine_of(request: Request) -> Engine:
    """The engine the app was created with."""
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(engine_of)]


def current_actor(request: Request, authorization: Annotated[str | None, Header()] = None) -> Actor:
    """The caller of a request: ``Authorization: Bearer <token>`` of a live token (401 else)."""
    if not authorization:
        raise _unauthorized("send 'Authorization: Bearer <token>' (leadflow token create)")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("the Authorization header must be 'Bearer <token>'")
    tokens: TokenStore = request.app.state.tokens
    engine = engine_of(request)
    info = tokens.verify(token.strip(), engine.clock.now())
    if info is None:
        raise _unauthorized("the token is unknown, malformed or revoked")
    return Actor(id=info.owner or f"token:{info.name}", role=info.role, team=info.team)


Caller = Annotated[Actor, Depends(current_actor)]


def require_verb(verb: str) -> Callable[[Actor], Actor]:
    """A dependency: the caller, if its role allows ``verb`` at all (403 else)."""

    def check(actor: Caller) -> Actor:
        require(actor, verb)
        return actor

    return check


class Writes:
    """The write guards of a request: ``If-Match`` (a lead's etag) and ``Idempotency-Key``."""

    def __init__(
        self,
        request: Request,
        actor: Caller,
        if_match: Annotated[str | None, Header()] = None,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> None:
        self.if_version = _version(if_match)
        self.key = idempotency_key
        self.actor = actor
        self.request = request

    async def idempotency(self, status: int = 200) -> Idempotency | None:
        """The request's idempotency key, scoped to the caller, with a digest of the request."""
        if self.key is None:
            return None
        if not 1 <= len(self.key) <= MAX_KEY:
            raise Problem(422, "invalid_request", f"Idempotency-Key must be 1-{MAX_KEY} chars")
        body = await self.request.body()
        digest = hashlib.sha256(
            b"\0".join([self.request.method.encode(), self.request.url.path.encode(), body])
        ).hexdigest()
        return Idempotency(self.key, digest, scope=self.actor.id, status=status)


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
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
