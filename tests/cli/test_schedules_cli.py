"""``leadflow schedules next`` and ``schedules run --at``: a definition's schedules read back in
their own timezone and run at a chosen time, as the worker would; a queue-only team."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from leadflow.cli import app
from leadflow.definitions import load_definition
from leadflow.engine import Engine
from leadflow.engine.testing import ManualClock

RELEASE = Path(__file__).parents[1] / "definitions" / "sla" / "release.yaml"
MONDAY = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # 10:00 in New York


def _db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'lf.db'}"
    with Engine(url, clock=ManualClock(MONDAY), create=True) as e:
        e.deploy(RELEASE)
        for k in range(3):
            e.start("sla-release", f"L{k}")
    return url


def test_next_lists_each_schedule_in_its_own_timezone(tmp_path: Path) -> None:
    """The weekly release's next occurrences are Sundays 18:00 in New York (23:00 UTC)."""
    db = _db(tmp_path)
    shown = CliRunner().invoke(app, ["schedules", "next", "--db", db, "--json", "--count", "2"])
    assert shown.exit_code == 0, shown.output
    weekly = next(s for s in json.loads(shown.stdout) if s["name"] == "weekly_release")
    assert weekly["action"] == "release ae"
    assert weekly["next_due"] == ["2026-01-11T23:00:00+00:00", "2026-01-18T23:00:00+00:00"]
    table = CliRunner().invoke(app, ["schedules", "next", "--db", db], env={"COLUMNS": "200"})
    assert "Sun 2026-01-11 18:00 America/New_York" in table.output


def test_run_at_a_time_releases_the_queue_once_and_says_to_whom(tmp_path: Path) -> None:
    """Before Sunday 18:00 only the daily digest is due; at it the queue is dealt round robin;
    again, nothing (each occurrence runs once)."""
    db = _db(tmp_path)
    runner = CliRunner()
    early = runner.invoke(app, ["schedules", "run", "--db", db, "--at", "2026-01-11T22:59:00Z"])
    assert early.exit_code == 0, early.output
    assert early.output == "sla-release/daily_digest: digest sla due 2026-01-11 13:00 UTC\n"
    ran = runner.invoke(
        app, ["schedules", "run", "--db", db, "--at", "2026-01-11T18:00:00-05:00", "--json"]
    )
    assert ran.exit_code == 0, ran.output
    (release,) = [r for r in json.loads(ran.stdout) if r["action"] == "release ae"]
    assert [(x["lead_id"], x["owner"]) for x in release["released"]] == [
        ("L0", "xena"),
        ("L1", "yuri"),
        ("L2", "xena"),
    ]
    again = runner.invoke(app, ["schedules", "run", "--db", db, "--at", "2026-01-11T23:00:00Z"])
    assert "nothing due" in again.output


def test_run_refuses_a_time_without_a_timezone(tmp_path: Path) -> None:
    """A naive or unreadable --at is one error line naming the option, nothing run."""
    db = _db(tmp_path)
    for bad, said in (("2026-01-11T18:00", "has no timezone"), ("sunday", "is not a time")):
        result = CliRunner().invoke(app, ["schedules", "run", "--db", db, "--at", bad])
        assert result.exit_code == 1
        assert result.stderr.startswith(f"error: --at {bad!r} {said}")


def test_a_team_without_members_is_a_queue() -> None:
    """A queue-only team loads; leads routed to it wait under its queue owner, with the reason
    in history; its release hands out nothing."""
    text = """
process: q
version: 1
fields:
  score: {type: integer}
teams:
  inside: {members: [ana]}
  nurture: {queue: nurture-queue}
routing:
  - {team: inside, when: "lead.score >= 50"}
  - {team: nurture}
schedules:
  weekly: {cron: "0 18 * * sun", release: nurture}
stages:
  new: {initial: true}
  won: {closed: won}
transitions:
  - {name: win, from: new, to: won}
"""
    clock = ManualClock(MONDAY)
    with Engine("sqlite://", clock=clock) as e:
        e.deploy(load_definition(text, file="q.yaml"))
        assert e.start("q", "cold", {"score": 10}).owner == "nurture-queue"
        assert e.start("q", "hot", {"score": 90}).owner == "ana"
        started = e.history("q", "cold")[0].details
        assert started["owner"] == "nurture-queue"
        (run,) = e.run_schedules_report(datetime(2026, 1, 12, tzinfo=UTC))
        assert run.released == ()
        assert e.get("q", "cold").owner == "nurture-queue"
