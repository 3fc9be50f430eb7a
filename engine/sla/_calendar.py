"""Calendars that say which time counts for an SLA clock: 24/7, or business hours.

Pure arithmetic over aware datetimes: no database, no clock. Every input must be timezone-aware
(a naive datetime is a ``ValueError``); every output is in UTC.

Semantics of :class:`BusinessCalendar`:

- **Wall clock.** An instant is open when the wall clock of the calendar's timezone shows a time
  inside the opening hours of that local date (start inclusive, end exclusive). A 09:00-17:00 day
  is 09:00-17:00 local on DST change days too.
- **DST.** Time counts at its real duration. Hours in a spring-forward gap never happen and count
  nothing (02:00-03:00 on 2026-03-08 in New York is empty; 01:00-02:30 counts one hour). Hours the
  fall-back repeats count twice (01:00-02:00 on 2026-11-01 in New York is open for two real hours),
  because the wall clock shows them twice.
- **Closed days** are public holidays of ``holidays_country`` (and ``holidays_subdivision``), from
  the ``holidays`` package, plus the ``closed`` dates. ``open_dates`` replaces the hours of single
  dates (also on holidays).
- ``add(start, timedelta(0))`` returns ``start`` itself (in UTC), open or not. A positive amount
  starting outside the hours starts counting at the next opening, and the result is the first
  instant at which the amount has been counted: 2 business minutes from Friday 16:58 end at
  Friday 17:00, 5 end at Monday 09:03. Negative amounts are a ``ValueError``.
- ``elapsed`` and ``add`` are inverse: ``elapsed(s, add(s, d)) == d``, exact to the microsecond.

How it is fast: the open time of each 16-week block of UTC time is precomputed once per calendar
and timezone (lazily, then cached) as sorted integer intervals in microseconds with running sums
of open time, so ``add`` and ``elapsed`` are a binary search in one or two blocks whatever the
amount. Calendars are immutable and safe to share between threads (caches fill idempotently).

What is open on each local date (:class:`WorkingHours`, holidays, closed and specially opened
dates) is decided in :mod:`leadflow.engine.sla._opening_rules`; this module re-exports
:class:`WorkingHours` and :class:`CalendarError` from there.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple, NoReturn, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from leadflow.engine.sla._opening_rules import (
    _DAY,
    _ZERO,
    CalendarError,
    DayRanges,
    WorkingHours,
    _check_dates,
    _check_holidays,
    _Rules,
)

__all__ = [
    "BusinessCalendar",
    "Calendar",
    "CalendarError",
    "CalendarTime",
    "WorkingHours",
]

__test__ = {"WorkingHours.parse": WorkingHours.parse}
"""The re-exported ``WorkingHours.parse`` examples run with this module's doctests too."""

_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_BLOCK = 16 * 7 * _DAY
_SAMPLE = 3 * 3_600_000_000  # offset sampling step when looking for DST transitions
_NEVER_OPEN_BLOCKS = 20 * 366 * _DAY // _BLOCK + 1  # "never opens": no open time for 20 years


@runtime_checkable
class Calendar(Protocol):
    """Which time counts for an SLA clock. All datetimes are aware; results are in UTC."""

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The instant when ``amount`` of counted time has elapsed after ``start``."""
        ...

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Counted time between ``start`` and ``end`` (zero if ``end <= start``)."""
        ...

    def is_open(self, at: datetime) -> bool:
        """Whether time counts at ``at``."""
        ...


def _refuse(value: object, name: str) -> NoReturn:
    if isinstance(value, datetime):
        raise ValueError(
            f"{name} {value.isoformat()} has no timezone; pass an aware datetime "
            "(for example datetime(..., tzinfo=UTC))"
        )
    raise TypeError(f"{name} must be an aware datetime, got {value!r}")


def _instant(value: datetime, name: str) -> int:
    """Microseconds since the epoch of an aware datetime."""
    try:
        return (value - _EPOCH) // _US
    except TypeError:
        _refuse(value, name)


def _as_utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        _refuse(value, name)
    return value.astimezone(UTC)


def _amount(amount: timedelta) -> int:
    try:
        micros: int = amount // _US
    except TypeError:
        raise TypeError(f"amount must be a datetime.timedelta, got {amount!r}") from None
    if micros < 0:
        raise ValueError(f"amount must not be negative, got {amount}")
    return micros


def _utc(micros: int) -> datetime:
    seconds, rest = divmod(micros, 1_000_000)
    return _EPOCH + timedelta(0, seconds, rest)


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    hint = "use an IANA timezone name such as 'America/New_York', 'Europe/Berlin' or 'UTC'"
    if not isinstance(tz, str):
        raise CalendarError(f"timezone {tz!r} is not a name or a ZoneInfo; {hint}")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CalendarError(f"unknown timezone {tz!r}; {hint}") from exc


class CalendarTime:
    """24/7: every instant counts. ``add`` is ``start + amount``, ``elapsed`` is ``end - start``.

    Both in real time (computed in UTC): 5 hours after 23:00 on the eve of a spring-forward are
    05:00 local, where Python's wall-clock ``start + amount`` on a local datetime says 04:00.
    """

    __slots__ = ()

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """``start + amount`` of real time, in UTC (not wall-clock arithmetic across DST)."""
        _amount(amount)
        return _as_utc(start, "start") + amount

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """``end - start``, or zero if ``end <= start``."""
        return max(_ZERO, _as_utc(end, "end") - _as_utc(start, "start"))

    def is_open(self, at: datetime) -> bool:
        """Always true (``at`` must be aware)."""
        _as_utc(at, "at")
        return True

    def next_open(self, at: datetime) -> datetime:
        """``at`` in UTC."""
        return _as_utc(at, "at")

    def with_timezone(self, tz: str | ZoneInfo) -> CalendarTime:
        """This calendar: 24/7 is the same in every zone."""
        _zone(tz)
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CalendarTime)

    def __hash__(self) -> int:
        return hash(CalendarTime)

    def __repr__(self) -> str:
        return "CalendarTime()"


class _Block(NamedTuple):
    """The open intervals of one 16-week block of UTC time, with running sums of open time."""

    lo: int
    starts: list[int]
    ends: list[int]
    before: list[int]  # open time in the block before interval i
    through: list[int]  # open time in the block up to the end of interval i
    total: int

    def position(self, x: int) -> int:
        """Open time in the block before instant ``x``."""
        i = bisect_right(self.starts, x) - 1
        if i < 0:
            return 0
        end = self.ends[i]
        return self.before[i] + (x if x < end else end) - self.starts[i]


def _offset(tz: ZoneInfo, x: int) -> int:
    offset = _utc(x).astimezone(tz).utcoffset()
    assert offset is not None
    return offset // _US


def _segments(tz: ZoneInfo, lo: int, hi: int) -> list[tuple[int, int, int]]:
    """``(start, end, utc offset)`` pieces of ``[lo, hi)`` with one UTC offset each."""
    pieces = []
    start, offset, x = lo, _offset(tz, lo), lo
    while x < hi - 1:
        y = min(x + _SAMPLE, hi - 1)
        if _offset(tz, y) == offset:
            x = y
            continue
        a, b = x, y  # offset(a) == offset != offset(b): find the first instant of another offset
        while b - a > 1:
            middle = (a + b) // 2
            a, b = (middle, b) if _offset(tz, middle) == offset else (a, middle)
        pieces.append((start, b, offset))
        start, offset, x = b, _offset(tz, b), b
    pieces.append((start, hi, offset))
    return pieces


class BusinessCalendar:
    """Business hours in one timezone, minus public holidays and closed dates.

    >>> hours = WorkingHours.parse({"mon-fri": "09:00-17:00"})
    >>> cal = BusinessCalendar("America/New_York", hours, holidays_country="US")
    >>> wednesday = datetime(2026, 11, 25, 16, 58, tzinfo=ZoneInfo("America/New_York"))
    >>> cal.add(wednesday, timedelta(minutes=5))  # Thanksgiving skipped: Friday 09:03 local
    datetime.datetime(2026, 11, 27, 14, 3, tzinfo=datetime.timezone.utc)

    ``timezone`` is an IANA name or ``ZoneInfo``; ``hours`` must open at least once a week.
    ``holidays_country`` / ``holidays_subdivision`` are codes of the ``holidays`` package
    (``"US"``, ``"DE"`` + ``"BY"``), looked up lazily per year. ``closed`` adds closed dates;
    ``open_dates`` gives single dates their own hours (time pairs or ``"HH:MM-HH:MM"`` text; an
    empty tuple closes the date), overriding the week and holidays. Bad values are
    :class:`CalendarError`.
    """

    __slots__ = ("_blocks", "_rules", "_tz", "_variants")

    _tz: ZoneInfo
    _rules: _Rules
    _variants: dict[ZoneInfo, BusinessCalendar]
    _blocks: dict[int, _Block]

    def __init__(
        self,
        timezone: str | ZoneInfo,
        hours: WorkingHours,
        *,
        holidays_country: str | None = None,
        holidays_subdivision: str | None = None,
        closed: Iterable[date] = (),
        open_dates: Mapping[date, DayRanges] | None = None,
    ) -> None:
        tz = _zone(timezone)
        if not isinstance(hours, WorkingHours):
            raise CalendarError(f"hours {hours!r} is not WorkingHours; build it with parse()")
        if not hours.ranges:
            raise CalendarError(
                "the business calendar has no opening hours: it would never open; give at "
                "least one day hours, like {'mon-fri': '09:00-17:00'}"
            )
        _check_holidays(holidays_country, holidays_subdivision)
        closed_set, special = _check_dates(closed, open_dates)
        rules = _Rules(hours, holidays_country, holidays_subdivision, closed_set, special)
        self._setup(tz, rules, {})

    def _setup(
        self, tz: ZoneInfo, rules: _Rules, variants: dict[ZoneInfo, BusinessCalendar]
    ) -> None:
        self._tz = tz
        self._rules = rules
        self._variants = variants
        self._blocks = {}
        variants.setdefault(tz, self)

    @property
    def timezone(self) -> ZoneInfo:
        """The zone whose wall clock the hours are read in."""
        return self._tz

    @property
    def hours(self) -> WorkingHours:
        """The weekly opening hours."""
        return self._rules.hours

    @property
    def holidays_country(self) -> str | None:
        """Country code of the public holidays, or None."""
        return self._rules.country

    @property
    def holidays_subdivision(self) -> str | None:
        """Subdivision code of the public holidays, or None."""
        return self._rules.subdivision

    @property
    def closed(self) -> frozenset[date]:
        """Extra closed dates."""
        return self._rules.closed

    @property
    def open_dates(self) -> Mapping[date, DayRanges]:
        """Dates with their own opening hours."""
        return self._rules.open_dates

    def __repr__(self) -> str:
        return (
            f"BusinessCalendar({str(self._tz)!r}, {self.hours!r}, "
            f"holidays_country={self.holidays_country!r}, "
            f"holidays_subdivision={self.holidays_subdivision!r}, closed={len(self.closed)} dates, "
            f"open_dates={len(self.open_dates)} dates)"
        )

    def with_timezone(self, tz: str | ZoneInfo) -> BusinessCalendar:
        """The same rules read in another zone (a lead's territory); cached per zone."""
        zone = _zone(tz)
        found = self._variants.get(zone)
        if found is None:
            found = object.__new__(BusinessCalendar)
            found._setup(zone, self._rules, self._variants)
            found = self._variants.setdefault(zone, found)
        return found

    def _block(self, k: int) -> _Block:
        block = self._blocks.get(k)
        if block is None:
            block = self._blocks.setdefault(k, self._build(k))
        return block

    def _build(self, k: int) -> _Block:
        lo, hi = k * _BLOCK, (k + 1) * _BLOCK
        starts: list[int] = []
        ends: list[int] = []
        spans_of = self._rules.spans
        for seg_lo, seg_hi, offset in _segments(self._tz, lo, hi):
            for day in range((seg_lo + offset) // _DAY, (seg_hi - 1 + offset) // _DAY + 1):
                midnight = day * _DAY - offset  # the UTC instant of local midnight, this offset
                for a, b in spans_of(day + _EPOCH_ORDINAL):
                    start, end = max(midnight + a, seg_lo), min(midnight + b, seg_hi)
                    if start >= end:
                        continue
                    if ends and ends[-1] == start:
                        ends[-1] = end
                    else:
                        starts.append(start)
                        ends.append(end)
        before: list[int] = []
        through: list[int] = []
        total = 0
        for start, end in zip(starts, ends, strict=True):
            before.append(total)
            total += end - start
            through.append(total)
        return _Block(lo, starts, ends, before, through, total)

    def _never_opens(self, start: int) -> CalendarError:
        return CalendarError(
            f"calendar never opens: no open time in the 20 years after {_utc(start).isoformat()} "
            f"({self!r}); check that its hours exist in {self._tz} (not in a DST gap)"
        )

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The instant when ``amount`` of open time has elapsed after ``start`` (UTC).

        Zero returns ``start`` (in UTC); a positive amount counts from the next opening.
        """
        x = _instant(start, "start")
        left = _amount(amount)
        if not left:
            return _utc(x)
        blocks = self._blocks
        k, idle = x // _BLOCK, 0
        while True:
            block = blocks.get(k) or self._block(k)
            starts = block.starts
            i = bisect_right(starts, x) - 1
            if i < 0:
                position = 0
            else:
                end = block.ends[i]
                position = block.before[i] + (x if x < end else end) - starts[i]
            target = position + left
            if target <= block.total:
                i = bisect_left(block.through, target)
                return _utc(starts[i] + target - block.before[i])
            idle = idle + 1 if block.total == position else 0
            if idle > _NEVER_OPEN_BLOCKS:
                raise self._never_opens(_instant(start, "start"))
            left = target - block.total
            k += 1
            x = k * _BLOCK

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Open time between ``start`` and ``end`` (zero if ``end <= start``)."""
        x, y = _instant(start, "start"), _instant(end, "end")
        if y <= x:
            return _ZERO
        first, last = x // _BLOCK, y // _BLOCK
        if first == last:
            block = self._block(first)
            return timedelta(microseconds=block.position(y) - block.position(x))
        head = self._block(first)
        total = head.total - head.position(x) + self._block(last).position(y)
        total += sum(self._block(k).total for k in range(first + 1, last))
        return timedelta(microseconds=total)

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` is inside business hours (start inclusive, end exclusive)."""
        x = _instant(at, "at")
        block = self._block(x // _BLOCK)
        i = bisect_right(block.starts, x) - 1
        return i >= 0 and x < block.ends[i]

    def next_open(self, at: datetime) -> datetime:
        """``at`` (in UTC) if it is open, else the next opening instant."""
        x = _instant(at, "at")
        k = x // _BLOCK
        for _ in range(_NEVER_OPEN_BLOCKS + 1):
            block = self._block(k)
            i = bisect_right(block.starts, x) - 1
            if i >= 0 and x < block.ends[i]:
                return _utc(x)
            if i + 1 < len(block.starts):
                return _utc(block.starts[i + 1])
            k += 1
            x = k * _BLOCK
        raise self._never_opens(_instant(at, "at"))
