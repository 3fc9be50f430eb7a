"""``leadflow simulate --db PATH --adjustments FILE`` through the real typer app.

A replay of two hand-made CSV files (qualified leads and closed deals, joined on mql_id) is
kept in a SQLite file that ``leadflow report`` and the forecast then read; the rows it
adjusted are printed and written to a file; a failed run leaves no database behind.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from leadflow.cli import app
from leadflow.cli._common import CliError
from leadflow.cli._simulate_db import kept_database

ROOT = Path(__file__).parents[2]
FUNNEL = ROOT / "examples" / "simulate" / "olist-funnel.yaml"

LEADS = """mql_id,first_contact_date,origin
a,2018-02-01,social
b,2018-02-03,email
c,2018-02-05,organic_search
d,2018-02-07,
"""
DEALS = """mql_id,sr_id,won_date,declared_monthly_revenue
a,rep1,2018-02-10 14:30:00,1000
b,rep2,2018-02-01 09:00:00,0
z,rep1,2018-03-01 10:00:00,
"""
SPEC = """replay:
  path: leads.csv
  join: [{path: deals.csv, on: mql_id}]
  lead_id: mql_id
  created: [first_contact_date]
  stage_times: {won: won_date}
  owner: sr_id
  fields: {origin: origin}
  stage_fields: {won: {declared_monthly_revenue: declared_monthly_revenue}}
"""


def files(folder: Path, deals: str = DEALS) -> Path:
    """The two CSV files and the spec in ``folder``; the spec's path."""
    (folder / "leads.csv").write_text(LEADS, encoding="utf-8")
    (folder / "deals.csv").write_text(deals, encoding="utf-8")
    spec = folder / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    return spec


def run(*args: str) -> Result:
    """``leadflow ARGS`` with a wide terminal."""
    return CliRunner().invoke(app, list(args), terminal_width=200)


def simulate(spec: Path, *more: str) -> Result:
    """``leadflow simulate`` of the Olist-shaped process on ``spec``, without progress."""
    return run("simulate", str(FUNNEL), "--spec", str(spec), "--no-progress", *more)


def test_replay_kept_in_a_database_feeds_the_reports_and_the_forecast(tmp_path: Path) -> None:
    """After --db, report funnel/pipeline/forecast read the replayed leads; the adjusted rows
    are printed by kind with their file:row and written in full by --adjustments."""
    spec = files(tmp_path)
    db = tmp_path / "olist.db"
    out = simulate(spec, "--db", str(db), "--adjustments", str(tmp_path / "adj.csv"))
    assert out.exit_code == 0, out.output
    assert "2 adjusted rows, by kind" in out.stdout
    assert "before-created" in out.stdout
    assert "deals.csv:3" in out.stdout
    assert "unmatched-join-row" in out.stdout
    assert "deals.csv:4" in out.stdout
    assert f"kept the run in {db}" in out.stderr
    with (tmp_path / "adj.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["kind"], r["row"], r["lead_id"], r["column"], r["value"]) for r in rows] == [
        ("before-created", "deals.csv:3", "b", "won_date", "2018-02-01 09:00:00"),
        ("unmatched-join-row", "deals.csv:4", "z", "mql_id", "z"),
    ]
    url = f"sqlite:///{db}"
    common = ["-p", "olist-funnel", "--db", url, "-f", "json"]
    funnel = json.loads(run("report", "funnel", *common, "--cohort", "all").stdout)
    assert [(r["stage"], r["reached"]) for r in funnel["rows"]] == [("mql", 4), ("won", 2)]
    pipeline = json.loads(run("report", "pipeline", *common).stdout)
    assert [(r["stage"], r["leads"]) for r in pipeline["rows"]] == [("mql", 2)]
    forecast = run("report", "forecast", *common)
    assert forecast.exit_code == 0, forecast.output
    markov = json.loads(forecast.stdout)["forecast-markov"]
    assert markov["open_leads"] == 2
    assert markov["rows"]
    assert markov["as_of"] == "2018-02-10T14:30:00+00:00"
    as_json = tmp_path / "adj.json"
    again = simulate(spec, "--adjustments", str(as_json), "--format", "json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["adjusted"] == {"before-created": 1, "unmatched-join-row": 1}
    assert [a["kind"] for a in json.loads(as_json.read_text(encoding="utf-8"))] == [
        "before-created",
        "unmatched-join-row",
    ]


def test_bad_rows_fail_located_and_leave_no_database(tmp_path: Path) -> None:
    """An unreadable won date stops the replay with its file:line; no database, partial or
    otherwise, is left in the folder."""
    spec = files(tmp_path, DEALS.replace("2018-02-10 14:30:00", "10th of Feb"))
    out = simulate(spec, "--db", str(tmp_path / "olist.db"))
    assert out.exit_code == 1
    assert "nothing was written" in out.stderr
    assert f"{tmp_path / 'deals.csv'}:2:1: column won_date: '10th of Feb'" in out.stderr
    assert "Traceback" not in out.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deals.csv", "leads.csv", "spec.yaml"]


def test_db_refuses_an_existing_file_compare_and_other_databases(tmp_path: Path) -> None:
    """--db writes only a new SQLite file: an existing one is left as it was, and --compare
    (two runs) or a PostgreSQL URL are refused before any work."""
    spec = files(tmp_path)
    existing = tmp_path / "kept.db"
    existing.write_bytes(b"mine")
    out = simulate(spec, "--db", str(existing))
    assert out.exit_code == 1
    assert "already exists" in out.stderr
    assert existing.read_bytes() == b"mine"
    both = simulate(spec, "--db", str(tmp_path / "new.db"), "--compare", str(FUNNEL))
    assert both.exit_code == 1
    assert "--db keeps one run" in both.stderr
    pg = simulate(spec, "--db", "postgresql+psycopg://u@h/db")
    assert pg.exit_code == 1
    assert "new SQLite file" in pg.stderr
    lost = simulate(spec, "--db", str(tmp_path / "no" / "such" / "x.db"))
    assert lost.exit_code == 1
    assert "does not exist" in lost.stderr
    assert not (tmp_path / "new.db").exists()


def test_an_interrupted_run_removes_its_partial_file(tmp_path: Path) -> None:
    """The run writes into a hidden partial file beside the target: kept under the target's
    name when the block ends, removed when it raises."""
    target = tmp_path / "run.db"

    def interrupted() -> None:
        with kept_database(target) as url:
            Path(url.removeprefix("sqlite:///")).write_text("half", encoding="utf-8")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert list(tmp_path.iterdir()) == []
    with kept_database(target) as url:
        Path(url.removeprefix("sqlite:///")).write_text("whole", encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["run.db"]
    assert target.read_text(encoding="utf-8") == "whole"

    def overtaken() -> None:
        with kept_database(tmp_path / "late.db"):
            (tmp_path / "late.db").write_text("someone else's", encoding="utf-8")

    with pytest.raises(CliError, match="appeared while the run went on"):
        overtaken()
    assert (tmp_path / "late.db").read_text(encoding="utf-8") == "someone else's"
    assert len(list(tmp_path.iterdir())) == 2


def test_help_names_db_and_adjustments() -> None:
    """simulate --help documents both new options."""
    out = run("simulate", "--help")
    assert "--db" in out.stdout
    assert "--adjustments" in out.stdout
    assert "SQLite" in out.stdout
