"""``GET /app/events``: the newest change id as server-sent events (``text/event-stream``).

One :class:`ChangeFeed` per server process polls the change counter (itself one indexed read,
at most twice a second) while at least one browser listens, and wakes every listener when the
number moves: the database sees the same few reads whether one page is open or a thousand.
Each stream sends the current number first (``id:`` and ``data:``), then each new one, a
comment every 15 seconds to keep proxies from closing it, and ends after :data:`LIFETIME`
seconds; the browser's ``EventSource`` reconnects by itself (``retry: 1000``), so a stream
never holds a server that is shutting down for long. Pages fall back to polling
``/app/changes`` when a stream fails (``static/app.js``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from leadflow.service._deps import EngineDep
from leadflow.service.web._live import ChangeCounter, may_follow

__all__ = ["LIFETIME", "ChangeFeed", "router"]

router = APIRouter(prefix="/app", include_in_schema=False)

LIFETIME = 25.0
"""Seconds a stream lasts before the browser reconnects."""
KEEPALIVE = 15.0
"""Seconds of silence after which a stream sends a comment."""
CHECK = 1.0
"""Seconds between a stream's checks that its browser is still there."""


class ChangeFeed:
    """The newest change id for every listener of this process, from one poller."""

    def __init__(self, counter: ChangeCounter, interval: float = 0.5) -> None:
        self.counter = counter
        self.interval = interval
        self.value = 0
        self.listeners = 0
        self.polls = 0
        """Reads of the counter the poller made (a test counts them)."""
        self._moved: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def listen(self) -> AsyncGenerator[int, None]:
        """The current change id, then each higher one, while the caller iterates."""
        self.listeners += 1
        try:
            if self._task is None:
                self._task = asyncio.create_task(self._poll())
            seen = await run_in_threadpool(self.counter.current)
            yield seen
            while True:
                moved = self._event()
                if self.value <= seen:
                    await moved.wait()
                    continue
                seen = self.value
                yield seen
        finally:
            self.listeners -= 1

    def _event(self) -> asyncio.Event:
        if self._moved is None:
            self._moved = asyncio.Event()
        return self._moved

    async def _poll(self) -> None:
        try:
            while self.listeners:
                await asyncio.sleep(self.interval)
                value = await run_in_threadpool(self.counter.current)
                self.polls += 1
                if value != self.value:
                    self.value = value
                    moved, self._moved = self._event(), asyncio.Event()
                    moved.set()
        finally:
            self._task = None


async def _stream(feed: ChangeFeed, request: Request) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LIFETIME
    yield "retry: 1000\n\n"
    changes = feed.listen()
    pending: asyncio.Task[int] | None = None
    try:
        sent = loop.time()
        while (left := deadline - loop.time()) > 0 and not await request.is_disconnected():
            if pending is None:
                pending = asyncio.ensure_future(anext(changes))
            # wake at least every CHECK seconds: a closed browser (or a server shutting down)
            # is noticed at once, not at the next keep-alive
            done, _ = await asyncio.wait({pending}, timeout=min(CHECK, left))
            if not done:
                if loop.time() - sent >= KEEPALIVE:
                    sent = loop.time()
                    yield ": keep-alive\n\n"
                continue
            value, pending = pending.result(), None
            sent = loop.time()
            yield f"id: {value}\ndata: {value}\n\n"
    finally:
        if pending is not None and not pending.done():
            pending.cancel()  # it runs the generator: it must end before the generator closes
            await asyncio.gather(pending, return_exceptions=True)
        await changes.aclose()


@router.get("/events")
async def events(
    request: Request, engine: EngineDep, token: str | None = None
) -> StreamingResponse:
    """The change stream for a signed-in person or a live ``token`` (a wall board's)."""
    await may_follow(request, engine, token)
    feed: ChangeFeed = request.app.state.feed
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        _stream(feed, request), media_type="text/event-stream", headers=headers
    )
