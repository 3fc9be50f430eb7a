"""CLI commands given ``--actor`` and ``--role`` obey that role's access rules."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from leadflow.cli import app
from leadflow.definitions import library_path
from leadflow.engine import Engine

PROCESS = "inbound-lead"


def _db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'lf.db'}"
    with Engine(url) as engine:
        engine.deploy(library_path(PROCESS))
        engine.start(PROCESS, "ann", {"email": "a@example.com"}, owner="sdr_ana")
    return url


def test_a_role_refusal_is_one_error_line_and_changes_nothing(tmp_path: Path) -> None:
    """A rep recording on another rep's lead gets one error line naming why, exit code 1,
    and the lead keeps its history; on their own lead the same command works."""
    db = _db(tmp_path)
    runner = CliRunner()
    base = ["record", PROCESS, "ann", "call", "--db", db, "--role", "rep"]
    refused = runner.invoke(app, [*base, "--actor", "sdr_ben"])
    assert refused.exit_code == 1
    assert refused.stderr.count("\n") == 1
    assert refused.stderr.startswith("error: ")
    assert "sdr_ana" in refused.stderr
    with Engine(db) as engine:
        assert len(engine.history(PROCESS, "ann")) == 1
    allowed = runner.invoke(app, [*base, "--actor", "sdr_ana"])
    assert allowed.exit_code == 0, allowed.output
    with Engine(db) as engine:
        assert engine.history(PROCESS, "ann")[-1].actor == "sdr_ana"


def test_role_needs_an_actor_and_team_needs_a_role(tmp_path: Path) -> None:
    """--role without --actor, or --team without --role, is a usage error saying what to add."""
    db = _db(tmp_path)
    runner = CliRunner()
    no_actor = runner.invoke(app, ["record", PROCESS, "ann", "call", "--db", db, "--role", "rep"])
    assert no_actor.exit_code == 1
    assert "--role needs --actor" in no_actor.stderr
    no_role = runner.invoke(app, ["record", PROCESS, "ann", "call", "--db", db, "--team", "sdr"])
    assert no_role.exit_code == 1
    assert "--team goes with --role" in no_role.stderr
