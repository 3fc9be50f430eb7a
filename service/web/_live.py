"""Live pages: ``GET /app/changes`` answers the id of the newest change of any lead.

Pages follow ``/app/events`` (server-sent events, :mod:`._events`) and fall back to polling
this every second (``static/app.js``) where that fails; they reload when it moves. The number
is read at most twice a second per server process, however many browsers poll: one indexed read
(``max(id)`` of the history table), not a query per client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from leadflow.engine import Engine
from leadflow.engine.store import last_change
from leadflow.service._deps import EngineDep
from leadflow.service._token_cache import TokenCache
from leadflow.service.web._auth import SignInRequired, web_user

__all__ = ["ChangeCounter", "may_follow", "router"]

router = APIRouter(prefix="/app", include_in_schema=False)


class ChangeCounter:
    """The newest change id, read from the database at most once per ``ttl`` seconds."""

    def __init__(
        self, engine: Engine, ttl: float = 0.5, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.engine = engine
        self.ttl = ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._value = 0
        self._until = float("-inf")

    def current(self, *, fresh: bool = False) -> int:
        """The newest change id, as of at most ``ttl`` seconds ago (read now when ``fresh``:
        a page reads it before its data, so that a change made meanwhile reloads it)."""
        with self._lock:
            if fresh or self._monotonic() >= self._until:
                self._value = last_change(self.engine.store)
                self._until = self._monotonic() + self.ttl
            return self._value


async def may_follow(request: Request, engine: Engine, token: str | None) -> None:
    """Pass for a signed-in person or a live ``token`` (a wall board's); else
    :class:`SignInRequired`."""
    if token is not None:
        tokens: TokenCache = request.app.state.tokens
        info = await run_in_threadpool(tokens.verify, token, engine.clock.now())
        if info is None:
            raise SignInRequired
    else:
        await web_user(request)


@router.get("/changes")
async def changes(request: Request, engine: EngineDep, token: str | None = None) -> JSONResponse:
    """``{"change": N}`` for a signed-in person or a live ``token`` (a wall board's)."""
    await may_follow(request, engine, token)
    counter: ChangeCounter = request.app.state.changes
    value = await run_in_threadpool(counter.current)
    return JSONResponse({"change": value}, headers={"Cache-Control": "no-store"})
