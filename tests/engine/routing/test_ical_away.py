"""Days off from a rep's calendar: all-day busy events and Outlook out-of-office become away
periods (recurring ones expanded), routing skips the rep then, re-importing adds only what is
new, and a bad file is one clear error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadflow.cli import app
from leadflow.engine import Engine
from leadflow.engine.routing import InvalidAway

ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//leadflow tests//EN
BEGIN:VEVENT
UID:vacation-1
DTSTART;VALUE=DATE:20260309
DTEND;VALUE=DATE:20260311
SUMMARY:Vacation
END:VEVENT
BEGIN:VEVENT
UID:standup
DTSTART:20260302T090000Z
DTEND:20260302T091500Z
RRULE:FREQ=DAILY;COUNT=30
SUMMARY:Standup (timed: not away)
END:VEVENT
BEGIN:VEVENT
UID:offsite
DTSTART:20260316T130000Z
DTEND:20260316T170000Z
X-MICROSOFT-CDO-BUSYSTATUS:OOF
SUMMARY:Offsite afternoon
END:VEVENT
BEGIN:VEVENT
UID:reminder
DTSTART;VALUE=DATE:20260320
DTEND;VALUE=DATE:20260321
TRANSP:TRANSPARENT
SUMMARY:Birthday (free: not away)
END:VEVENT
BEGIN:VEVENT
UID:fridays
DTSTART;VALUE=DATE:20260306
DTEND;VALUE=DATE:20260307
RRULE:FREQ=WEEKLY;COUNT=3
SUMMARY:Every other... no, every Friday off
END:VEVENT
END:VCALENDAR
"""
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_all_day_busy_and_out_of_office_events_become_away_periods(sqlite_url: str) -> None:
    """Vacation (2 days, in the rep's timezone), the offsite afternoon and three Fridays are
    away; the timed standups and the free birthday are not. A second import adds nothing."""
    with Engine(sqlite_url, create=True) as e:
        done = e.import_away("ana", ICS, timezone="Europe/Amsterdam", days=60, at=NOW)
        assert (done.added, done.kept) == (5, 0)
        assert done.skipped >= 30
        periods = [(p.starts_at, p.ends_at) for p in e.list_away("ana")]
        assert (
            datetime(2026, 3, 8, 23, 0, tzinfo=UTC),  # midnight in Amsterdam (UTC+1)
            datetime(2026, 3, 10, 23, 0, tzinfo=UTC),
        ) in periods
        assert (
            datetime(2026, 3, 16, 13, 0, tzinfo=UTC),
            datetime(2026, 3, 16, 17, 0, tzinfo=UTC),
        ) in periods
        again = e.import_away("ana", ICS, timezone="Europe/Amsterdam", days=60, at=NOW)
        assert (again.added, again.kept) == (0, 5)
        assert len(e.list_away("ana")) == 5


def test_a_bad_calendar_or_timezone_is_refused_naming_it(sqlite_url: str) -> None:
    """Not iCalendar, or an unknown timezone: InvalidAway, nothing written."""
    with Engine(sqlite_url, create=True) as e:
        with pytest.raises(InvalidAway, match="not an iCalendar file"):
            e.import_away("ana", "hello", at=NOW)
        with pytest.raises(InvalidAway, match="unknown timezone 'Mars/Olympus'"):
            e.import_away("ana", ICS, timezone="Mars/Olympus", at=NOW)
        assert e.list_away("ana") == []


def test_the_cli_imports_a_file(sqlite_url: str, tmp_path: Path) -> None:
    """``leadflow away import MEMBER --ics FILE``; a missing file is one error line."""
    day = (datetime.now(UTC) + timedelta(days=10)).date()
    path = tmp_path / "ana.ics"
    path.write_text(
        ICS.replace("20260309", f"{day:%Y%m%d}").replace(
            "20260311", f"{day + timedelta(days=2):%Y%m%d}"
        ),
        encoding="utf-8",
    )
    with Engine(sqlite_url, create=True):
        pass
    done = CliRunner().invoke(
        app, ["away", "import", "ana", "--db", sqlite_url, "--ics", str(path), "--days", "60"]
    )
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("ana: 1 period(s) added")
    missing = CliRunner().invoke(
        app, ["away", "import", "ana", "--db", sqlite_url, "--ics", str(tmp_path / "no.ics")]
    )
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: --ics ")
