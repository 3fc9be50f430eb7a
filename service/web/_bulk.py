"""``POST /app/p/{process}/bulk``: one action on the cards a person selected on the board.

Fire a trigger on each, or give each to an owner. Every lead is its own engine call as the
signed-in person (the access rules and criteria apply lead by lead), so some may succeed while
others are refused; the board comes back with the outcome of each.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from leadflow.service._deps import EngineDep
from leadflow.service._problems import Problem
from leadflow.service.web._actions import board_view
from leadflow.service.web._apply import apply_one
from leadflow.service.web._auth import Form, User
from leadflow.service.web._board import board_page
from leadflow.service.web._views import BulkOutcome

__all__ = ["MAX_SELECTED", "router"]

router = APIRouter(prefix="/app/p", include_in_schema=False)

MAX_SELECTED = 200
"""Leads one bulk action may name."""


@router.post("/{process}/bulk", response_class=HTMLResponse)
def bulk(request: Request, process: str, engine: EngineDep, user: User, form: Form) -> HTMLResponse:
    """``action`` ``fire`` (with ``trigger``) or ``assign`` (with ``assign_to``; empty
    unassigns) on every selected ``lead``."""
    leads = list(dict.fromkeys(form.all("lead")))
    action = form.get("action", "")
    if not leads:
        raise Problem(422, "invalid_request", "select at least one lead on the board")
    if len(leads) > MAX_SELECTED:
        raise Problem(422, "invalid_request", f"select at most {MAX_SELECTED} leads at once")
    trigger = form.get("trigger", "")
    if action == "fire" and not trigger:
        raise Problem(422, "invalid_request", "choose the trigger to fire")
    if action not in ("fire", "assign"):
        raise Problem(422, "invalid_request", "choose to fire a trigger or to assign")
    owner = form.get("assign_to") or None
    outcome = BulkOutcome(f"fire {trigger}" if action == "fire" else f"assign to {owner}")
    argument = trigger if action == "fire" else owner
    for lead_id in leads:
        why = apply_one(engine, process, action, argument, lead_id, user.actor)
        if why is None:
            outcome.succeeded.append(lead_id)
        else:
            outcome.failed.append((lead_id, why))
    view = board_view(engine, process, form)
    return board_page(request, engine, user, process, view, bulk=outcome)
