"""Business-calendar benchmark: calls/s of ``BusinessCalendar.add`` against plain datetime math.

Run from the repository root (leadflow importable, e.g. installed or via PYTHONPATH)::

    python tests/benchmarks/bench_calendar.py           # about 30 seconds
    python tests/benchmarks/bench_calendar.py --quick   # a few seconds

The calendar is New York, Monday to Friday 09:00-17:00, with US public holidays. The starts are
random instants spread over 2026-2027 (a fixed seed), so about three in four are outside business
hours and some cross a DST change or a holiday. Each row is timed 3 times, interleaved with its
baseline, and the fastest repetition is kept; ``spread`` is slowest / fastest.

- ``baseline``: ``start + amount`` on the same aware UTC datetimes (the floor: one datetime
  operation, no calendar at all).
- ``to local zone + timedelta, to UTC``: for information, the cost of the two zone conversions any
  wall-clock-aware arithmetic needs (``start.astimezone(zone) + amount``, back to UTC).
- ``add 5 business minutes`` / ``add 14 business days`` (14 x 8 h): warm caches (the blocks of
  precomputed open intervals the starts fall into are built before the clock starts).
- ``elapsed`` between the start and the 14-day result, and ``CalendarTime.add`` (24/7), for
  information.
- ``cold block build``: the one-off cost of precomputing one 16-week block (first use of a zone and
  period), in ms.

``ratio`` is calls/s of the row divided by calls/s of the baseline in the same run. It is a
benchmark, not a test: the exit code is 0 whatever the figures are.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

try:
    from leadflow.engine.sla._calendar import BusinessCalendar, CalendarTime, WorkingHours
except ImportError as exc:  # pragma: no cover - a usage error, not a benchmark result
    sys.exit(f"cannot import leadflow ({exc}); install it or set PYTHONPATH (see README.md)")

FIVE_MINUTES = timedelta(minutes=5)
FOURTEEN_DAYS = 14 * timedelta(hours=8)
REPETITIONS = 3
NEW_YORK = ZoneInfo("America/New_York")


def make_calendar() -> BusinessCalendar:
    return BusinessCalendar(
        "America/New_York",
        WorkingHours.parse({"mon-fri": "09:00-17:00"}),
        holidays_country="US",
    )


def make_starts(count: int) -> list[datetime]:
    rng = random.Random(20260308)
    first = datetime(2026, 1, 1, tzinfo=UTC)
    span = int(timedelta(days=730) / timedelta(microseconds=1))
    return [first + timedelta(microseconds=rng.randrange(span)) for _ in range(count)]


def timed(call: Callable[[list[datetime]], object], starts: list[datetime]) -> float:
    """Seconds for one pass of ``call`` over ``starts``."""
    began = time.perf_counter()
    call(starts)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 calls per row, not 300,000")
    count = 20_000 if parser.parse_args().quick else 300_000

    cal = make_calendar()
    plain = CalendarTime()
    starts = make_starts(count)
    ends = [cal.add(s, FOURTEEN_DAYS) for s in starts]  # also warms every block used below

    def baseline(xs: list[datetime]) -> None:
        for s in xs:
            s + FIVE_MINUTES

    def local_round_trip(xs: list[datetime]) -> None:
        for s in xs:
            (s.astimezone(NEW_YORK) + FIVE_MINUTES).astimezone(UTC)

    def add_minutes(xs: list[datetime]) -> None:
        add = cal.add
        for s in xs:
            add(s, FIVE_MINUTES)

    def add_days(xs: list[datetime]) -> None:
        add = cal.add
        for s in xs:
            add(s, FOURTEEN_DAYS)

    def elapsed(xs: list[datetime]) -> None:
        measure = cal.elapsed
        for s, e in zip(xs, ends, strict=True):
            measure(s, e)

    def add_24_7(xs: list[datetime]) -> None:
        add = plain.add
        for s in xs:
            add(s, FIVE_MINUTES)

    rows: dict[str, Callable[[list[datetime]], None]] = {
        "baseline: datetime + timedelta": baseline,
        "to local zone + timedelta, to UTC": local_round_trip,
        "add 5 business minutes": add_minutes,
        "add 14 business days": add_days,
        "elapsed (start -> +14 days)": elapsed,
        "CalendarTime.add (24/7)": add_24_7,
    }
    times: dict[str, list[float]] = {name: [] for name in rows}
    for repetition in range(REPETITIONS):
        print(f"repetition {repetition + 1}/{REPETITIONS}", file=sys.stderr)
        for name, call in rows.items():
            times[name].append(timed(call, starts))

    builds = []
    for zone in ("Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe", "America/Chicago"):
        fresh = make_calendar().with_timezone(zone)
        began = time.perf_counter()
        fresh.add(datetime(2026, 6, 1, tzinfo=UTC), FIVE_MINUTES)
        builds.append((time.perf_counter() - began) * 1000)

    floor = count / min(times["baseline: datetime + timedelta"])
    print(f"BusinessCalendar.add benchmark: {count:,} calls per row, best of {REPETITIONS}")
    print(f"{'row':34} {'calls/s':>12} {'us/call':>8} {'ratio':>7} {'spread':>7}")
    for name, measured in times.items():
        rate = count / min(measured)
        spread = max(measured) / min(measured)
        print(f"{name:34} {rate:12,.0f} {1e6 / rate:8.2f} {rate / floor:7.3f} {spread:7.2f}")
    label = "cold block build (16 weeks), ms"
    print(f"{label:34} {min(builds):12.2f} best, {max(builds):.2f} worst")
    print("ratio = calls/s of the row / calls/s of the baseline, same run")


if __name__ == "__main__":
    main()
