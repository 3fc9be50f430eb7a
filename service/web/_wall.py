"""``/app/wall/{team}``: the SLA wall board of a team, for a screen on the wall.

It is opened with a ``board`` token in the URL (``?token=...``) so that no person has to be
signed in, or by anyone signed in. It shows figures per rep and SLA policy (met %, median and
p90 response, breaches, open clocks) and the open clocks the soonest due first (rep, SLA, time
left), never a lead, and refreshes itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from leadflow.engine import Engine, reports
from leadflow.engine.access import Actor, require, team_members
from leadflow.service._deps import EngineDep, actor_of
from leadflow.service._problems import Problem
from leadflow.service._token_cache import TokenCache
from leadflow.service.web._auth import web_user
from leadflow.service.web._live import ChangeCounter
from leadflow.service.web._render import render

__all__ = ["OPEN_SHOWN", "REFRESH", "WallCache", "router"]

router = APIRouter(prefix="/app/wall", include_in_schema=False)

REFRESH = 30
"""Seconds between full reloads (changes reload it within about a second as well)."""


@router.get("/{team}", response_class=HTMLResponse)
async def wall(
    request: Request, team: str, engine: EngineDep, token: str | None = None
) -> HTMLResponse:
    """The wall board of ``team`` across the processes that have it."""
    if token is not None:
        tokens: TokenCache = request.app.state.tokens
        info = await run_in_threadpool(tokens.verify, token, engine.clock.now())
        if info is None:
            raise Problem(401, "unauthorized", "The token in this address is not valid.")
        if info.role != "board":
            raise Problem(
                403,
                "access_denied",
                "Only a token of the board role may be put in an address; sign in instead.",
            )
        actor = actor_of(info)
    else:
        actor = (await web_user(request)).actor
    query = f"?token={quote(token, safe='')}" if token else ""
    processes = await run_in_threadpool(_processes, engine, actor, team)
    counter: ChangeCounter = request.app.state.changes
    change = await run_in_threadpool(counter.current, fresh=True)
    cache: WallCache = request.app.state.walls
    change, (rows, clocks) = await run_in_threadpool(
        cache.get, team, change, lambda: _rows(engine, processes, team)
    )
    changes = {
        "url": "/app/changes" + query,
        "change": change,
        "reload": str(request.url.path) + query,
    }
    context = {
        "title": f"SLA wall · {team}",
        "user": None,
        "team": team,
        "rows": rows,
        "clocks": clocks,
        "refresh": REFRESH,
        "now": engine.clock.now(),
        "live": changes,
    }
    return render(request, "wall.html", context)


OPEN_SHOWN = 20
"""Open clocks listed, the soonest due first."""


def _processes(engine: Engine, actor: Actor, team: str) -> list[str]:
    """The processes that have ``team``, each checked for the actor's ``board`` access (404
    when there is none)."""
    found = []
    for process in sorted(engine.processes()):
        definition = engine.definition(process)
        if team_members(definition, team):
            require(actor, "board", None, definition)
            found.append(process)
    if not found:
        raise Problem(404, "not_found", f"No process has a team named {team!r}.")
    return found


def _rows(
    engine: Engine, processes: list[str], team: str
) -> tuple[list[dict[str, Any]], list[reports.OpenClock]]:
    rows: list[dict[str, Any]] = []
    clocks: list[reports.OpenClock] = []
    for process in processes:
        definition = engine.definition(process)
        members = team_members(definition, team)
        titles = {name: policy.title or name for name, policy in definition.slas.items()}
        board = reports.sla_board(engine, process, by="owner")
        clocks += reports.open_clocks(engine, process, owners=members)
        for row in board.rows:
            if row.owner not in members:
                continue
            rows.append(
                {
                    "rep": row.owner,
                    "process": definition.title or process,
                    "policy": titles.get(row.policy, row.policy),
                    "met_rate": row.met_rate,
                    "median": row.median_response,
                    "p90": row.p90_response,
                    "breached": row.breached,
                    "open": row.pending,
                }
            )
    rows.sort(key=lambda r: (r["process"], r["policy"], r["rep"] or ""))
    now = engine.clock.now()
    clocks.sort(key=lambda c: (c.due_at is None, c.due_at or now))
    return rows, clocks[:OPEN_SHOWN]


_T = TypeVar("_T")


class WallCache:
    """The figures of each team's wall, shared by every screen showing it.

    They are worked out again when a change happened and the last figures are at least
    ``min_age`` seconds old, or when they are ``max_age`` old (clocks age without a change):
    however many walls hang, a busy process costs one computation per team per ``min_age``.
    A page shows the change id its figures were computed at, so it reloads again until it
    shows the newest.
    """

    def __init__(
        self,
        min_age: float = 2.0,
        max_age: float = REFRESH,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.min_age = min_age
        self.max_age = max_age
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._hits: dict[str, tuple[int, float, Any]] = {}

    def get(self, key: str, change: int, compute: Callable[[], _T]) -> tuple[int, _T]:
        """(the change id the value is of, the value) for ``key`` as of ``change``."""
        now = self._monotonic()
        with self._lock:
            hit = self._hits.get(key)
        if hit is not None:
            seen, at, value = hit
            age = now - at
            if age < self.max_age and (seen == change or age < self.min_age):
                return seen, value
        value = compute()
        with self._lock:
            if len(self._hits) >= _MAX_WALLS:
                self._hits.clear()
            self._hits[key] = (change, now, value)
        return change, value


_MAX_WALLS = 1000
