"""Business-hours calendars for SLA clocks: parsing, scenarios with explicit dates, invariants."""

from __future__ import annotations

import doctest
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import leadflow.engine.sla._calendar as calendar_module
from leadflow.definitions import LeadflowError
from leadflow.engine.sla._calendar import (
    BusinessCalendar,
    Calendar,
    CalendarError,
    CalendarTime,
    WorkingHours,
)

NINE_TO_FIVE = WorkingHours.parse({"mon-fri": "09:00-17:00"})
MIN = timedelta(minutes=1)
US = timedelta(microseconds=1)


def at(zone: str, text: str, *, fold: int = 0) -> datetime:
    """An aware datetime from local ISO text in ``zone``."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone), fold=fold)


def utc(text: str) -> datetime:
    """An aware UTC datetime from ISO text."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(value: datetime, zone: str) -> str:
    """``value`` as local wall-clock text (minutes, or more when needed) in ``zone``."""
    return value.astimezone(ZoneInfo(zone)).replace(tzinfo=None).isoformat(sep=" ")


# --- WorkingHours.parse ---------------------------------------------------------------------


def test_parse_reads_day_ranges_lists_and_comma_lists() -> None:
    """Day ranges, comma lists, lists of ranges and comma-separated ranges all parse."""
    hours = WorkingHours.parse(
        {"mon-wed": "09:00-17:00", "thu,fri": "08:00-12:00, 13:00-16:30", "sat": ["10:00-12:00"]}
    )
    assert hours.ranges[0] == ((time(9), time(17)),)
    assert hours.ranges[2] == ((time(9), time(17)),)
    assert hours.ranges[4] == ((time(8), time(12)), (time(13), time(16, 30)))
    assert hours.ranges[5] == ((time(10), time(12)),)
    assert 6 not in hours.ranges
    assert hours.weekly == timedelta(hours=3 * 8 + 2 * 7.5 + 2)


def test_parse_sorts_ranges_and_reads_24_00_as_end_of_day() -> None:
    """Ranges come out sorted; "24:00" as an end is midnight at the end of the day (time(0))."""
    hours = WorkingHours.parse({"mon": ["18:00-24:00", "00:00-02:00"]})
    assert hours.ranges[0] == ((time(0), time(2)), (time(18), time(0)))
    assert hours.weekly == timedelta(hours=8)


def test_working_hours_round_trip_through_to_spec_and_compare_equal() -> None:
    """to_spec() groups equal neighbouring days and parses back to an equal, hashable value."""
    spec = {"mon-thu": "09:00-17:00", "fri": ["09:00-12:00", "13:00-15:00"], "sun": "10:00-24:00"}
    hours = WorkingHours.parse(spec)
    assert hours.to_spec() == spec
    assert WorkingHours.parse(hours.to_spec()) == hours
    assert hash(WorkingHours.parse(spec)) == hash(hours)
    assert repr(hours) == f"WorkingHours.parse({spec!r})"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"fri-mon": "09:00-17:00"}, "'fri-mon': '09:00-17:00': the range fri-mon wraps past"),
        ({"mon-fri": "09:00-17:00", "wed": "10:00-11:00"}, "wed is listed twice, in 'mon-fri'"),
        ({"mon,tue,mon": "09:00-10:00"}, "'mon,tue,mon' names mon twice"),
        ({"mon": "17:00-09:00"}, "'mon': '17:00-09:00': range 17:00-09:00 does not end after"),
        ({"mon": "09:00-09:00"}, "does not end after it starts"),
        ({"mon": "09:00-12:00, 11:00-13:00"}, "09:00-12:00 and 11:00-13:00 overlap"),
        ({"mon": "09:00-00:00"}, "cannot end at 00:00; write 24:00"),
        ({"mon": "24:00-24:00"}, "'24:00' is not a time; allowed: HH:MM, 24-hour"),
        ({"mon": "9-17"}, "'mon': '9-17': '9' is not a time"),
        ({"mon": "09:60-10:00"}, "'09:60' is not a time"),
        ({"mon": "09:00"}, "'09:00' is not a range; allowed: \"HH:MM-HH:MM\""),
        ({"mon": 9}, "'mon': 9: expected \"HH:MM-HH:MM\" or a list of them"),
        ({"monday": "09:00-17:00"}, "'monday' is not a day key; allowed: mon, tue"),
        ({"mon-wed-fri": "09:00-17:00"}, "is not a day key"),
        ({1: "09:00-17:00"}, "key 1 is not text"),
    ],
)
def test_parse_refuses_bad_specs_naming_key_and_value(spec: object, message: str) -> None:
    """Each malformed spec raises CalendarError naming the key, the value and what is allowed."""
    with pytest.raises(CalendarError, match=message.replace("(", r"\(").replace(")", r"\)")):
        WorkingHours.parse(spec)  # type: ignore[arg-type]


def test_parse_refuses_a_spec_that_is_not_a_mapping() -> None:
    """A list instead of a mapping is refused with an example of the right shape."""
    with pytest.raises(CalendarError, match=re.escape('is not a mapping; write {"mon-fri"')):
        WorkingHours.parse(["mon-fri", "09:00-17:00"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        ({7: ((time(9), time(17)),)}, "7 is not a weekday; allowed: 0 \\(Monday\\) to 6"),
        ({0: ((time(9, tzinfo=UTC), time(17)),)}, "is not a pair of naive times"),
        ({0: ((time(9),),)}, "is not a \\(start, end\\) pair"),
        ({0: "09:00-17:00"}, "is not a sequence of time ranges"),
        ({0: ((time(9), time(12)), (time(11), time(13)))}, "overlap"),
    ],
)
def test_working_hours_constructor_validates(ranges: object, message: str) -> None:
    """Building WorkingHours directly validates weekdays and ranges like parse() does."""
    with pytest.raises(CalendarError, match=message):
        WorkingHours(ranges)  # type: ignore[arg-type]


def test_docstring_examples_run() -> None:
    """The examples in the module's docstrings give the results they show."""
    result = doctest.testmod(calendar_module, raise_on_error=False)
    assert result.attempted >= 5
    assert result.failed == 0


def test_calendar_error_is_a_value_error_and_a_leadflow_error() -> None:
    """CalendarError sits in the leadflow error tree and is a ValueError with a stable code."""
    assert issubclass(CalendarError, ValueError)
    assert issubclass(CalendarError, LeadflowError)
    assert CalendarError.code == "invalid-calendar"


# --- BusinessCalendar construction ----------------------------------------------------------


def test_calendar_without_opening_hours_is_refused() -> None:
    """Empty weekly hours would never open: refused at construction."""
    with pytest.raises(CalendarError, match="has no opening hours"):
        BusinessCalendar("UTC", WorkingHours.parse({}))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Base"}, "unknown timezone 'Mars/Base'; use an IANA timezone name"),
        ({"timezone": 5}, "timezone 5 is not a name or a ZoneInfo"),
        ({"holidays_country": "XX"}, "unknown holidays_country 'XX'; use an ISO 3166-1"),
        ({"holidays_country": "us"}, "did you mean 'US'"),
        (
            {"holidays_country": "US", "holidays_subdivision": "ZZ"},
            "unknown holidays_subdivision 'ZZ'; allowed for US: AK, AL,.* NY,",
        ),
        (
            {"holidays_country": "SG", "holidays_subdivision": "X"},
            "SG has no subdivisions: leave it unset",
        ),
        ({"holidays_subdivision": "BY"}, "'BY' needs a holidays_country"),
        ({"hours": {"mon-fri": "09:00-17:00"}}, "is not WorkingHours; build it with parse"),
        ({"closed": [datetime(2026, 1, 2, tzinfo=UTC)]}, "closed: .* is not a datetime.date"),
        ({"open_dates": {"2026-01-03": ()}}, "open_dates: key '2026-01-03' is not a datetime.date"),
        ({"open_dates": {date(2026, 1, 3): "10:00-09:00"}}, r"open_dates\[2026-01-03\]"),
        (
            {"closed": [date(2026, 1, 3)], "open_dates": {date(2026, 1, 3): "10:00-12:00"}},
            "2026-01-03 is both in closed and in open_dates",
        ),
    ],
)
def test_calendar_refuses_bad_configuration(kwargs: dict[str, object], message: str) -> None:
    """Each bad argument raises CalendarError saying what was wrong and what is allowed."""
    arguments: dict[str, object] = {"timezone": "UTC", "hours": NINE_TO_FIVE} | kwargs
    with pytest.raises(CalendarError, match=message):
        BusinessCalendar(**arguments)  # type: ignore[arg-type]


def test_calendar_exposes_its_configuration() -> None:
    """The properties return what the calendar was built with, open dates parsed."""
    cal = BusinessCalendar(
        ZoneInfo("Europe/Berlin"),
        NINE_TO_FIVE,
        holidays_country="DE",
        holidays_subdivision="BY",
        closed=[date(2026, 12, 24)],
        open_dates={date(2026, 12, 19): "10:00-14:00"},
    )
    assert cal.timezone == ZoneInfo("Europe/Berlin")
    assert cal.hours == NINE_TO_FIVE
    assert (cal.holidays_country, cal.holidays_subdivision) == ("DE", "BY")
    assert cal.closed == frozenset({date(2026, 12, 24)})
    assert dict(cal.open_dates) == {date(2026, 12, 19): ((time(10), time(14)),)}
    assert "Europe/Berlin" in repr(cal)


def test_calendars_satisfy_the_calendar_protocol() -> None:
    """Both calendars are Calendar instances for the SLA engine."""
    assert isinstance(CalendarTime(), Calendar)
    assert isinstance(BusinessCalendar("UTC", NINE_TO_FIVE), Calendar)


# --- add, elapsed, is_open, next_open: explicit scenarios ------------------------------------


def berlin() -> BusinessCalendar:
    return BusinessCalendar("Europe/Berlin", NINE_TO_FIVE)


def test_add_carries_over_the_weekend() -> None:
    """5 business minutes from Friday 16:58 end on Monday 09:03."""
    cal = berlin()
    end = cal.add(at("Europe/Berlin", "2026-02-06 16:58"), 5 * MIN)
    assert end == utc("2026-02-09 08:03")
    assert end.tzinfo is UTC


def test_add_that_ends_at_closing_returns_the_closing_instant() -> None:
    """2 business minutes from 16:58 end at 17:00 the same day, not at the next opening."""
    assert berlin().add(at("Europe/Berlin", "2026-02-06 16:58"), 2 * MIN) == at(
        "Europe/Berlin", "2026-02-06 17:00"
    )


def test_add_zero_returns_start_unchanged_even_when_closed() -> None:
    """Adding zero returns start itself (in UTC), also on a Saturday."""
    saturday = at("Europe/Berlin", "2026-02-07 12:34:56.789")
    result = berlin().add(saturday, timedelta(0))
    assert result == saturday
    assert result.tzinfo is UTC


def test_add_from_outside_hours_starts_counting_at_the_next_opening() -> None:
    """Before opening, after closing and at the weekend counting starts at the next 09:00."""
    cal = berlin()
    assert local(cal.add(at("Europe/Berlin", "2026-02-05 07:00"), 60 * MIN), "Europe/Berlin") == (
        "2026-02-05 10:00:00"
    )
    assert local(cal.add(at("Europe/Berlin", "2026-02-05 20:00"), 5 * MIN), "Europe/Berlin") == (
        "2026-02-06 09:05:00"
    )
    assert local(cal.add(at("Europe/Berlin", "2026-02-07 12:00"), 5 * MIN), "Europe/Berlin") == (
        "2026-02-09 09:05:00"
    )


def test_add_of_fourteen_business_days_is_exact_to_the_microsecond() -> None:
    """14 x 8h plus 1 us from Monday 09:00 ends one microsecond into the 15th business day."""
    cal = BusinessCalendar("UTC", NINE_TO_FIVE)
    start = utc("2026-01-05 09:00")
    assert cal.add(start, 14 * timedelta(hours=8)) == utc("2026-01-22 17:00")
    assert cal.add(start, 14 * timedelta(hours=8) + US) == utc("2026-01-23 09:00:00.000001")
    assert cal.elapsed(start, utc("2026-01-23 09:00:00.000001")) == 112 * timedelta(hours=1) + US


def test_add_of_a_thousand_business_days_jumps_over_years() -> None:
    """1000 business days (200 weeks) from Monday 09:00 end on the Friday of week 200 at 17:00."""
    cal = BusinessCalendar("UTC", NINE_TO_FIVE)
    start = utc("2026-01-05 09:00")
    end = cal.add(start, 1000 * timedelta(hours=8))
    assert end == utc("2026-01-05 17:00") + timedelta(weeks=199, days=4)
    assert cal.elapsed(start, end) == 1000 * timedelta(hours=8)


def test_always_open_business_calendar_equals_plain_addition_across_years() -> None:
    """With 24/7 hours in UTC, add over three years equals start + amount."""
    cal = BusinessCalendar("UTC", WorkingHours.parse({"mon-sun": "00:00-24:00"}))
    start = utc("2025-05-17 13:14:15.161718")
    amount = timedelta(days=3 * 365, microseconds=7)
    assert cal.add(start, amount) == start + amount
    assert cal.elapsed(start, start + amount) == amount


def test_us_thanksgiving_is_skipped() -> None:
    """With US holidays, Wednesday 16:58 + 5 minutes is Friday 09:03 (Thanksgiving 2026-11-26)."""
    cal = BusinessCalendar("America/New_York", NINE_TO_FIVE, holidays_country="US")
    start = at("America/New_York", "2026-11-25 16:58")
    assert local(cal.add(start, 5 * MIN), "America/New_York") == "2026-11-27 09:03:00"
    assert not cal.is_open(at("America/New_York", "2026-11-26 12:00"))
    thursday = at("America/New_York", "2026-11-26 00:00")
    assert cal.elapsed(thursday, thursday + timedelta(days=1)) == timedelta(0)


def test_bavarian_epiphany_is_a_holiday_only_with_the_subdivision() -> None:
    """Epiphany (2026-01-06) is closed in DE-BY but open in DE without a subdivision."""
    start = at("Europe/Berlin", "2026-01-05 16:58")
    bavaria = BusinessCalendar(
        "Europe/Berlin", NINE_TO_FIVE, holidays_country="DE", holidays_subdivision="BY"
    )
    germany = BusinessCalendar("Europe/Berlin", NINE_TO_FIVE, holidays_country="DE")
    assert local(bavaria.add(start, 5 * MIN), "Europe/Berlin") == "2026-01-07 09:03:00"
    assert local(germany.add(start, 5 * MIN), "Europe/Berlin") == "2026-01-06 09:03:00"


@pytest.mark.parametrize(
    ("zone", "friday", "monday_utc"),
    [
        ("America/New_York", "2026-03-06 16:58", "2026-03-09 13:03"),  # EST -> EDT
        ("America/New_York", "2026-10-30 16:58", "2026-11-02 14:03"),  # EDT -> EST
        ("Europe/Berlin", "2026-03-27 16:58", "2026-03-30 07:03"),  # CET -> CEST
        ("Europe/Berlin", "2026-10-23 16:58", "2026-10-26 08:03"),  # CEST -> CET
    ],
)
def test_dst_weekend_keeps_wall_clock_hours(zone: str, friday: str, monday_utc: str) -> None:
    """Across a DST change, Friday 16:58 + 5 business minutes is Monday 09:03 local time."""
    cal = BusinessCalendar(zone, NINE_TO_FIVE)
    end = cal.add(at(zone, friday), 5 * MIN)
    assert end == utc(monday_utc)
    assert local(end, zone) == monday_utc[:10] + " 09:03:00"
    assert cal.elapsed(at(zone, friday), end) == 5 * MIN


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("America/New_York", "2026-03-08", 23),
        ("America/New_York", "2026-11-01", 25),
        ("Europe/Berlin", "2026-03-29", 23),
        ("Europe/Berlin", "2026-10-25", 25),
        ("Australia/Lord_Howe", "2026-04-05", 24.5),
        ("Australia/Lord_Howe", "2026-10-04", 23.5),
        ("Asia/Kolkata", "2026-03-08", 24),
    ],
)
def test_a_whole_open_day_counts_its_real_length(zone: str, day: str, hours: float) -> None:
    """A 00:00-24:00 day counts its real duration: 23 or 25 hours on DST days, 23.5 on Lord Howe."""
    cal = BusinessCalendar(zone, WorkingHours.parse({"mon-sun": "00:00-24:00"}))
    midnight = at(zone, day + " 00:00")
    next_midnight = at(zone, (date.fromisoformat(day) + timedelta(days=1)).isoformat() + " 00:00")
    assert cal.elapsed(midnight, next_midnight) == timedelta(hours=hours)
    assert cal.elapsed(midnight - timedelta(days=1), next_midnight) == timedelta(hours=24 + hours)


def test_hours_in_the_spring_forward_gap_count_only_their_real_duration() -> None:
    """On 2026-03-08 in New York 02:00-03:00 never happens: 01:00-02:30 counts 1h, 02:00-03:00 0."""
    zone = "America/New_York"
    sunday = at(zone, "2026-03-08 00:00")
    week_later = at(zone, "2026-03-15 00:00")
    gap_only = BusinessCalendar(zone, WorkingHours.parse({"sun": "02:00-03:00"}))
    assert gap_only.elapsed(sunday, sunday + timedelta(hours=12)) == timedelta(0)
    assert gap_only.elapsed(week_later, week_later + timedelta(hours=12)) == timedelta(hours=1)
    assert gap_only.next_open(sunday) == at(zone, "2026-03-15 02:00")
    into_gap = BusinessCalendar(zone, WorkingHours.parse({"sun": "01:00-02:30"}))
    assert into_gap.elapsed(sunday, sunday + timedelta(hours=12)) == timedelta(hours=1)
    assert into_gap.add(at(zone, "2026-03-08 01:30"), 30 * MIN) == at(zone, "2026-03-08 03:00")
    assert not into_gap.is_open(at(zone, "2026-03-08 03:00"))
    out_of_gap = BusinessCalendar(zone, WorkingHours.parse({"sun": "02:30-04:00"}))
    assert out_of_gap.elapsed(sunday, sunday + timedelta(hours=12)) == timedelta(hours=1)
    assert out_of_gap.next_open(sunday) == at(zone, "2026-03-08 03:00")


def test_hours_the_fall_back_repeats_count_twice() -> None:
    """On 2026-11-01 in New York the wall clock shows 01:00-02:00 twice: both count (2 hours)."""
    zone = "America/New_York"
    sunday = at(zone, "2026-11-01 00:00")
    cal = BusinessCalendar(zone, WorkingHours.parse({"sun": "01:00-02:00"}))
    assert cal.elapsed(sunday, sunday + timedelta(hours=12)) == timedelta(hours=2)
    assert cal.is_open(at(zone, "2026-11-01 01:30", fold=0))
    assert cal.is_open(at(zone, "2026-11-01 01:30", fold=1))
    # (compared in UTC: Python never finds an ambiguous local time equal to another zone's time)
    repeated = at(zone, "2026-11-01 01:30", fold=1).astimezone(UTC)
    assert cal.add(at(zone, "2026-11-01 01:30", fold=0), 60 * MIN) == repeated
    partly = BusinessCalendar(zone, WorkingHours.parse({"sun": "00:00-01:30"}))
    assert partly.elapsed(sunday, sunday + timedelta(hours=12)) == timedelta(hours=2)
    assert not partly.is_open(at(zone, "2026-11-01 01:45", fold=0))
    assert partly.is_open(at(zone, "2026-11-01 01:15", fold=1))
    assert not partly.is_open(at(zone, "2026-11-01 01:45", fold=1))


def test_closed_dates_are_skipped() -> None:
    """A company shutdown 2026-12-24..31 moves Wednesday 23rd 16:58 + 5 minutes to 2027-01-01."""
    shutdown = [date(2026, 12, 24) + timedelta(days=n) for n in range(8)]
    cal = BusinessCalendar("Europe/Berlin", NINE_TO_FIVE, closed=shutdown)
    end = cal.add(at("Europe/Berlin", "2026-12-23 16:58"), 5 * MIN)
    assert local(end, "Europe/Berlin") == "2027-01-01 09:03:00"
    with_new_year = BusinessCalendar(
        "Europe/Berlin", NINE_TO_FIVE, closed=shutdown, holidays_country="DE"
    )
    end = with_new_year.add(at("Europe/Berlin", "2026-12-23 16:58"), 5 * MIN)
    assert local(end, "Europe/Berlin") == "2027-01-04 09:03:00"


def test_special_open_dates_override_week_and_holidays() -> None:
    """Open dates give a Saturday hours, open a holiday, and an empty tuple closes a weekday."""
    cal = BusinessCalendar(
        "America/New_York",
        NINE_TO_FIVE,
        holidays_country="US",
        open_dates={
            date(2026, 11, 28): "10:00-14:00",  # Saturday after Thanksgiving
            date(2026, 11, 26): ((time(12), time(13)),),  # Thanksgiving noon hour
            date(2026, 11, 27): (),  # Friday closed
        },
    )
    zone = "America/New_York"
    assert local(cal.add(at(zone, "2026-11-25 16:58"), 5 * MIN), zone) == "2026-11-26 12:03:00"
    assert local(cal.add(at(zone, "2026-11-26 12:58"), 5 * MIN), zone) == "2026-11-28 10:03:00"
    assert cal.is_open(at(zone, "2026-11-28 13:59"))
    assert not cal.is_open(at(zone, "2026-11-27 10:00"))
    assert cal.elapsed(at(zone, "2026-11-26 00:00"), at(zone, "2026-11-30 00:00")) == timedelta(
        hours=5
    )


def test_is_open_includes_the_start_and_excludes_the_end() -> None:
    """09:00 is open, 16:59:59.999999 is open, 17:00 is closed, 08:59:59.999999 is closed."""
    cal = berlin()
    assert cal.is_open(at("Europe/Berlin", "2026-02-05 09:00"))
    assert cal.is_open(at("Europe/Berlin", "2026-02-05 16:59:59.999999"))
    assert not cal.is_open(at("Europe/Berlin", "2026-02-05 17:00"))
    assert not cal.is_open(at("Europe/Berlin", "2026-02-05 08:59:59.999999"))
    assert not cal.is_open(at("Europe/Berlin", "2026-02-07 12:00"))


def test_next_open_returns_open_instants_unchanged_and_else_the_next_opening() -> None:
    """next_open is the instant itself when open, else the next 09:00 (over the weekend)."""
    cal = berlin()
    open_instant = at("Europe/Berlin", "2026-02-05 09:00")
    assert cal.next_open(open_instant) == open_instant
    assert cal.next_open(open_instant).tzinfo is UTC
    assert cal.next_open(at("Europe/Berlin", "2026-02-06 17:00")) == at(
        "Europe/Berlin", "2026-02-09 09:00"
    )
    assert cal.next_open(at("Europe/Berlin", "2026-02-05 08:59:59.999999")) == open_instant


def test_adjacent_ranges_and_ranges_over_midnight_join_up() -> None:
    """Touching ranges join (12:00 is open); 22:00-24:00 and next day 00:00-02:00 span midnight."""
    split = BusinessCalendar("UTC", WorkingHours.parse({"mon": ["09:00-12:00", "12:00-15:00"]}))
    assert split.is_open(utc("2026-02-02 12:00"))
    assert split.add(utc("2026-02-02 11:59"), 2 * MIN) == utc("2026-02-02 12:01")
    night = BusinessCalendar(
        "UTC", WorkingHours.parse({"mon": "22:00-24:00", "tue": "00:00-02:00"})
    )
    assert night.is_open(utc("2026-02-03 00:00"))
    assert night.add(utc("2026-02-02 23:59"), 2 * MIN) == utc("2026-02-03 00:01")
    assert night.elapsed(utc("2026-02-02 00:00"), utc("2026-02-04 00:00")) == timedelta(hours=4)


def test_elapsed_is_zero_when_end_is_not_after_start() -> None:
    """elapsed(b, a) with a <= b is zero, not negative."""
    cal = berlin()
    a = at("Europe/Berlin", "2026-02-05 10:00")
    assert cal.elapsed(a, a) == timedelta(0)
    assert cal.elapsed(a + timedelta(hours=1), a) == timedelta(0)


def test_with_timezone_reads_the_same_rules_in_another_zone_and_is_cached() -> None:
    """A New York calendar moved to Berlin opens at 09:00 Berlin, keeps holidays, and is cached."""
    new_york = BusinessCalendar(
        "America/New_York", NINE_TO_FIVE, holidays_country="US", closed=[date(2026, 2, 9)]
    )
    berlin_variant = new_york.with_timezone("Europe/Berlin")
    assert berlin_variant.timezone == ZoneInfo("Europe/Berlin")
    assert berlin_variant.with_timezone(ZoneInfo("Europe/Berlin")) is berlin_variant
    assert new_york.with_timezone("Europe/Berlin") is berlin_variant
    assert berlin_variant.with_timezone("America/New_York") is new_york
    assert new_york.with_timezone("America/New_York") is new_york
    start = at("Europe/Berlin", "2026-02-06 16:58")
    assert local(berlin_variant.add(start, 5 * MIN), "Europe/Berlin") == "2026-02-10 09:03:00"
    assert berlin_variant.closed == new_york.closed
    assert berlin_variant.holidays_country == "US"
    assert not berlin_variant.is_open(at("Europe/Berlin", "2026-11-26 10:00"))  # Thanksgiving
    with pytest.raises(CalendarError, match="unknown timezone 'Nowhere'"):
        new_york.with_timezone("Nowhere")


def test_naive_datetimes_and_negative_amounts_are_refused() -> None:
    """Naive inputs raise ValueError naming the argument; negative amounts raise ValueError."""
    naive = datetime(2026, 2, 5, 10)
    for cal in (berlin(), CalendarTime()):
        with pytest.raises(ValueError, match="start 2026-02-05T10:00:00 has no timezone"):
            cal.add(naive, MIN)
        with pytest.raises(ValueError, match="end 2026-02-05T10:00:00 has no timezone"):
            cal.elapsed(utc("2026-02-05 09:00"), naive)
        with pytest.raises(ValueError, match="at 2026-02-05T10:00:00 has no timezone"):
            cal.is_open(naive)
        with pytest.raises(ValueError, match="must not be negative"):
            cal.add(utc("2026-02-05 09:00"), -MIN)
        with pytest.raises(TypeError, match=r"must be a datetime\.timedelta"):
            cal.add(utc("2026-02-05 09:00"), 60)  # type: ignore[arg-type]


def test_a_calendar_that_never_opens_raises_instead_of_looping() -> None:
    """With every open day closed for over 20 years, add and next_open raise CalendarError."""
    sundays = [date(2026, 1, 4) + timedelta(weeks=n) for n in range(52 * 22)]
    cal = BusinessCalendar("UTC", WorkingHours.parse({"sun": "10:00-11:00"}), closed=sundays)
    start = utc("2026-01-01 00:00")
    with pytest.raises(CalendarError, match="calendar never opens: no open time in the 20 years"):
        cal.add(start, MIN)
    with pytest.raises(CalendarError, match="calendar never opens"):
        cal.next_open(start)
    assert cal.elapsed(start, utc("2040-01-01 00:00")) == timedelta(0)


def test_calendar_time_counts_every_instant() -> None:
    """CalendarTime adds and measures real time, is always open and works in every zone."""
    cal = CalendarTime()
    start = at("America/New_York", "2026-03-07 23:00")
    # real time, not Python's wall-clock `start + amount` (which would give 04:00 across the DST)
    assert local(cal.add(start, timedelta(hours=5)), "America/New_York") == "2026-03-08 05:00:00"
    assert cal.add(start, timedelta(hours=5)).tzinfo is UTC
    assert cal.elapsed(start, at("America/New_York", "2026-03-08 04:00")) == timedelta(hours=4)
    assert cal.elapsed(start, start - MIN) == timedelta(0)
    assert cal.is_open(start)
    assert cal.next_open(start) == start
    assert cal.with_timezone("Asia/Kolkata") is cal
    assert CalendarTime() == cal
    assert hash(CalendarTime()) == hash(cal)


def test_threads_sharing_a_fresh_calendar_get_the_serial_results() -> None:
    """Eight threads filling the caches of one calendar at once get what one thread gets."""

    def make() -> BusinessCalendar:
        return BusinessCalendar(
            "America/New_York", NINE_TO_FIVE, holidays_country="US", holidays_subdivision="NY"
        )

    starts = [utc("2024-01-01 00:00") + timedelta(hours=37 * n) for n in range(400)]
    amounts = [timedelta(minutes=5), timedelta(hours=4), 14 * timedelta(hours=8)]
    serial_cal = make()
    expected = [serial_cal.add(s, a) for s in starts for a in amounts]
    shared = make()
    barrier = threading.Barrier(8)

    def work(offset: int) -> list[datetime]:
        barrier.wait(timeout=30)
        order = starts[offset * 50 :] + starts[: offset * 50]
        found = {
            (s, a): shared.with_timezone("UTC").with_timezone("America/New_York").add(s, a)
            for s in order
            for a in amounts
        }
        return [found[s, a] for s in starts for a in amounts]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(8)))
    assert all(result == expected for result in results)


# --- invariants (hypothesis) ----------------------------------------------------------------

ZONES = [
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "UTC",
    "America/Havana",  # DST at midnight
]
HOLIDAYS = [None, ("US", None), ("DE", "BY")]
MARKS = list(range(0, 24 * 60 + 1, 15))


def _minute_time(minutes: int) -> time:
    return time(0) if minutes == 24 * 60 else time(minutes // 60, minutes % 60)


@st.composite
def day_ranges(draw: st.DrawFn) -> tuple[tuple[time, time], ...]:
    """0 to 2 ranges on a quarter-hour grid (so some fall into DST gaps and repeats)."""
    marks = sorted(draw(st.lists(st.sampled_from(MARKS), unique=True, max_size=4)))
    marks = marks[: len(marks) // 2 * 2]
    pairs = zip(marks[::2], marks[1::2], strict=True)
    return tuple((_minute_time(a), _minute_time(b)) for a, b in pairs)


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    """Random weekly hours, zone, holidays, closed dates and special dates."""
    week = {day: draw(day_ranges()) for day in range(7)}
    if not any(week.values()):
        week[draw(st.integers(0, 6))] = ((time(9), time(17)),)
    holiday = draw(st.sampled_from(HOLIDAYS))
    some_dates = st.dates(date(2025, 1, 1), date(2027, 12, 31))
    closed = draw(st.sets(some_dates, max_size=6))
    special = draw(st.dictionaries(some_dates, day_ranges(), max_size=4))
    return BusinessCalendar(
        draw(st.sampled_from(ZONES)),
        WorkingHours(week),
        holidays_country=holiday and holiday[0],
        holidays_subdivision=holiday and holiday[1],
        closed=closed,
        open_dates={day: ranges for day, ranges in special.items() if day not in closed},
    )


instants = st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC))
amounts = st.timedeltas(timedelta(0), timedelta(days=60))
PROPERTIES = settings(max_examples=150, deadline=None, database=None)


def wall_clock_is_open(cal: BusinessCalendar, instant: datetime) -> bool:
    """Independent oracle: read the wall clock and look the date up by hand."""
    wall = instant.astimezone(cal.timezone)
    day = wall.date()
    if day in cal.open_dates:
        ranges = cal.open_dates[day]
    elif day in cal.closed or (
        cal.holidays_country
        and day
        in holidays.country_holidays(
            cal.holidays_country, subdiv=cal.holidays_subdivision, years=day.year
        )
    ):
        ranges = ()
    else:
        ranges = cal.hours.ranges.get(day.weekday(), ())
    now = wall.time().replace(tzinfo=None, fold=0)
    return any(start <= now and (end == time(0) or now < end) for start, end in ranges)


@PROPERTIES
@given(calendars(), instants, amounts)
def test_elapsed_inverts_add(cal: BusinessCalendar, start: datetime, amount: timedelta) -> None:
    """elapsed(start, add(start, d)) == d exactly, from any start, open or not."""
    end = cal.add(start, amount)
    assert end >= start
    assert cal.elapsed(start, end) == amount
    if amount:
        assert cal.is_open(end - US)
        assert end > cal.next_open(start)


@PROPERTIES
@given(calendars(), instants, amounts, amounts)
def test_add_is_monotonic_and_composes(
    cal: BusinessCalendar, start: datetime, first: timedelta, second: timedelta
) -> None:
    """add is non-decreasing in amount and start, and add(add(s, a), b) == add(s, a + b)."""
    small, large = sorted((first, second))
    assert cal.add(start, small) <= cal.add(start, large)
    later = start + second
    assert cal.add(start, first) <= cal.add(later, first)
    assert cal.add(cal.add(start, first), second) == cal.add(start, first + second)


@PROPERTIES
@given(calendars(), st.lists(instants, min_size=3, max_size=3))
def test_elapsed_is_additive(cal: BusinessCalendar, points: list[datetime]) -> None:
    """elapsed(a, c) == elapsed(a, b) + elapsed(b, c) for a <= b <= c."""
    a, b, c = sorted(points)
    assert cal.elapsed(a, c) == cal.elapsed(a, b) + cal.elapsed(b, c)


@PROPERTIES
@given(calendars(), instants)
def test_is_open_and_next_open_agree_with_the_wall_clock(
    cal: BusinessCalendar, instant: datetime
) -> None:
    """is_open matches a wall-clock reading; next_open is open, not earlier, and nothing between."""
    assert cal.is_open(instant) == wall_clock_is_open(cal, instant)
    opening = cal.next_open(instant)
    assert opening >= instant
    assert cal.is_open(opening)
    assert wall_clock_is_open(cal, opening)
    assert cal.elapsed(instant, opening) == timedelta(0)


@settings(max_examples=60, deadline=None, database=None)
@given(calendars(), instants, st.integers(0, 2 * 24 * 60))
def test_elapsed_equals_counting_open_minutes_on_the_wall_clock(
    cal: BusinessCalendar, start: datetime, minutes: int
) -> None:
    """Over up to two days, elapsed is the number of whole minutes the wall clock shows as open."""
    start = start.replace(second=0, microsecond=0)
    counted = sum(wall_clock_is_open(cal, start + n * MIN) for n in range(minutes))
    assert cal.elapsed(start, start + minutes * MIN) == counted * MIN


def dst_changes(zone: str) -> list[datetime]:
    """UTC midnights of the days (2025-2027) on which ``zone`` changes its UTC offset."""
    tz = ZoneInfo(zone)
    found = []
    day = utc("2025-01-01 00:00")
    while day.year < 2028:
        if (day + timedelta(days=1)).astimezone(tz).utcoffset() != day.astimezone(tz).utcoffset():
            found.append(day)
        day += timedelta(days=1)
    return found


DST_CHANGES = {zone: dst_changes(zone) for zone in ZONES}


@settings(max_examples=60, deadline=None, database=None)
@given(calendars(), st.data())
def test_elapsed_counts_wall_clock_minutes_around_dst_changes(
    cal: BusinessCalendar, data: st.DataObject
) -> None:
    """Around its zone's DST changes, elapsed is the number of minutes the wall clock shows open."""
    changes = DST_CHANGES[str(cal.timezone)]
    if not changes:
        return
    start = data.draw(st.sampled_from(changes)) - timedelta(hours=16)
    start += data.draw(st.integers(0, 8 * 60)) * MIN
    minutes = data.draw(st.integers(0, 36 * 60))
    counted = sum(wall_clock_is_open(cal, start + n * MIN) for n in range(minutes))
    assert cal.elapsed(start, start + minutes * MIN) == counted * MIN
    assert cal.elapsed(start, cal.add(start, counted * MIN)) == counted * MIN


@settings(max_examples=40, deadline=None, database=None)
@given(calendars(), st.sampled_from(ZONES), instants, amounts)
def test_with_timezone_equals_a_calendar_built_in_that_zone(
    cal: BusinessCalendar, zone: str, start: datetime, amount: timedelta
) -> None:
    """A timezone variant computes what a calendar built directly in that zone computes."""
    direct = BusinessCalendar(
        zone,
        cal.hours,
        holidays_country=cal.holidays_country,
        holidays_subdivision=cal.holidays_subdivision,
        closed=cal.closed,
        open_dates=cal.open_dates,
    )
    assert cal.with_timezone(zone).add(start, amount) == direct.add(start, amount)


@settings(max_examples=100, deadline=None, database=None)
@given(st.dictionaries(st.integers(0, 6), day_ranges()))
def test_working_hours_spec_round_trips(week: dict[int, tuple[tuple[time, time], ...]]) -> None:
    """Any valid minute-grid WorkingHours parses back from its to_spec() unchanged."""
    hours = WorkingHours(week)
    assert WorkingHours.parse(hours.to_spec()) == hours
