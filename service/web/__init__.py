"""The web app under ``/app``: sign-in, the pipeline board, the lead page, the process map and
reports, the SLA wall board, the ops page.

Server-rendered Jinja2 pages over the same engine calls, tokens, roles and access rules as the
HTTP API; a little plain JavaScript (``static/app.js``) reloads a page when a lead changes.
Every asset ships in this package; no page loads anything from another host.
:func:`install_web` adds it to the service's app. See docs/web-app.md.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from leadflow.definitions import library_path
from leadflow.engine import Engine, StorageError
from leadflow.service.web import (
    _actions,
    _batch,
    _board,
    _bulk,
    _events,
    _lead,
    _live,
    _map,
    _ops,
    _saved,
    _signin,
    _wall,
)
from leadflow.service.web._auth import SignInRequired, on_sign_in_required
from leadflow.service.web._batch_runner import BatchRunner
from leadflow.service.web._playbook import PlaybookTemplates
from leadflow.service.web._render import error_page
from leadflow.service.web._session import SessionSigner

__all__ = ["error_page", "install_web", "start_web", "stop_web", "template_directories"]


def install_web(app: FastAPI, engine: Engine, session_key: bytes | None = None) -> None:
    """Serve the web app from ``app``. Sessions are signed with ``session_key`` (a random key
    when None: sessions then last as long as this process, and other replicas refuse them)."""
    app.state.sessions = SessionSigner(session_key or secrets.token_bytes(32))
    app.state.changes = _live.ChangeCounter(engine)
    app.state.feed = _events.ChangeFeed(app.state.changes)
    app.state.walls = _wall.WallCache()
    app.state.maps = _map.map_cache()
    app.state.batches = BatchRunner(engine, getattr(app.state, "tokens", None))
    app.state.playbook = PlaybookTemplates(template_directories())
    app.add_exception_handler(SignInRequired, on_sign_in_required)
    modules = (_signin, _board, _lead, _actions, _bulk, _batch, _saved, _map, _wall, _live)
    for module in (*modules, _events, _ops):
        app.include_router(module.router)
    static = StaticFiles(directory=Path(__file__).parent / "static")
    app.mount("/app/static", static, name="app-static")
    app.add_api_route("/favicon.ico", _favicon, include_in_schema=False)


def _favicon() -> RedirectResponse:
    """Browsers ask for ``/favicon.ico`` on pages that name no icon (the API's, say)."""
    return RedirectResponse("/app/static/favicon.svg", status_code=301)


def template_directories() -> list[Path]:
    """Where playbook templates are looked up: the directories of ``LEADFLOW_TEMPLATES``
    (separated like ``PATH``), then the shipped library's (``templates/first-call.md``)."""
    given = os.environ.get("LEADFLOW_TEMPLATES", "")
    return [Path(p) for p in given.split(os.pathsep) if p] + [library_path("inbound-lead").parent]


def start_web(app: FastAPI) -> None:
    """When the server starts: resume the batch runs a stopped server left unfinished (a
    database that does not answer now only delays that to the next start)."""
    try:
        app.state.batches.resume()
    except StorageError:
        logging.getLogger(__name__).exception("unfinished batch runs not resumed")


def stop_web(app: FastAPI) -> None:
    """When the server stops: stop the batch runner after the lead in hand."""
    app.state.batches.stop()
