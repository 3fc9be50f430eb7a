"""``leadflow outbox``: status, list, retry, purge and run, in text and JSON, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from leadflow.cli._outbox import outbox_app
from leadflow.engine import Engine

DEFINITION = Path(__file__).parents[1] / "definitions" / "outbox" / "subscribed.yaml"
PROCESS = "outbox-lead"

app = typer.Typer()
app.add_typer(outbox_app, name="outbox")
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["outbox", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'lf.db'}"
    with Engine(url) as engine:
        engine.deploy(DEFINITION)
        for i in range(3):
            engine.start(PROCESS, f"L{i}", {"email": f"l{i}@example.com"})
        engine.fire(PROCESS, "L0", "contact")
    return url


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """Two JSON Lines adapters (crm gets every event, audit stage changes)."""
    path = tmp_path / "leadflow.toml"
    path.write_text(
        f'[adapters.crm]\ntype = "jsonl"\npath = "{tmp_path / "crm.jsonl"}"\n\n'
        "[dispatch]\nconcurrency = 2\n"
    )
    return path


def test_status_before_dispatch_counts_events_to_fan_out(db: str) -> None:
    """Before any dispatcher ran, status shows the events waiting to be fanned out."""
    code, out, _ = invoke("status", "--db", db, "--json")
    assert code == 0
    assert json.loads(out) == {"undispatched": 4, "pending": 0, "dead": 0, "adapters": []}
    code, out, _ = invoke("status", "--db", db)
    assert code == 0
    assert "events waiting to be fanned out: 4" in out


def test_run_until_idle_delivers_and_reports(db: str, config: Path, tmp_path: Path) -> None:
    """``run --until-idle`` delivers to the configured adapters and stops; deliveries to an
    unconfigured adapter wait and status says so."""
    code, out, err = invoke("run", "--db", db, "--config", str(config), "--until-idle", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["delivered"], summary["dead"], summary["pending"]) == (4, 0, 1)
    lines = (tmp_path / "crm.jsonl").read_text().splitlines()
    assert len(lines) == 4
    code, out, _ = invoke("status", "--db", db, "--config", str(config), "--json")
    adapters = {a["adapter"]: a for a in json.loads(out)["adapters"]}
    assert adapters["audit"]["pending"] == 1
    assert adapters["audit"]["configured"] is False
    assert adapters["crm"]["delivered"] == 4
    code, out, _ = invoke("status", "--db", db, "--config", str(config))
    assert "audit (not configured)" in out


def test_list_retry_and_purge_dead_letters(db: str, tmp_path: Path) -> None:
    """A delivery that failed for good is listed as dead with its error, retried by id or all
    at once, and purged on request."""
    config = tmp_path / "bad.toml"
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    config.write_text(
        f'[adapters.crm]\ntype = "jsonl"\npath = "{blocker / "x.jsonl"}"\n'
        "[dispatch]\nmax_attempts = 1\n"
    )
    code, out, err = invoke("run", "--db", db, "--config", str(config), "--until-idle", "--json")
    assert code == 0, err
    code, out, _ = invoke("list", "--db", db, "--status", "dead", "--json")
    rows = json.loads(out)
    assert sorted((r["lead_id"], r["seq"]) for r in rows) == [
        ("L0", 1),
        ("L0", 2),  # dead letters do not hold back the lead's later events
        ("L1", 1),
        ("L2", 1),
    ]
    assert {r["attempts"] for r in rows} == {1}
    assert all(r["last_error"].startswith("gave up after 1 attempts: ") for r in rows)
    code, out, _ = invoke("list", "--db", db, "--lead", "L0", "--adapter", "crm")
    assert code == 0
    assert "L0" in out
    assert "L1" not in out

    code, out, _ = invoke("retry", "--db", db, "--id", str(rows[0]["id"]), "--json")
    assert (code, json.loads(out)) == (0, {"retried": 1})
    code, out, _ = invoke("retry", "--db", db, "--all-dead")
    assert (code, out.strip()) == (0, "3 deliveries due again now")
    code, out, _ = invoke("status", "--db", db, "--json")
    assert (json.loads(out)["pending"], json.loads(out)["dead"]) == (4 + 1, 0)
    code, out, _ = invoke("purge", "--db", db, "--dead", "--delivered-before", "2020-01-01")
    assert (code, out.strip()) == (0, "purged 0 deliveries and 0 events")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["retry"], "error: say what to retry: --id ID (repeatable) or --all-dead"),
        (["retry", "--id", "5", "--all-dead"], "error: --id and --all-dead exclude each other"),
        (["retry", "--id", "999"], "error: no delivery with id 999"),
        (["purge"], "error: say what to purge: --delivered-before DATE and/or --dead"),
        (["purge", "--delivered-before", "yesterday"], "is not a date; write 2026-01-31"),
        (["run", "--config", "missing.toml"], "deployment configuration file not found"),
    ],
)
def test_bad_requests_fail_with_one_error_line(db: str, args: list[str], message: str) -> None:
    """Each bad request prints one ``error:`` line, exits 1 and changes nothing."""
    code, out, err = invoke(*args, "--db", db)
    assert code == 1
    assert message in err
    assert "Traceback" not in err + out
    assert err.count("error:") == 1


def test_a_missing_database_file_is_refused(tmp_path: Path) -> None:
    """A mistyped SQLite path is an error, not a new empty database."""
    code, _, err = invoke("status", "--db", f"sqlite:///{tmp_path / 'nope.db'}")
    assert code == 1
    assert "no database at" in err
    assert not (tmp_path / "nope.db").exists()


def test_bad_dispatch_options_name_the_file_and_key(db: str, tmp_path: Path) -> None:
    """A wrong ``[dispatch]`` key is reported with the file and the key."""
    config = tmp_path / "leadflow.toml"
    config.write_text(
        f'[adapters.crm]\ntype = "jsonl"\npath = "{tmp_path / "x.jsonl"}"\n'
        "[dispatch]\nconcurrency = 0\n"
    )
    code, _, err = invoke("run", "--db", db, "--config", str(config), "--until-idle")
    assert code == 1
    assert f"{config}: [dispatch]: dispatch option 'concurrency' must be between 1" in err


def test_run_needs_an_adapter(db: str, tmp_path: Path) -> None:
    """A configuration without adapters cannot run a dispatcher."""
    config = tmp_path / "empty.toml"
    config.write_text("[dispatch]\nconcurrency = 2\n")
    code, _, err = invoke("run", "--db", db, "--config", str(config), "--until-idle")
    assert code == 1
    assert "no adapters configured" in err


def test_a_malformed_webhook_url_is_a_configuration_error(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``url = "http://[::1"`` is an error naming the file, table and key (exit 1), not an
    internal error (exit 3)."""
    monkeypatch.setenv("WH_SECRET", "whsec_" + "a2V5" * 11 + "a2V5")
    config = tmp_path / "leadflow.toml"
    config.write_text(
        '[adapters.crm]\ntype = "webhook"\nurl = "http://[::1"\nsecret = "env:WH_SECRET"\n'
    )
    code, _, err = invoke("run", "--db", db, "--config", str(config), "--until-idle")
    assert code == 1, err
    assert err.strip() == (
        f"error: {config}: [adapters.crm]: key 'url' is not a usable URL (Invalid IPv6 URL); "
        "allowed: an http:// or https:// URL with a host, e.g. https://example.com/hooks/leadflow"
    )


def test_status_without_an_adapter_says_nothing_will_deliver(db: str) -> None:
    """Events waiting and no adapter configured: a warning on stderr says how to add one."""
    code, out, err = invoke("status", "--db", db)
    assert code == 0
    assert "events waiting to be fanned out: 4" in out
    assert err.startswith("warning: no adapter is configured, so nothing will deliver these 4 ")
    assert "[adapters.<name>]" in err


def test_status_with_an_adapter_warns_of_nothing(db: str, config: Path) -> None:
    """With an adapter configured, status prints no warning."""
    code, _, err = invoke("status", "--db", db, "--config", str(config))
    assert code == 0
    assert err == ""
