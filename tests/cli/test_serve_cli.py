"""``leadflow serve`` and ``serve-inbound`` say what is missing before serving (uvicorn is
replaced here, so nothing listens)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from leadflow.cli import app


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Calls to ``uvicorn.run``, which returns at once."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append(k))
    monkeypatch.delenv("LEADFLOW_CONFIG", raising=False)
    return calls


@pytest.mark.parametrize(("command", "level"), [("serve-inbound", "warning"), ("serve", "note")])
def test_no_inbound_configuration_is_said(
    command: str, level: str, served: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Without an [inbound.<name>] table, the command says webhooks answer 404 and how to add
    one: a warning for serve-inbound, whose purpose they are, a note for serve."""
    result = CliRunner().invoke(app, [command, "--db", f"sqlite:///{tmp_path}/l.db"])
    assert result.exit_code == 0, result.output
    assert len(served) == 1
    assert result.stderr.startswith(f"{level}: no inbound sources are configured, so POST ")
    assert "[inbound.<name>]" in result.stderr


def test_an_inbound_source_silences_the_note(served: list[dict[str, Any]], tmp_path: Path) -> None:
    """A configuration with an inbound source serves without the note."""
    config = tmp_path / "leadflow.toml"
    config.write_text('[inbound.crm]\nkind = "standard"\nsecret = "env:S"\n')
    result = CliRunner().invoke(
        app, ["serve", "--db", f"sqlite:///{tmp_path}/l.db", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
