"""``leadflow report sla`` and ``leadflow away`` on a real SQLite database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadflow.cli import app
from leadflow.engine import Engine
from leadflow.engine.testing import ManualClock

CLOCKS = Path(__file__).parents[1] / "definitions" / "sla" / "clocks.yaml"
P = "sla-clocks"
runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A database with three leads: one met, one breached and reassigned, one pending."""
    url = f"sqlite:///{tmp_path / 'lf.db'}"
    clock = ManualClock(datetime(2026, 1, 5, 15, 0, tzinfo=UTC))  # 10:00 in New York
    with Engine(url, clock=clock) as engine:
        engine.deploy(CLOCKS)
        engine.start(P, "A", owner="ann")
        engine.start(P, "B", owner="ann")
        clock.advance(timedelta(minutes=10))
        engine.record(P, "A", "call")
        clock.advance(timedelta(hours=3))
        engine.start(P, "C", owner="bob")
    return url


def test_report_sla_prints_the_board_as_json_csv_and_a_table(db: str) -> None:
    """The board comes out in each format with the same numbers."""
    result = runner.invoke(app, ["report", "sla", "--db", db, "--process", P, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {(r["owner"], r["policy"]): r for r in json.loads(result.output)["rows"]}
    assert (rows[("ann", "respond")]["met"], rows[("ann", "respond")]["breached"]) == (1, 1)
    assert rows[("ann", "respond")]["reassigned"] == 1
    assert rows[("bob", "respond")]["pending"] == 1
    csv_out = runner.invoke(app, ["report", "sla", "--db", db, "-p", P, "--format", "csv"])
    assert csv_out.output.splitlines()[0].startswith("owner,policy,handled,met,breached")
    table = runner.invoke(app, ["report", "sla", "--db", db, "-p", P, "--by", "team"])
    assert table.exit_code == 0
    assert "reps" in table.output


def test_report_sla_refuses_a_bad_date_without_a_traceback(db: str) -> None:
    """A malformed --since is a one-line error naming the option and the format."""
    result = runner.invoke(app, ["report", "sla", "--db", db, "-p", P, "--since", "yesterday"])
    assert result.exit_code == 1
    assert "--since" in result.output
    assert "Traceback" not in result.output


def test_away_set_list_and_clear(db: str) -> None:
    """Out-of-office periods are recorded, listed and ended from the command line."""
    set_ = runner.invoke(
        app,
        [
            "away",
            "set",
            "ann",
            "--db",
            db,
            "--from",
            "2026-02-01",
            "--until",
            "2026-02-08",
            "--note",
            "vacation",
        ],
    )
    assert set_.exit_code == 0, set_.output
    listed = json.loads(runner.invoke(app, ["away", "list", "--db", db, "--json"]).output)
    assert [(p["member"], p["note"]) for p in listed] == [("ann", "vacation")]
    cleared = runner.invoke(app, ["away", "clear", "ann", "--db", db, "--at", "2026-02-03"])
    assert cleared.exit_code == 0
    listed = json.loads(runner.invoke(app, ["away", "list", "ann", "--db", db, "--json"]).output)
    assert listed[0]["ends_at"].startswith("2026-02-03")
    bad = runner.invoke(
        app, ["away", "set", "ann", "--db", db, "--from", "2026-02-08", "--until", "2026-02-01"]
    )
    assert bad.exit_code == 1
    assert "not after" in bad.output


def test_report_sla_shows_the_target_rule_of_a_matrix(tmp_path: Path) -> None:
    """A board with a target matrix SLA gets a target column in the table; the CSV carries the
    target of each row near its end."""
    url = f"sqlite:///{tmp_path / 'm.db'}"
    matrix = Path(__file__).parents[1] / "definitions" / "sla" / "matrix.yaml"
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    with Engine(url, clock=clock) as engine:
        engine.deploy(matrix)
        engine.start("sla-matrix", "E", {"segment": "enterprise"}, owner="ann")
        clock.advance(timedelta(minutes=20))
    table = runner.invoke(app, ["report", "sla", "--db", url, "-p", "sla-matrix"])
    assert table.exit_code == 0, table.output
    assert "target" in table.output
    assert "enterprise" in table.output
    csv_out = runner.invoke(app, ["report", "sla", "--db", url, "-p", "sla-matrix", "-f", "csv"])
    rows = [line.split(",") for line in csv_out.output.splitlines()]
    assert rows[0][-2:] == ["target", "cycles"]
    assert ["ann", "respond", "enterprise", "0"] in [[*r[:2], *r[-2:]] for r in rows]


def test_report_sla_shows_cycles_of_re_armed_clocks(tmp_path: Path) -> None:
    """A re-armed clock's cycles show in a cycles column, and as the CSV's last column."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    rearm = Path(__file__).parents[1] / "definitions" / "sla" / "rearm.yaml"
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    with Engine(url, clock=clock) as engine:
        engine.deploy(rearm)
        engine.start("sla-rearm", "L", owner="ann")
        for _ in range(3):
            clock.advance(timedelta(minutes=5))
            engine.record("sla-rearm", "L", "email_received")
    table = runner.invoke(app, ["report", "sla", "--db", url, "-p", "sla-rearm"])
    assert table.exit_code == 0, table.output
    assert "cycles" in table.output
    csv_out = runner.invoke(app, ["report", "sla", "--db", url, "-p", "sla-rearm", "-f", "csv"])
    rows = [line.split(",") for line in csv_out.output.splitlines()]
    assert rows[0][-1] == "cycles"
    reply = next(r for r in rows if r[:2] == ["ann", "reply"])
    assert (reply[rows[0].index("stopped")], reply[-1]) == ("2", "2")


def test_report_handoffs_gives_each_pair_in_every_format(tmp_path: Path) -> None:
    """leadflow report handoffs prints one row per hand-off pair, as a table, CSV and JSON."""
    url = f"sqlite:///{tmp_path / 'h.db'}"
    handoff = Path(__file__).parents[1] / "definitions" / "sla" / "handoff.yaml"
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    with Engine(url, clock=clock) as engine:
        engine.deploy(handoff)
        engine.start("sla-handoff", "L", owner="mkt-queue")
        engine.assign("sla-handoff", "L", "sam")
        clock.advance(timedelta(minutes=20))
        engine.record("sla-handoff", "L", "call")
    base = ["report", "handoffs", "--db", url, "-p", "sla-handoff"]
    table = runner.invoke(app, base)
    assert table.exit_code == 0, table.output
    assert "marketing" in table.output
    assert "20m" in table.output
    rows = json.loads(runner.invoke(app, [*base, "-f", "json"]).output)["rows"]
    assert [(r["from_team"], r["to_team"], r["count"], r["met_rate"]) for r in rows] == [
        ("marketing", "sdr", 1, 1.0)
    ]
    csv_out = runner.invoke(app, [*base, "-f", "csv"]).output.splitlines()
    assert csv_out[0].startswith("policy,from_team,to_team,count,met")
    assert csv_out[1].startswith("mkt_to_sdr,marketing,sdr,1,1,0,0,0,1.0,1200.0")
    bad = runner.invoke(app, [*base, "--since", "soon"])
    assert bad.exit_code == 1
    assert "--since" in bad.output


def test_report_sla_shows_calendar_time_beside_business_time(db: str) -> None:
    """The table and the CSV give response times in business and in calendar time side by
    side; at 80 columns the calendar median stays beside the business median."""
    wide = runner.invoke(app, ["report", "sla", "--db", db, "-p", P], env={"COLUMNS": "200"})
    assert wide.exit_code == 0, wide.output
    top = next(line for line in wide.output.splitlines() if "calendar" in line).split()
    # headers wrap in two lines: "median / response", "calendar / median", "p90 / response"...
    start = top.index("median")
    assert top[start : start + 4] == ["median", "calendar", "p90", "calendar"], wide.output
    narrow = runner.invoke(app, ["report", "sla", "--db", db, "-p", P], env={"COLUMNS": "80"})
    assert "calendar" in narrow.output
    assert all(len(line) <= 80 for line in narrow.output.splitlines())
    csv_out = runner.invoke(app, ["report", "sla", "--db", db, "-p", P, "--format", "csv"])
    head, *rows = [line.split(",") for line in csv_out.output.splitlines()]
    ann = dict(zip(head, next(r for r in rows if r[:2] == ["ann", "respond"]), strict=True))
    assert float(ann["median_response_calendar"]) == 600.0  # the call came 10 minutes in
