"""Who is signed in (from the session cookie) and the CSRF check of every form post."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from leadflow.engine.access import Actor, explain_access
from leadflow.service._deps import actor_of
from leadflow.service._problems import Problem
from leadflow.service._token_cache import TokenCache
from leadflow.service.web._render import error_page
from leadflow.service.web._session import COOKIE, Session, SessionSigner

__all__ = [
    "Form",
    "PostedForm",
    "SignInRequired",
    "User",
    "WebUser",
    "checked_form",
    "on_sign_in_required",
    "same_origin",
    "web_user",
]


@dataclass(frozen=True, slots=True)
class WebUser:
    """The person signed in: the actor their token stands for, and their session."""

    actor: Actor
    token_name: str
    session: Session
    csrf: str
    operates: bool = False
    """Whether the role operates the outbox (the ops page)."""


class SignInRequired(Exception):
    """No valid session: pages redirect to the sign-in form, anything else is 401."""


async def web_user(request: Request) -> WebUser:
    """The signed-in person, or :class:`SignInRequired`."""
    signer: SessionSigner = request.app.state.sessions
    value = request.cookies.get(COOKIE)
    session = signer.read(value, time.time()) if value else None
    if session is None:
        raise SignInRequired
    tokens: TokenCache = request.app.state.tokens
    info = await run_in_threadpool(tokens.live, session.token_name, session.token_id)
    if info is None:
        raise SignInRequired
    actor = actor_of(info)
    operates = explain_access(actor, "outbox").allowed
    return WebUser(actor, info.name, session, signer.csrf(session), operates)


User = Annotated[WebUser, Depends(web_user)]


def same_origin(request: Request) -> bool:
    """False when the request says it comes from a page of another origin: its ``Origin``
    names neither the ``Host`` it was sent to nor the ``X-Forwarded-Host`` of a proxy that
    rewrote it."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not sent by every browser on same-origin posts; SameSite covers those
    hosts = {request.headers.get("host", "")}
    hosts |= {h.strip() for h in request.headers.get("x-forwarded-host", "").split(",")}
    return any(origin in (f"http://{h}", f"https://{h}") for h in hosts if h)


class PostedForm(dict[str, str]):
    """A posted form's text fields (the first value of each), and every value of each."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        super().__init__(reversed(items))
        self.lists: dict[str, list[str]] = {}
        for key, value in items:
            self.lists.setdefault(key, []).append(value)

    def all(self, key: str) -> list[str]:
        """Every value posted under ``key`` (checkboxes)."""
        return self.lists.get(key, [])


async def checked_form(request: Request, user: User) -> PostedForm:
    """The posted form's text fields, once its CSRF token and origin are checked (403)."""
    form = await request.form()
    given = form.get("csrf")
    signer: SessionSigner = request.app.state.sessions
    if not same_origin(request) or not signer.csrf_ok(
        user.session, given if isinstance(given, str) else None
    ):
        raise Problem(
            403,
            "csrf_failed",
            "This form is out of date or was sent from another site. Reload the page and try "
            "again.",
        )
    return PostedForm([(k, v) for k, v in form.multi_items() if isinstance(v, str)])


Form = Annotated[PostedForm, Depends(checked_form)]


async def on_sign_in_required(request: Request, exc: Exception) -> Response:
    """A page asked for without a session goes to the sign-in form (and back after it)."""
    if request.method in ("GET", "HEAD") and request.url.path not in (
        "/app/changes",
        "/app/events",
    ):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/app/?next={quote(target, safe='')}", status_code=303)
    page = error_page(request, 401, "Your session has ended. Sign in again.")
    assert page is not None
    return page
