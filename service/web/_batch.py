"""Batch actions on everything a board filter matches: ``POST /app/p/{process}/batch`` starts
one (fire a trigger, or assign), ``GET /app/p/{process}/batches/{id}`` follows it.

The leads are those the filter keeps within the person's read scope (the same rules as the
board, at most :data:`MAX_BATCH`); the run is stored with every lead pending and worked through
in the background (:mod:`._batch_runner`), lead by lead as the person, so each lead's criteria
and access rules apply. The page shows succeeded / failed / pending and reloads itself every
second until nothing is pending. Only the person who started a run (or an admin) may see it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from leadflow.engine import Engine
from leadflow.engine.access import hidden_fields
from leadflow.engine.store import BatchRun, BatchRuns, lead_rows
from leadflow.service._deps import EngineDep
from leadflow.service._problems import Problem
from leadflow.service._scope import visible_owners
from leadflow.service.web._actions import board_view
from leadflow.service.web._auth import Form, User, WebUser
from leadflow.service.web._batch_runner import BatchRunner
from leadflow.service.web._board import BoardView
from leadflow.service.web._render import render
from leadflow.service.web._views import owner_choices

__all__ = ["MAX_BATCH", "router"]

router = APIRouter(prefix="/app/p", include_in_schema=False)

MAX_BATCH = 10_000
"""Leads one batch may act on; a wider filter is refused (narrow it first)."""


def matching_leads(engine: Engine, user: WebUser, process: str, view: BoardView) -> list[str]:
    """The open leads of ``process`` the filter keeps and the person may read, by id."""
    definition = engine.definition(process)
    if any(name in hidden_fields(user.actor.role, definition) for name, _ in view.fields):
        raise Problem(403, "access_denied", "The board cannot be filtered by a hidden field.")
    owners, unassigned = visible_owners(user.actor, definition, view.owner, view.team)
    found: list[str] = []
    after = 0
    while rows := lead_rows(
        engine.store,
        process,
        owners=owners,
        unassigned=unassigned,
        closed=False,
        after=after,
        limit=1000,
        fields=dict(view.fields),
    ):
        found += [r.lead_id for r in rows]
        after = rows[-1].id
        if len(found) > MAX_BATCH:
            raise Problem(
                422, "invalid_request", f"the filter matches more than {MAX_BATCH:,} leads"
            )
    return found


@router.post("/{process}/batch")
def start_batch(
    request: Request, process: str, engine: EngineDep, user: User, form: Form
) -> Response:
    """``action`` ``fire`` (with ``trigger``) or ``assign`` (``assign_to``; empty unassigns)
    on every lead the board filter ``view`` matches; answers with the run's page."""
    definition = engine.definition(process)
    action = form.get("action", "")
    if action == "fire":
        argument: str | None = form.get("trigger", "")
        if argument not in {t.name for t in definition.transitions}:
            raise Problem(422, "invalid_request", "choose a trigger of this process to fire")
    elif action == "assign":
        argument = form.get("assign_to") or None
        if argument is not None and argument not in owner_choices(definition):
            raise Problem(422, "invalid_request", f"'{argument}' is no member of a team here")
    else:
        raise Problem(422, "invalid_request", "choose to fire a trigger or to assign")
    view = board_view(engine, process, form)
    leads = matching_leads(engine, user, process, view)
    runner: BatchRunner = request.app.state.batches
    run_id = runner.runs.create(
        process,
        action,
        argument,
        lead_ids=leads,
        filter=view.query,
        actor=user.actor,
        by=user.token_name,
        at=engine.clock.now(),
    )
    runner.submit(run_id)
    return RedirectResponse(f"/app/p/{process}/batches/{run_id}", status_code=303)


@router.get("/{process}/batches/{run_id}", response_class=HTMLResponse)
def batch_page(
    request: Request, process: str, run_id: int, engine: EngineDep, user: User
) -> HTMLResponse:
    """Where a run stands: succeeded, failed (with why) and pending leads."""
    run = BatchRuns(engine.store).get(run_id)
    if run is None or run.process != process or not _may_see(user, run):
        raise Problem(404, "not_found", f"no batch {run_id} of yours in {process}")
    definition = engine.definition(process)
    titles = {t.name: t.title or t.name for t in definition.transitions}
    what = (
        f"Fire “{titles.get(run.argument or '', run.argument)}”"
        if run.action == "fire"
        else f"Assign to {run.argument or 'nobody (unassign)'}"
    )
    pending = run.counts.get("pending", 0)
    context = {
        "title": f"Batch {run_id}",
        "user": user,
        "process": process,
        "run": run,
        "what": what,
        "board_url": f"/app/p/{process}" + (f"?{run.filter}" if run.filter else ""),
        "refresh": 1 if pending else 0,
    }
    return render(request, "batch.html", context)


def _may_see(user: WebUser, run: BatchRun) -> bool:
    return run.created_by == user.token_name or user.actor.role == "admin"
