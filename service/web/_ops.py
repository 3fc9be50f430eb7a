"""``/app/ops``: what an operator watches (the ``ops`` role, or admin): the deployed versions
and what the latest one changed, the outbox (backlog per adapter, dead letters, a retry
button) and live migrations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from leadflow.adapters import Outbox
from leadflow.definitions import diff_definitions
from leadflow.engine import Engine
from leadflow.engine.access import require
from leadflow.engine.migration import migration_runs
from leadflow.service._deps import EngineDep
from leadflow.service._problems import Problem
from leadflow.service.web._auth import Form, User
from leadflow.service.web._render import render

__all__ = ["DEAD_SHOWN", "router"]

router = APIRouter(prefix="/app/ops", include_in_schema=False)

DEAD_SHOWN = 50
"""Dead letters listed, oldest first."""


@router.get("", response_class=HTMLResponse)
def ops(request: Request, engine: EngineDep, user: User) -> HTMLResponse:
    """The ops page."""
    require(user.actor, "outbox")
    outbox = Outbox(engine)
    context: dict[str, Any] = {
        "title": "Operations",
        "user": user,
        "processes": _versions(engine),
        "outbox": outbox.status(),
        "dead": outbox.list("dead", None, None, DEAD_SHOWN),
        "migrations": [r for r in migration_runs(engine) if r.status == "running"],
        "retried": request.query_params.get("retried"),
    }
    return render(request, "ops.html", context)


def _versions(engine: Engine) -> list[dict[str, Any]]:
    out = []
    for name, versions in sorted(engine.processes().items()):
        latest = max(versions)
        previous = max((v for v in versions if v < latest), default=None)
        changes = (
            []
            if previous is None
            else [
                c.message
                for c in diff_definitions(
                    engine.definition(name, previous), engine.definition(name, latest)
                )
            ]
        )
        out.append(
            {
                "name": name,
                "versions": sorted(versions),
                "latest": latest,
                "previous": previous,
                "changes": changes,
            }
        )
    return out


@router.post("/outbox/retry")
def retry(engine: EngineDep, user: User, form: Form) -> Response:
    """Retry one dead letter (``id``) or every one (``all``)."""
    require(user.actor, "outbox")
    outbox = Outbox(engine)
    if form.get("all"):
        count = outbox.retry(all_dead=True)
    elif form.get("id", "").isdigit():
        count = outbox.retry([int(form["id"])])
    else:
        raise Problem(422, "invalid_request", "choose a delivery to retry, or all of them")
    return RedirectResponse(f"/app/ops?retried={count}", status_code=303)
