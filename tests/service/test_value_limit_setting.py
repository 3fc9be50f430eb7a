"""``LEADFLOW_MAX_VALUE_BYTES``: operators bound the size of one lead-data value for the CLI,
the worker and the service (as ``Engine(max_value_bytes=...)`` does from Python). A value over
the limit is refused naming the field, and nothing is stored; a malformed setting stops the
command or the service with one clear sentence, before anything runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from live_server import Served
from typer.testing import CliRunner

from leadflow.cli import app as cli_app
from leadflow.definitions import library_path
from leadflow.engine import Engine, max_value_bytes_from_env
from leadflow.engine.store import TokenStore
from leadflow.service import app_from_env

P = "inbound-lead"
VAR = "LEADFLOW_MAX_VALUE_BYTES"
UNITS = {"": 1, "B": 1, "KB": 1000, "KiB": 1024, "MB": 1000**2, "MiB": 1024**2}


@given(n=st.integers(1, 10**6), unit=st.sampled_from(sorted(UNITS)), lower=st.booleans())
def test_sizes_with_and_without_units(n: int, unit: str, lower: bool) -> None:
    text = f"{n}{unit.lower() if lower else unit}"
    assert max_value_bytes_from_env({VAR: text}) == n * UNITS[unit]


def test_unset_or_empty_is_the_default() -> None:
    assert max_value_bytes_from_env({}) == 65_536
    assert max_value_bytes_from_env({VAR: "  "}) == 65_536


@pytest.mark.parametrize("text", ["abc", "0", "-5", "1.5MiB", "64 GB", "12 KiBs", "0KiB"])
def test_a_malformed_size_names_the_variable_and_what_is_allowed(text: str) -> None:
    with pytest.raises(ValueError, match=VAR) as caught:
        max_value_bytes_from_env({VAR: text})
    assert repr(text) in str(caught.value)
    assert "64KiB" in str(caught.value)


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'limits.db'}"
    with Engine(url) as engine:
        engine.deploy(library_path(P))
    return url


def test_the_cli_applies_the_limit(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a 1 KiB limit, a 2,000-character company name is refused naming the field; the lead is
    not started. Without the setting the same start works (64 KiB)."""
    data = json.dumps({"email": "a@example.com", "company": "x" * 2000})
    runner = CliRunner()
    monkeypatch.setenv(VAR, "1KiB")
    refused = runner.invoke(cli_app, ["start", P, "a", "--data", data, "--db", db])
    assert refused.exit_code == 1, refused.output
    assert "company" in refused.output
    assert "over the limit of 1,024 bytes" in refused.output
    assert VAR in refused.output  # where a CLI user sets it
    assert "Traceback" not in refused.output
    with Engine(db) as engine:
        assert engine.leads(P) == []
    monkeypatch.delenv(VAR)
    started = runner.invoke(cli_app, ["start", P, "a", "--data", data, "--db", db])
    assert started.exit_code == 0, started.output


def test_a_malformed_setting_is_one_cli_error_line(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VAR, "lots")
    result = CliRunner().invoke(cli_app, ["start", P, "a", "--db", db])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error:")
    assert VAR in lines[0]


def test_the_service_applies_the_limit(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app uvicorn's workers build from the environment, called over real HTTP: 422
    naming the field over the limit, and nothing stored."""
    monkeypatch.setenv("LEADFLOW_DB", db)
    monkeypatch.setenv(VAR, "1KiB")
    app = app_from_env()
    engine: Engine = app.state.engine
    token = TokenStore(engine.store).create("t-admin", "admin", at=datetime.now(UTC))[0]
    try:
        with Served(app) as served:
            response = httpx.post(
                f"{served.url}/api/v1/processes/{P}/leads",
                json={"lead_id": "a", "data": {"email": "a@example.com", "company": "x" * 2000}},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
        assert response.status_code == 422, response.text
        assert "company" in response.text
        assert "Traceback" not in response.text
        assert engine.leads(P) == []
    finally:
        engine.close()


def test_a_malformed_setting_stops_the_service(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_DB", db)
    monkeypatch.setenv(VAR, "64 GB")
    with pytest.raises(ValueError, match=VAR):
        app_from_env()
