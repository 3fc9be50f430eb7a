"""Live updates as server-sent events: ``/app/events`` streams the newest change id, one
poller per server process however many browsers listen."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from web_support import PROCESS, WebApp


def _events(lines: Iterator[str]) -> Iterator[str]:
    """The ``data`` of each event of a stream (comments and ``retry`` skipped)."""
    for line in lines:
        if line.startswith("data: "):
            yield line.removeprefix("data: ")


@contextmanager
def _stream(client: httpx.Client, url: str) -> Iterator[Iterator[str]]:
    with client.stream("GET", url, timeout=10) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        yield _events(answer.iter_lines())


def test_a_change_reaches_an_open_stream_within_two_seconds(web: WebApp) -> None:
    """The stream starts with the current change id and sends the next one within 2 s of a
    change made through the engine (as the API or the worker would)."""
    web.start("l1")
    client = web.signed_in("rep")
    current = client.get("/app/changes").json()["change"]
    with _stream(client, "/app/events") as events:
        assert int(next(events)) == current
        started = time.monotonic()
        web.engine.record(PROCESS, "l1", "call", {})
        assert int(next(events)) > current
        assert time.monotonic() - started < 2


def test_a_wall_token_may_follow_and_no_one_else(web: WebApp) -> None:
    """A live board token in the URL opens a stream; without a session or with a bad token
    the answer is 401, not a stream."""
    with _stream(web.client(), f"/app/events?token={web.tokens['board']}") as events:
        assert int(next(events)) >= 0
    assert web.client().get("/app/events").status_code == 401
    assert web.client().get("/app/events?token=lf_nope").status_code == 401


def test_many_listeners_share_one_poller(web: WebApp) -> None:
    """Five open streams cost the poller's reads only (about two a second), not a read per
    stream per tick; every stream sees the change."""
    web.start("l1")
    clients = [web.signed_in("rep") for _ in range(5)]
    seen: list[int] = []
    ready = threading.Barrier(6)

    def listen(client: httpx.Client) -> None:
        with _stream(client, "/app/events") as events:
            first = int(next(events))
            ready.wait(5)
            seen.append(int(next(events)) - first)

    threads = [threading.Thread(target=listen, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    ready.wait(5)
    feed = web.app.state.feed
    assert feed.listeners == 5
    polls = feed.polls
    started = time.monotonic()
    threading.Event().wait(1.5)
    web.engine.record(PROCESS, "l1", "call", {})
    for t in threads:
        t.join(5)
    spent = time.monotonic() - started
    assert len(seen) == 5
    assert all(step > 0 for step in seen)
    assert feed.polls - polls <= spent / feed.interval + 1
