"""``/app/wall/{team}``: the SLA wall board of a team, for a screen on the wall.

It is opened with a ``board`` token in the URL (``?token=...``) so that no person has to be
signed in, or by anyone signed in. It shows figures per rep and SLA policy (met %, median and
p90 response, breaches, open clocks) and the open clocks the soonest due first (rep, SLA, time
left), never a lead, and refreshes itself.
"""

from __future__ import annotations

from typing import Any
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
from leadflow.service.web._render import render
from leadflow.service.web._views import live

__all__ = ["REFRESH", "router"]

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
    changes = await run_in_threadpool(
        live, request, str(request.url.path) + query, "/app/changes" + query
    )
    rows, clocks = await run_in_threadpool(_rows, engine, actor, team)
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


def _rows(
    engine: Engine, actor: Actor, team: str
) -> tuple[list[dict[str, Any]], list[reports.OpenClock]]:
    rows: list[dict[str, Any]] = []
    clocks: list[reports.OpenClock] = []
    found = False
    for process in sorted(engine.processes()):
        definition = engine.definition(process)
        members = team_members(definition, team)
        if not members:
            continue
        found = True
        require(actor, "board", None, definition)
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
    if not found:
        raise Problem(404, "not_found", f"No process has a team named {team!r}.")
    rows.sort(key=lambda r: (r["process"], r["policy"], r["rep"] or ""))
    now = engine.clock.now()
    clocks.sort(key=lambda c: (c.due_at is None, c.due_at or now))
    return rows, clocks[:OPEN_SHOWN]
