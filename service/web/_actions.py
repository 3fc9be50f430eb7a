"""The form posts of the board and the lead page: fire a trigger, log an activity, assign.

Each is a real engine call as the signed-in person (the same access rules as the API). A move
the engine refuses (unmet criteria, bad field values, a trigger the stage does not allow) is
shown on the page it came from, with the messages, and changes nothing; a success redirects
back to that page (post, redirect, get).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from leadflow.engine import Engine, GuardFailed, InvalidData, InvalidTransition
from leadflow.engine.access import AccessDenied
from leadflow.service._deps import EngineDep
from leadflow.service._problems import Problem
from leadflow.service.web._auth import Form, User, WebUser
from leadflow.service.web._board import BoardView, board_page
from leadflow.service.web._lead import lead_page, lead_url
from leadflow.service.web._views import Refusal, coerce

__all__ = ["board_view", "router"]

router = APIRouter(prefix="/app/p", include_in_schema=False)


@router.post("/{process}/leads/{lead_id:path}/fire")
def fire(
    request: Request, process: str, lead_id: str, engine: EngineDep, user: User, form: Form
) -> Response:
    """Fire ``trigger`` (with ``field.<name>`` values) and go back to the ``back`` page."""
    trigger = form.get("trigger", "")
    if not trigger:
        raise Problem(422, "invalid_request", "choose a trigger to fire")
    definition = engine.definition(process, engine.get(process, lead_id).definition_version)
    try:
        engine.fire(process, lead_id, trigger, coerce(definition, form), actor=user.actor)
    except GuardFailed as exc:
        refusal = Refusal(lead_id, trigger, [c.message for c in exc.unmet])
        return _back(request, engine, user, process, lead_id, form, refusal, 409)
    except InvalidData as exc:
        messages = [f"{i.field}: {i.message}" for i in exc.issues]
        return _back(
            request, engine, user, process, lead_id, form, Refusal(lead_id, trigger, messages), 422
        )
    except InvalidTransition as exc:
        refusal = Refusal(lead_id, trigger, [str(exc)])
        return _back(request, engine, user, process, lead_id, form, refusal, 409)
    return _back(request, engine, user, process, lead_id, form)


@router.post("/{process}/leads/{lead_id:path}/activities")
def record(
    request: Request, process: str, lead_id: str, engine: EngineDep, user: User, form: Form
) -> Response:
    """Log an activity of ``type`` (with an optional ``note``) on the lead."""
    kind = form.get("type", "")
    if not kind:
        raise Problem(422, "invalid_request", "choose the kind of activity to log")
    note = form.get("note", "").strip()
    version = engine.get(process, lead_id).definition_version
    known = engine.runtime.compiled(process, version).activity_types
    if kind not in known:
        refusal = Refusal(lead_id, kind, [f"log one of: {', '.join(known)}"])
        return _back(request, engine, user, process, lead_id, form, refusal, 422)
    try:
        engine.record(process, lead_id, kind, {"note": note} if note else {}, actor=user.actor)
    except InvalidData as exc:
        messages = [f"{i.field}: {i.message}" for i in exc.issues] or [str(exc)]
        return _back(
            request, engine, user, process, lead_id, form, Refusal(lead_id, kind, messages), 422
        )
    return _back(request, engine, user, process, lead_id, form)


@router.post("/{process}/leads/{lead_id:path}/assign")
def assign(
    request: Request, process: str, lead_id: str, engine: EngineDep, user: User, form: Form
) -> Response:
    """Give the lead to ``owner_to`` (empty: unassign); a refusal shows on the lead page."""
    owner = form.get("owner_to") or None
    try:
        engine.assign(process, lead_id, owner, actor=user.actor)
    except AccessDenied as exc:
        refusal = Refusal(lead_id, f"assign to {owner or 'nobody'}", [str(exc)])
        return _back(request, engine, user, process, lead_id, form, refusal, 403)
    return _back(request, engine, user, process, lead_id, form)


def _back(
    request: Request,
    engine: Engine,
    user: WebUser,
    process: str,
    lead_id: str,
    form: dict[str, str],
    refusal: Refusal | None = None,
    status: int = 303,
) -> Response:
    """After a success, a redirect to the page the form was on (the board with its filters,
    ``view``, or the lead page); after a refusal, that page rendered with the refusal."""
    on_board = form.get("back") == "board"
    view = board_view(engine, process, form)
    if refusal is None:
        url = view.url(process) if on_board else lead_url(process, lead_id)
        return RedirectResponse(url, status_code=303)
    if on_board:
        return board_page(request, engine, user, process, view, None, refusal, status)
    return lead_page(request, engine, user, process, lead_id, refusal, status)


def board_view(engine: Engine, process: str, form: dict[str, str]) -> BoardView:
    """The board filters a form came from (its ``view``, a query string)."""
    return BoardView.of(engine.definition(process), dict(parse_qsl(form.get("view", ""))))
