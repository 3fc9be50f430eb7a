"""Pages from Jinja2 templates (autoescaped), with the headers every page of the app sends.

Every page forbids content from other hosts (``Content-Security-Policy: default-src 'self'``),
sends a referrer only to itself (a wall board's URL carries its token; "no-referrer" would
make browsers send "Origin: null" on form posts, which the sign-in check refuses) and may not
be framed.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

__all__ = ["HEADERS", "error_page", "render"]

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
"""Sent with every page."""

_TITLES = {
    400: "That request was not understood",
    401: "Please sign in",
    403: "You may not see this page",
    404: "Nothing here",
    409: "That did not work",
    413: "Too much data",
    422: "Something in the request is not right",
    500: "Something went wrong on our side",
    503: "The database is not answering",
}


def _age(start: datetime, now: datetime) -> str:
    """A duration as a person reads it: ``45m``, ``3h``, ``2d 4h``."""
    seconds = max(0.0, (now - start).total_seconds())
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    days, rest = divmod(int(seconds), 86400)
    return f"{days}d {rest // 3600}h" if rest >= 3600 else f"{days}d"


def _duration(seconds: float) -> str:
    """Seconds as ``45s``, ``3m 20s``, ``2h 5m``, ``3d 4h``."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s" if s % 60 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m" if s % 3600 >= 60 else f"{s // 3600}h"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _amount(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return ""
    return f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:,.2f}"


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["amount"] = _amount
    env.filters["when"] = _when
    env.filters["segment"] = lambda value: quote(str(value), safe="")
    env.globals["age"] = _age
    env.globals["duration"] = _duration
    return env


_ENV = _environment()


def render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    """The page ``template`` rendered with ``context`` (and ``request``)."""
    html = _ENV.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def error_page(request: Request, status: int, detail: str) -> Response | None:
    """A friendly page for an error of a request under ``/app`` (None for any other)."""
    if not request.url.path.startswith("/app"):
        return None
    title = _TITLES.get(status, "That did not work")
    if status == 403 and request.method not in ("GET", "HEAD"):
        title = "You may not do that"
    context = {"title": title, "detail": detail, "status": status, "user": None}
    return render(request, "error.html", context, status)
