"""The SLA wall board and the live-update endpoint over HTTP."""

from __future__ import annotations

import re

from web_support import PROCESS, WebApp

from leadflow.service.web._live import ChangeCounter
from leadflow.service.web._wall import WallCache


def _calls(web: WebApp) -> None:
    web.start("lead-alpha", owner="sdr_ana")
    web.start("lead-beta", owner="sdr_ben")
    web.engine.record(PROCESS, "lead-alpha", "call", {})


def test_a_board_token_in_the_url_opens_the_wall_without_lead_data(web: WebApp) -> None:
    """With a board token in the URL the wall shows per-rep figures in big type and refreshes
    itself, and names no lead."""
    _calls(web)
    page = web.client().get("/app/wall/sdr", params={"token": web.tokens["board"]})
    assert page.status_code == 200
    assert 'class="wall"' in page.text
    assert 'data-refresh="30"' in page.text
    assert '<th scope="row">sdr_ana</th>' in page.text
    assert '<th scope="row">sdr_ben</th>' in page.text
    assert "100%" in page.text  # sdr_ana met the speed-to-call SLA
    assert "Next to breach" in page.text  # sdr_ben's speed-to-call clock runs
    for lead in ("lead-alpha", "lead-beta", "@example.com"):
        assert lead not in page.text
    assert "set-cookie" not in page.headers
    assert page.headers["referrer-policy"] == "same-origin"


def test_only_a_board_token_may_be_put_in_the_url(web: WebApp) -> None:
    """Another role's token in the URL is 403 (it would leak more than the wall); a bad one
    is 401; an unknown team is 404."""
    client = web.client()
    assert client.get("/app/wall/sdr", params={"token": web.tokens["admin"]}).status_code == 403
    assert client.get("/app/wall/sdr", params={"token": "lf_bad"}).status_code == 401
    missing = client.get("/app/wall/nobody", params={"token": web.tokens["board"]})
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")


def test_a_signed_in_person_opens_the_wall_too(web: WebApp) -> None:
    """Anyone signed in may see the wall of a team."""
    _calls(web)
    page = web.signed_in("manager").get("/app/wall/sdr")
    assert page.status_code == 200
    assert "sdr_ana" in page.text


def test_changes_moves_when_a_lead_changes(web: WebApp) -> None:
    """/app/changes answers a number that grows when any lead changes; a wall's token may ask
    too; without a session or token it is 401."""
    web.app.state.changes.ttl = 0  # read on every request here (the TTL is tested below)
    client = web.signed_in("rep")
    first = client.get("/app/changes").json()["change"]
    web.start("l9")
    assert client.get("/app/changes").json()["change"] > first
    assert client.get("/app/changes").headers["cache-control"] == "no-store"
    assert web.client().get("/app/changes").status_code == 401
    wall = web.client().get("/app/changes", params={"token": web.tokens["board"]})
    assert wall.status_code == 200
    assert web.client().get("/app/changes", params={"token": "lf_x"}).status_code == 401


def test_pages_carry_the_live_wiring(web: WebApp) -> None:
    """Board and lead pages name the change endpoints (polled and streamed), the change they
    show and where to reload."""
    web.start("l1")
    page = web.signed_in("rep").get(f"/app/p/{PROCESS}/leads/l1").text
    match = re.search(
        r'data-changes="([^"]+)" data-events="([^"]+)" data-change="(\d+)" data-reload="([^"]+)"',
        page,
    )
    assert match is not None
    assert match.group(1) == "/app/changes"
    assert match.group(2) == "/app/events"
    assert match.group(4) == f"/app/p/{PROCESS}/leads/l1"


def test_the_change_counter_reads_the_database_at_most_once_per_ttl(web: WebApp) -> None:
    """Many polls within the TTL share one read: a change shows only after the TTL."""
    now = [0.0]
    counter = ChangeCounter(web.engine, ttl=0.5, monotonic=lambda: now[0])
    seen = counter.current()
    web.start("l2")
    assert counter.current() == seen  # within the TTL: the remembered value
    now[0] = 0.6
    assert counter.current() > seen


def test_the_wall_cache_computes_once_per_change_and_interval() -> None:
    """Screens share one computation: a new change recomputes only once the figures are
    min_age old, and figures older than max_age are recomputed without a change; the change
    id returned is the one the figures are of."""
    now = [0.0]
    calls: list[int] = []
    cache = WallCache(min_age=2, max_age=30, monotonic=lambda: now[0])

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get("sdr", 5, compute) == (5, 1)
    assert cache.get("sdr", 5, compute) == (5, 1)
    now[0] = 1.0
    assert cache.get("sdr", 6, compute) == (5, 1)  # too soon: the page will ask again
    now[0] = 2.5
    assert cache.get("sdr", 6, compute) == (6, 2)
    assert cache.get("other", 6, compute) == (6, 3)
    now[0] = 40.0
    assert cache.get("sdr", 6, compute) == (6, 4)
