"""Every command that takes a definition takes a shipped process by name, from any directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadflow.cli import app

GENERATOR = Path(__file__).parents[2] / "examples" / "simulate" / "inbound-generator.yaml"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner working in an empty directory, so no file can stand in for the shipped one."""
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_validate_takes_a_shipped_name(runner: CliRunner) -> None:
    """``validate inbound-lead`` loads the shipped process."""
    result = runner.invoke(app, ["validate", "inbound-lead", "b2b-opportunity"])
    assert result.exit_code == 0, result.output
    assert "inbound-lead: ok (process inbound-lead v" in result.stdout
    assert "b2b-opportunity: ok (process b2b-opportunity v" in result.stdout


def test_deploy_takes_a_shipped_name(runner: CliRunner, tmp_path: Path) -> None:
    """``deploy inbound-lead`` deploys the shipped process."""
    result = runner.invoke(app, ["deploy", "inbound-lead", "--db", f"sqlite:///{tmp_path}/l.db"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("inbound-lead v")


def test_lint_takes_a_shipped_name(runner: CliRunner) -> None:
    """``lint inbound-lead --format json`` lints the shipped process."""
    result = runner.invoke(app, ["lint", "inbound-lead", "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    (entry,) = json.loads(result.stdout)["files"]
    assert entry["loads"]
    assert entry["process"] == "inbound-lead"


def test_graph_takes_a_shipped_name_without_db(runner: CliRunner) -> None:
    """``graph inbound-lead`` draws the shipped process; it no longer asks for ``--db``."""
    result = runner.invoke(app, ["graph", "inbound-lead"])
    assert result.exit_code == 0, result.output
    assert "stateDiagram-v2" in result.stdout
    assert "qualified" in result.stdout


def test_diff_takes_shipped_names(runner: CliRunner) -> None:
    """``diff inbound-lead inbound-lead`` compares the shipped process with itself."""
    result = runner.invoke(app, ["diff", "inbound-lead", "inbound-lead"])
    assert result.exit_code == 0, result.output


def test_simulate_takes_a_shipped_name(runner: CliRunner) -> None:
    """``simulate inbound-lead --spec ...`` simulates the shipped process."""
    result = runner.invoke(
        app,
        ["simulate", "inbound-lead", "--spec", str(GENERATOR), "--leads", "5", "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)


def test_a_file_name_of_a_shipped_process_says_how_to_name_it(runner: CliRunner) -> None:
    """``validate inbound-lead.yaml`` with no such file says to write ``inbound-lead``."""
    result = runner.invoke(app, ["validate", "inbound-lead.yaml"])
    assert result.exit_code == 1
    assert "is named without a folder or suffix: inbound-lead" in result.stdout


def test_simulate_checks_the_compared_definition_before_any_work(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken ``--compare`` file fails at once: nothing is simulated first."""
    import leadflow.cli._simulate as simulate_module

    calls: list[object] = []
    monkeypatch.setattr(simulate_module, "simulate", lambda *a, **k: calls.append(a))
    result = runner.invoke(
        app,
        ["simulate", "inbound-lead", "--spec", str(GENERATOR), "--compare", "missing.yaml"],
    )
    assert result.exit_code == 1
    assert "missing.yaml:1:1: cannot read the file" in result.stderr
    assert calls == []
