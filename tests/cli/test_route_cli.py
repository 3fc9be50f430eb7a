"""``leadflow route DEFINITION LEADS --dry-run``: a table (or JSON) of where each lead would go
and why, against a database's team state or none; nothing is written; bad input is one error."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from leadflow.cli import app
from leadflow.engine import Engine
from leadflow.engine.routing import set_away
from leadflow.engine.testing import ManualClock

DESKS = Path(__file__).parents[1] / "definitions" / "routing" / "desks.yaml"
MON = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
AT = ["--at", "2026-01-05T15:00"]


def run(*args: str, width: int = 80) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": str(width)})
    return result.exit_code, result.stdout, result.stderr


def leads_csv(tmp_path: Path) -> Path:
    path = tmp_path / "leads.csv"
    path.write_text("lead_id,email,score,segment\nn1,n1@x.test,95,\nn2,n2@x.test,,enterprise\n")
    return path


def test_the_table_fits_80_columns_and_says_why(tmp_path: Path) -> None:
    """Without --db: no team state; each lead's rule, team, owner and reason, in 80 columns."""
    code, out, err = run("route", str(DESKS), str(leads_csv(tmp_path)), "--dry-run", *AT)
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "no team state" in out
    assert "│ n1   │    1 │ hot" in out
    assert "hank" in out
    assert "round robin in enterprise" in out
    assert "by owner: erin 1, hank 1. Nothing was written." in out


def test_against_a_database_members_skipped_are_named(tmp_path: Path) -> None:
    """With --db the away period shows as a skipped member; the database keeps its rows."""
    url = f"sqlite:///{tmp_path / 'live.db'}"
    with Engine(url, clock=ManualClock(MON)) as engine:
        engine.deploy(DESKS)
        set_away(engine.store, "erin", MON - timedelta(days=1), MON + timedelta(days=1))
    leads = str(leads_csv(tmp_path))
    code, out, err = run("route", str(DESKS), leads, "--dry-run", "--db", url, *AT, "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["lead_id"], r["owner"]) for r in rows] == [("n1", "hank"), ("n2", "frank")]
    assert rows[1]["skipped"] == [{"member": "erin", "why": "out of office"}]
    assert rows[1]["rule"] == 2
    with Engine(url) as engine, engine.store.transaction("count") as tx:
        tx.cur.execute(
            "SELECT (SELECT count(*) FROM lf_routes) + (SELECT count(*) FROM lf_team_state)"
        )
        assert tx.cur.fetchone()[0] == 0


def test_without_dry_run_or_with_bad_input_it_fails_clearly(tmp_path: Path) -> None:
    """No --dry-run is a usage error; a bad cell names file, line, field and what is allowed."""
    leads = leads_csv(tmp_path)
    code, _, err = run("route", str(DESKS), str(leads), *AT)
    assert code == 2
    assert "add --dry-run" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("lead_id,email,score\nb1,b1@x.test,lots\n")
    code, _, err = run("route", str(DESKS), str(bad), "--dry-run", *AT)
    assert code == 1
    assert f"{bad}:2: 'lots' is not an integer (field score)" in " ".join(err.split())
    code, _, err = run(
        "route", str(DESKS), str(leads), "--dry-run", "--db", f"sqlite:///{tmp_path}/none.db"
    )
    assert code == 1
    assert "no database at" in err


def test_compare_shows_each_lead_s_owner_under_the_current_definition(tmp_path: Path) -> None:
    """--compare routes by the other definition too: a column before, a count of leads whose
    owner changes, and a ``before`` object per lead in JSON."""
    changed = tmp_path / "desks-v2.yaml"
    changed.write_text(
        DESKS.read_text()
        .replace("version: 1", "version: 2")
        .replace("team: enterprise}", "team: smb}")
    )
    leads = str(leads_csv(tmp_path))
    code, out, err = run("route", str(changed), leads, "--dry-run", "--compare", str(DESKS), *AT)
    assert code == 0, err
    assert "before" in out
    assert "1 of 2 change owner against v1 (before)" in " ".join(out.split())
    code, out, err = run(
        "route", str(changed), leads, "--dry-run", "--compare", str(DESKS), *AT, "--json"
    )
    rows = json.loads(out)
    assert [(r["owner"], r["before"]["owner"]) for r in rows] == [
        ("hank", "hank"),
        ("alice", "erin"),
    ]
