"""``/app/``: the sign-in form (a token), the list of processes once signed in, sign-out."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from leadflow.engine import Engine
from leadflow.engine.access import Actor, lead_scope
from leadflow.service._deps import EngineDep
from leadflow.service._token_cache import TokenCache
from leadflow.service.web._auth import Form, SignInRequired, WebUser, same_origin, web_user
from leadflow.service.web._render import render
from leadflow.service.web._session import COOKIE, SessionSigner

__all__ = ["router", "safe_next"]

router = APIRouter(prefix="/app", include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a page of this app, never another site."""
    if target and target.startswith("/app/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/app/"


async def _maybe_user(request: Request) -> WebUser | None:
    try:
        return await web_user(request)
    except SignInRequired:
        return None


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, engine: EngineDep, next: str | None = None) -> Response:
    """The sign-in form without a session; the processes (boards) with one."""
    user = await _maybe_user(request)
    if user is None:
        return _form(request, next, None, 200)
    if next is not None and safe_next(next) != "/app/":
        return RedirectResponse(safe_next(next), status_code=303)
    processes = await run_in_threadpool(_processes, engine, user.actor)
    return render(
        request, "home.html", {"title": "Processes", "user": user, "processes": processes}
    )


def _processes(engine: Engine, actor: Actor) -> list[dict[str, Any]]:
    """Each process with a link to its board when the person reads leads, and its teams'
    walls."""
    out = []
    for name in sorted(engine.processes()):
        definition = engine.definition(name)
        scope = lead_scope(actor, definition)
        out.append(
            {
                "name": name,
                "title": definition.title or name,
                "board": scope.all or bool(scope.owners) or scope.unassigned,
                "teams": list(definition.teams),
            }
        )
    return out


def _form(request: Request, next: str | None, error: str | None, status: int) -> Response:
    context = {"title": "Sign in", "user": None, "next": safe_next(next), "error": error}
    return render(request, "signin.html", context, status)


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request, engine: EngineDep) -> Response:
    """Check the token; on success a session cookie and a redirect to ``next``."""
    form = await request.form()
    token = form.get("token")
    target = form.get("next")
    next_page = target if isinstance(target, str) else None
    if not same_origin(request):
        return _form(request, next_page, "Sign in from this site's own page.", 403)
    if not isinstance(token, str) or not token.strip():
        return _form(request, next_page, "Enter your token.", 422)
    tokens: TokenCache = request.app.state.tokens
    info = await run_in_threadpool(tokens.verify, token.strip(), engine.clock.now())
    if info is None:
        return _form(request, next_page, "That token is unknown, malformed or revoked.", 401)
    signer: SessionSigner = request.app.state.sessions
    value, _ = signer.issue(info, time.time())
    response = RedirectResponse(safe_next(next_page), status_code=303)
    response.set_cookie(
        COOKIE,
        value,
        max_age=signer.max_age,
        path="/app",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out")
async def sign_out(request: Request, form: Form) -> Response:
    """End the session in this browser."""
    response = RedirectResponse("/app/", status_code=303)
    response.delete_cookie(COOKIE, path="/app", httponly=True, samesite="lax")
    return response
