"""The session key: shared by the workers of `leadflow serve`, by replicas that are given it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from live_server import Served
from typer.testing import CliRunner
from web_support import PROCESS, WebApp, serve_web

from leadflow.cli import app as cli_app
from leadflow.engine import Engine
from leadflow.service import app_from_env, create_app


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebApp]:
    yield from serve_web(tmp_path)


def test_serve_gives_its_workers_one_session_key_and_restores_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`leadflow serve` sets LEADFLOW_SESSION_KEY for uvicorn's workers when it is unset,
    keeps a key the caller set, and leaves the caller's environment as it was."""
    seen: list[str | None] = []

    def run(app: Any, **options: Any) -> None:
        seen.append(os.environ.get("LEADFLOW_SESSION_KEY"))

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.delenv("LEADFLOW_SESSION_KEY", raising=False)
    db = f"sqlite:///{tmp_path / 'x.db'}"
    runner = CliRunner()
    assert runner.invoke(cli_app, ["serve", "--db", db]).exit_code == 0
    assert seen[0] is not None
    assert len(seen[0]) >= 32
    assert "LEADFLOW_SESSION_KEY" not in os.environ
    monkeypatch.setenv("LEADFLOW_SESSION_KEY", "mine" * 8)
    assert runner.invoke(cli_app, ["serve", "--db", db]).exit_code == 0
    assert seen[1] == "mine" * 8
    assert os.environ["LEADFLOW_SESSION_KEY"] == "mine" * 8


def test_replicas_with_one_key_accept_each_others_sessions(
    web: WebApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session signed by one replica works on another with the same key, not on one with
    another key."""
    monkeypatch.setenv("LEADFLOW_DB", str(web.engine.store.sa.url))
    monkeypatch.setenv("LEADFLOW_SESSION_KEY", "k" * 32)  # the fixture's key
    same = app_from_env()
    other = create_app(web.engine, session_key=b"o" * 32)
    cookie = web.signed_in("rep").cookies
    with Served(same) as a, Served(other) as b:
        for served, status in ((a, 200), (b, 303)):
            with httpx.Client(base_url=served.url, cookies=cookie) as client:
                assert client.get(f"/app/p/{PROCESS}").status_code == status
    same.state.engine.close()


def test_demo_serve_prints_a_url_and_a_token_that_opens_the_board(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`leadflow demo --serve` runs the demo, prints the app's URL and an admin token on its
    last line, and serves the demo's database: the token signs in and the board shows leads."""
    served: dict[str, Any] = {}

    def run(app: Any, **options: Any) -> None:
        served.update(options, db=os.environ.get("LEADFLOW_DB"))

    monkeypatch.setattr(uvicorn, "run", run)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    args = ["demo", "--leads", "6", "--serve", "--port", "8123", "--db", url]
    result = CliRunner().invoke(cli_app, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[-2] == "Open http://127.0.0.1:8123/app/ and sign in with this token:"
    token = lines[-1]
    assert served["db"] == url
    assert served["port"] == 8123
    engine = Engine(url)
    with Served(create_app(engine)) as app, httpx.Client(base_url=app.url) as client:
        assert client.post("/app/sign-in", data={"token": token}).status_code == 303
        board = client.get("/app/p/inbound-lead")
        assert board.status_code == 200
        assert re.search(r"<li class=\"card\" id=\"card-lead-\d+\"", board.text)
    engine.close()
