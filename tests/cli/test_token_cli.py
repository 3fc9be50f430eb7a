"""``leadflow token create|list|revoke`` on a real SQLite database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadflow.cli import app
from leadflow.engine import Engine
from leadflow.engine.store import TokenStore

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    """Run ``leadflow token ...``: (exit code, stdout, stderr)."""
    result = runner.invoke(app, ["token", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(tmp_path: Path) -> str:
    """The URL of a new SQLite database file."""
    return f"sqlite:///{tmp_path / 'lf.db'}"


def verify(db: str, token: str) -> str | None:
    """The name of the live token ``token`` in ``db``, or None."""
    with Engine(db) as engine:
        info = TokenStore(engine.store).verify(token, datetime.now(UTC))
    return None if info is None else info.name


def test_create_prints_the_token_alone_on_the_last_line(db: str) -> None:
    """The last line of create's output is exactly a token that verifies."""
    code, out, err = invoke("create", "--db", db, "--name", "ci-bot", "--role", "ops")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    assert "ci-bot" in lines[0]
    token = lines[-1]
    assert token.startswith("lf_")
    assert token == token.strip()
    assert verify(db, token) == "ci-bot"


def test_create_json_carries_the_token_and_the_info(db: str) -> None:
    """--json prints the token with name, role, team and owner."""
    code, out, _ = invoke(
        "create", "--db", db, "--name", "ann", "--role", "rep", "--team", "inbound",
        "--owner", "ann", "--json",
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out)
    assert (doc["name"], doc["role"], doc["team"], doc["owner"]) == ("ann", "rep", "inbound", "ann")
    assert "hash" not in doc
    assert verify(db, doc["token"]) == "ann"


def test_list_shows_tokens_but_never_hashes_or_secrets(db: str) -> None:
    """The table and the JSON of list name each token and hold neither hash nor secret."""
    _, out, _ = invoke("create", "--db", db, "--name", "ci-bot", "--role", "ops")
    token = out.splitlines()[-1]
    with Engine(db) as engine, engine.store.sa.connect() as conn:
        stored_hash = conn.exec_driver_sql("SELECT hash FROM lf_tokens").scalar_one()
    code, table, _ = invoke("list", "--db", db)
    assert code == 0
    assert "ci-bot" in table
    assert "ops" in table
    code, raw, _ = invoke("list", "--db", db, "--json")
    assert code == 0
    assert [t["name"] for t in json.loads(raw)] == ["ci-bot"]
    for text in (table, raw):
        assert stored_hash not in text
        assert token[12:] not in text
        assert token[3:11] not in text


def test_revoke_stops_the_token(db: str) -> None:
    """After revoke the token no longer verifies and list shows it revoked."""
    _, out, _ = invoke("create", "--db", db, "--name", "ci-bot", "--role", "ops")
    token = out.splitlines()[-1]
    code, out, _ = invoke("revoke", "ci-bot", "--db", db)
    assert code == 0
    assert "revoked token ci-bot" in out
    assert verify(db, token) is None
    (listed,) = json.loads(invoke("list", "--db", db, "--json")[1])
    assert listed["revoked_at"] is not None


def test_revoke_of_an_unknown_name_is_one_error_line(db: str) -> None:
    """Revoking a name no token has exits 1 with one error line and no traceback."""
    invoke("create", "--db", db, "--name", "ci-bot", "--role", "ops")
    code, out, err = invoke("revoke", "nobody", "--db", db)
    assert code == 1
    assert out == ""
    assert err.splitlines() == [err.strip()]
    assert err.startswith("error: ")
    assert "nobody" in err


def test_an_unknown_role_or_a_taken_name_is_one_error_line(db: str) -> None:
    """A bad role lists the roles; a taken name says so; neither adds a token."""
    invoke("create", "--db", db, "--name", "ci-bot", "--role", "ops")
    code, out, err = invoke("create", "--db", db, "--name", "x", "--role", "root")
    assert code == 1
    assert out == ""
    assert len(err.splitlines()) == 1
    assert "admin, ops, manager, rep, viewer, board" in err
    code, out, err = invoke("create", "--db", db, "--name", "ci-bot", "--role", "admin")
    assert code == 1
    assert len(err.splitlines()) == 1
    assert "taken" in err
    names = [t["name"] for t in json.loads(invoke("list", "--db", db, "--json")[1])]
    assert names == ["ci-bot"]


def test_list_on_a_missing_sqlite_file_is_an_error(tmp_path: Path) -> None:
    """list does not create a database at a mistyped path."""
    missing = tmp_path / "nope.db"
    code, _, err = invoke("list", "--db", f"sqlite:///{missing}")
    assert code == 1
    assert err.startswith("error: no database at")
    assert not missing.exists()
