"""The session key: shared by the workers of `leadflow serve`, by replicas that are given it."""

from __future__ import annotations

import os
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
