"""Named board views: ``POST /app/p/{process}/views`` saves the board's filters under a name
(the person's own, or shared with everyone who may see the board), ``POST .../views/{id}/delete``
deletes one, and ``GET .../views/{id}`` opens one (a link to share).

A view keeps only the filters; opening it is opening the board with them, where the viewer's
own role decides what they see (a shared view never widens it).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from leadflow.engine.store import InvalidView, SavedViews
from leadflow.service._deps import EngineDep
from leadflow.service._problems import Problem
from leadflow.service.web._actions import board_view
from leadflow.service.web._auth import Form, User

__all__ = ["router"]

router = APIRouter(prefix="/app/p", include_in_schema=False)


@router.post("/{process}/views")
def save_view(process: str, engine: EngineDep, user: User, form: Form) -> RedirectResponse:
    """Save the filters ``view`` (a query string) as ``name``; ``shared`` for everyone."""
    view = board_view(engine, process, form)
    try:
        SavedViews(engine.store).save(
            process,
            form.get("name", ""),
            view.query,
            by=user.token_name,
            shared=form.get("shared") == "on",
            at=engine.clock.now(),
        )
    except InvalidView as exc:
        raise Problem(422, "invalid_request", f"Saving the view: {exc}") from exc
    return RedirectResponse(view.url(process), status_code=303)


@router.post("/{process}/views/{view_id}/delete")
def delete_view(
    process: str, view_id: int, engine: EngineDep, user: User, form: Form
) -> RedirectResponse:
    """Delete one's own view (or a shared one one saved)."""
    try:
        SavedViews(engine.store).delete(process, view_id, by=user.token_name)
    except InvalidView as exc:
        raise Problem(404, "not_found", str(exc)) from exc
    return RedirectResponse(board_view(engine, process, form).url(process), status_code=303)


@router.get("/{process}/views/{view_id}")
def open_view(process: str, view_id: int, engine: EngineDep, user: User) -> RedirectResponse:
    """The board with the view's filters (a view of someone else's that is not shared is not
    found)."""
    engine.definition(process)
    for view in SavedViews(engine.store).visible(process, user.token_name):
        if view.id == view_id:
            target = f"/app/p/{process}" + (f"?{view.query}" if view.query else "")
            return RedirectResponse(target, status_code=303)
    raise Problem(404, "not_found", f"no view {view_id} you may open in {process}")
