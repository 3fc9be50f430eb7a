"""The routing fairness report: leads per team member against the fair share over a period, the
deviation, and the catch-up turns owed, on simulated time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadflow.cli import app
from leadflow.engine import Engine, reports
from leadflow.engine.routing import set_away
from leadflow.engine.testing import ManualClock

CATCH_UP = Path(__file__).parents[2] / "definitions" / "routing" / "catch-up.yaml"
P = "catchup"
MON = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MON)


@pytest.fixture
def engine(db_url: str, clock: ManualClock) -> Iterator[Engine]:
    """Six fair-team leads while ben is away, three plain-team leads while eve is away."""
    with Engine(db_url, clock=clock, create=True) as e:
        e.deploy(CATCH_UP)
        set_away(e.store, "ben", MON, MON + timedelta(hours=6, minutes=30))
        set_away(e.store, "eve", MON, MON + timedelta(hours=6, minutes=30))
        for i in range(6):
            clock.advance(timedelta(hours=1))
            e.start(P, f"f{i}", {"email": f"f{i}@x.test"})
            if i % 2:
                e.start(P, f"p{i}", {"email": f"p{i}@x.test", "segment": "enterprise"})
        yield e


def rows(report: reports.FairnessReport) -> dict[str, tuple[object, ...]]:
    return {r.member: (r.assigned, r.expected, r.deviation, r.owed) for r in report.rows}


def test_a_skipped_member_shows_below_the_fair_share_with_turns_owed(engine: Engine) -> None:
    """ben got none of 6 (2 expected, -100%) and is owed the 3 turns skipped (ana and cy have 3
    each); eve's skips are not owed (her team has no catch-up)."""
    report = reports.fairness(engine, P)
    got = rows(report)
    assert got["ana"] == (3, 2.0, 1.0, 0)
    assert got["ben"] == (0, 2.0, -2.0, 3)
    assert got["eve"] == (0, 1.0, -1.0, 0)
    ben = next(r for r in report.rows if r.member == "ben")
    assert ben.deviation_share == -1.0
    assert ben.weight == 1


def test_after_catching_up_the_deviation_is_gone(engine: Engine, clock: ManualClock) -> None:
    """Back from away, ben takes three catch-up leads: everyone has 3, nothing is owed; the
    period since his return shows only those."""
    back = clock.now()
    for i in range(3):
        clock.advance(timedelta(hours=1))
        engine.start(P, f"g{i}", {"email": f"g{i}@x.test"})
    got = rows(reports.fairness(engine, P))
    assert {m: got[m][0] for m in ("ana", "ben", "cy")} == {"ana": 3, "ben": 3, "cy": 3}
    assert got["ben"][3] == 0
    recent = rows(reports.fairness(engine, P, since=back))
    assert {m: recent[m][0] for m in ("ana", "ben", "cy")} == {"ana": 0, "ben": 3, "cy": 0}
    before = rows(reports.fairness(engine, P, as_of=back))
    assert before["ben"][0] == 0


def test_leads_that_waited_in_the_queue_are_their_own_row(db_url: str, clock: ManualClock) -> None:
    """With the whole team away a lead goes to the queue: a row with nothing expected."""
    with Engine(db_url, clock=clock, create=True) as engine:
        engine.deploy(CATCH_UP)
        for rep in ("ana", "ben", "cy"):
            set_away(engine.store, rep, MON, MON + timedelta(days=1))
        engine.start(P, "q1", {"email": "q1@x.test"})
        queue = next(r for r in reports.fairness(engine, P).rows if r.member == "queue:fair")
        assert (queue.assigned, queue.expected, queue.weight) == (1, None, None)


def test_report_fairness_on_the_command_line(engine: Engine, db_url: str) -> None:
    """`leadflow report fairness` prints an 80-column table and the same figures as JSON."""
    args = ["report", "fairness", "--db", db_url, "--process", P]
    table = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert table.exit_code == 0, table.output
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    assert "-100%" in table.stdout
    assert "owed" in table.stdout
    as_json = CliRunner().invoke(app, [*args, "--format", "json"])
    got = {r["member"]: r for r in json.loads(as_json.stdout)["rows"]}
    assert (got["ben"]["assigned"], got["ben"]["owed"]) == (0, 3)
    bad = CliRunner().invoke(app, [*args, "--since", "last week"])
    assert bad.exit_code == 1
    assert "--since" in bad.stderr
