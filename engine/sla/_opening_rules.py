"""Which local dates and times a business calendar is open: the rules, before any time zone.

:class:`WorkingHours` holds the weekly opening hours and parses their configuration text
(``{"mon-fri": "09:00-17:00"}``); ``_check_holidays`` and ``_check_dates`` validate the public
holidays and the closed and specially opened dates; ``_Rules`` combines them into the open
spans of each local date. :mod:`leadflow.engine.sla._calendar` turns these rules into business
time in a time zone, and re-exports :class:`WorkingHours` and :class:`CalendarError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from types import MappingProxyType

import holidays as holidays_package

from leadflow.definitions import LeadflowError

__all__ = ["CalendarError", "DayRanges", "WorkingHours"]

DayRanges = tuple[tuple[time, time], ...]
_Spans = tuple[tuple[int, int], ...]  # (start, end) microseconds after local midnight

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ZERO = timedelta(0)
_DAY = 86_400_000_000
_TIME = re.compile(r"(\d{1,2}):(\d\d)")


class CalendarError(LeadflowError, ValueError):
    """A calendar is configured wrongly, or never opens; the message says what is allowed."""

    code = "invalid-calendar"


def _fmt(value: time, *, end: bool = False) -> str:
    text = "24:00" if end and value == time(0) else value.isoformat(timespec="minutes")
    return text if not (value.second or value.microsecond) else value.isoformat()


def _micros(value: time) -> int:
    return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond


def _end_micros(value: time) -> int:
    return _micros(value) or _DAY  # an end of 00:00 is 24:00


def _check_ranges(ranges: object, where: str) -> DayRanges:
    """Sorted, validated (start, end) pairs; an end of ``time(0)`` means 24:00."""
    allowed = (
        "allowed: (start, end) pairs of naive datetime.time, end after start (time(0) = 24:00)"
    )
    if isinstance(ranges, str | bytes) or not isinstance(ranges, Iterable):
        raise CalendarError(f"{where}: {ranges!r} is not a sequence of time ranges; {allowed}")
    pairs: list[tuple[time, time]] = []
    for item in ranges:
        if not (isinstance(item, tuple | list) and len(item) == 2):
            raise CalendarError(f"{where}: {item!r} is not a (start, end) pair; {allowed}")
        start, end = item
        if not (isinstance(start, time) and isinstance(end, time)) or start.tzinfo or end.tzinfo:
            raise CalendarError(f"{where}: {item!r} is not a pair of naive times; {allowed}")
        if _end_micros(end) <= _micros(start):
            raise CalendarError(
                f"{where}: range {_fmt(start)}-{_fmt(end, end=True)} does not end after it "
                "starts; a range cannot pass midnight: split it over two days (end at 24:00)"
            )
        pairs.append((start.replace(fold=0), end.replace(fold=0)))
    pairs.sort(key=lambda pair: _micros(pair[0]))
    for (a, b), (c, d) in pairwise(pairs):
        if _end_micros(b) > _micros(c):
            raise CalendarError(
                f"{where}: ranges {_fmt(a)}-{_fmt(b, end=True)} and {_fmt(c)}-{_fmt(d, end=True)} "
                "overlap; ranges of one day must not overlap"
            )
    return tuple(pairs)


def _spans(ranges: DayRanges) -> _Spans:
    return tuple((_micros(start), _end_micros(end)) for start, end in ranges)


def _parse_time(text: str, where: str, *, end: bool) -> time:
    match = _TIME.fullmatch(text.strip())
    hour, minute = (int(match[1]), int(match[2])) if match else (-1, -1)
    if end and (hour, minute) == (24, 0):
        return time(0)
    if end and (hour, minute) == (0, 0):
        raise CalendarError(f"{where}: a range cannot end at 00:00; write 24:00 for midnight")
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        also = 'and "24:00" as an end' if end else '("24:00" only as an end)'
        raise CalendarError(f"{where}: {text!r} is not a time; allowed: HH:MM, 24-hour {also}")
    return time(hour, minute)


def _parse_ranges(value: object, where: str) -> DayRanges:
    """``"09:00-17:00"``, ``"09:00-12:00, 13:00-17:00"`` or a list of such strings."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise CalendarError(
            f'{where}: expected "HH:MM-HH:MM" or a list of them, like "09:00-17:00" or '
            f'["10:00-12:00", "13:00-15:00"]'
        )
    pairs = []
    for item in items:
        parts = item.split("-")
        if len(parts) != 2:
            raise CalendarError(f'{where}: {item!r} is not a range; allowed: "HH:MM-HH:MM"')
        pairs.append(
            (_parse_time(parts[0], where, end=False), _parse_time(parts[1], where, end=True))
        )
    return _check_ranges(pairs, where)


def _parse_days(key: str, where: str) -> list[int]:
    """``"mon-fri"``, ``"sat"``, ``"mon,wed"``, ``"mon-wed,fri"`` -> weekday numbers."""
    allowed = f"allowed: {', '.join(_DAY_NAMES)}, ranges like mon-fri, comma lists like mon,wed"
    days: list[int] = []
    for part in key.split(","):
        names = [name.strip().lower() for name in part.split("-")]
        if len(names) > 2 or not all(name in _DAY_NAMES for name in names):
            raise CalendarError(f"{where}: {key!r} is not a day key; {allowed}")
        first, last = _DAY_NAMES.index(names[0]), _DAY_NAMES.index(names[-1])
        if last < first:
            raise CalendarError(
                f"{where}: the range {part.strip()} wraps past Sunday; write two keys: "
                f"{names[0]}-sun and {'mon-' if last else ''}{names[-1]}"
            )
        for day in range(first, last + 1):
            if day in days:
                raise CalendarError(f"{where}: {key!r} names {_DAY_NAMES[day]} twice")
            days.append(day)
    return days


@dataclass(frozen=True)
class WorkingHours:
    """Weekly opening hours: weekday (0=Mon..6=Sun) -> tuple of (start, end) local time ranges.

    Ranges of a day are sorted and must not overlap; an end of ``time(0)`` means 24:00. Days
    without ranges are closed (and left out of ``ranges``).
    """

    ranges: Mapping[int, DayRanges]
    """Weekday -> its sorted (start, end) ranges, read-only."""

    def __post_init__(self) -> None:
        if not isinstance(self.ranges, Mapping):
            raise CalendarError(f"working hours: {self.ranges!r} is not a mapping of weekdays")
        checked: dict[int, DayRanges] = {}
        for day, ranges in self.ranges.items():
            if not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= 6:
                raise CalendarError(
                    f"working hours: {day!r} is not a weekday; allowed: 0 (Monday) to 6 (Sunday)"
                )
            where = f"working hours of weekday {day} ({_DAY_NAMES[day]})"
            if checked_ranges := _check_ranges(ranges, where):
                checked[day] = checked_ranges
        object.__setattr__(self, "ranges", MappingProxyType(dict(sorted(checked.items()))))

    def __hash__(self) -> int:
        return hash(tuple(self.ranges.items()))

    @classmethod
    def parse(cls, spec: Mapping[str, str | Sequence[str]]) -> WorkingHours:
        """Opening hours from a configuration mapping.

        >>> hours = WorkingHours.parse({"mon-fri": "09:00-17:00", "sat": "10:00-12:00,13:00-15:00"})
        >>> hours.ranges[5]
        ((datetime.time(10, 0), datetime.time(12, 0)), (datetime.time(13, 0), datetime.time(15, 0)))
        >>> hours.weekly
        datetime.timedelta(days=1, seconds=72000)

        Keys are days (``mon`` .. ``sun``), ranges of days (``mon-fri``; no wrap past Sunday) or
        comma lists (``mon,wed``); each day may be listed once. Values are ``"HH:MM-HH:MM"``
        (24-hour, ``24:00`` allowed as an end) or a list of them; a range cannot pass midnight.
        """
        if not isinstance(spec, Mapping):
            raise CalendarError(
                f'working hours: {spec!r} is not a mapping; write {{"mon-fri": "09:00-17:00"}}'
            )
        listed_in: dict[int, str] = {}
        days: dict[int, DayRanges] = {}
        for key, value in spec.items():
            if not isinstance(key, str):
                raise CalendarError(f"working hours: key {key!r} is not text like 'mon-fri'")
            where = f"working hours {key!r}: {value!r}"
            ranges = _parse_ranges(value, where)
            for day in _parse_days(key, where):
                if day in listed_in:
                    raise CalendarError(
                        f"working hours: {_DAY_NAMES[day]} is listed twice, in "
                        f"{listed_in[day]!r} and {key!r}; list each day once"
                    )
                listed_in[day] = key
                days[day] = ranges
        return cls(days)

    def to_spec(self) -> dict[str, str | list[str]]:
        """The mapping :meth:`parse` reads back, days with equal hours grouped (``mon-fri``)."""
        spec: dict[str, str | list[str]] = {}
        days = list(self.ranges)
        while days:
            first = last = days.pop(0)
            while days and days[0] == last + 1 and self.ranges[days[0]] == self.ranges[first]:
                last = days.pop(0)
            key = _DAY_NAMES[first] + (f"-{_DAY_NAMES[last]}" if last > first else "")
            texts = [f"{_fmt(a)}-{_fmt(b, end=True)}" for a, b in self.ranges[first]]
            spec[key] = texts[0] if len(texts) == 1 else texts
        return spec

    def __repr__(self) -> str:
        return f"WorkingHours.parse({self.to_spec()!r})"

    @property
    def weekly(self) -> timedelta:
        """Open wall-clock time in one week (DST and holidays left aside)."""
        return sum(
            (timedelta(microseconds=b - a) for r in self.ranges.values() for a, b in _spans(r)),
            _ZERO,
        )

    @property
    def usual_day(self) -> timedelta:
        """A business day's open time (``1 business day``): the most common daily total among
        the open weekdays, the longest on a tie (8 hours for ``mon-fri 09:00-17:00``)."""
        totals = [
            sum((timedelta(microseconds=b - a) for a, b in _spans(r)), _ZERO)
            for r in self.ranges.values()
        ]
        totals = [t for t in totals if t] or [timedelta(hours=24)]
        return max(totals, key=lambda t: (totals.count(t), t))


class _Rules:
    """What is open on each local date; shared by a calendar's timezone variants."""

    def __init__(
        self,
        hours: WorkingHours,
        country: str | None,
        subdivision: str | None,
        closed: frozenset[date],
        open_dates: Mapping[date, DayRanges],
    ) -> None:
        self.hours = hours
        self.country = country
        self.subdivision = subdivision
        self.closed = closed
        self.open_dates = open_dates
        self.week: tuple[_Spans, ...] = tuple(_spans(hours.ranges.get(d, ())) for d in range(7))
        self.closed_ordinals = frozenset(d.toordinal() for d in closed)
        self.special = {d.toordinal(): _spans(r) for d, r in open_dates.items()}
        self.holiday_years: dict[int, frozenset[int]] = {}

    def spans(self, ordinal: int) -> _Spans:
        """Open spans of the local date with this proleptic ordinal."""
        if ordinal in self.special:
            return self.special[ordinal]
        if ordinal in self.closed_ordinals:
            return ()
        week = self.week[(ordinal + 6) % 7]
        if week and self.country is not None and ordinal in self._holidays(ordinal):
            return ()
        return week

    def _holidays(self, ordinal: int) -> frozenset[int]:
        year = date.fromordinal(ordinal).year
        found = self.holiday_years.get(year)
        if found is None:
            assert self.country is not None
            table = holidays_package.country_holidays(
                self.country, subdiv=self.subdivision, years=year
            )
            found = self.holiday_years[year] = frozenset(d.toordinal() for d in table)
        return found


def _check_holidays(country: str | None, subdivision: str | None) -> None:
    if country is None:
        if subdivision is not None:
            raise CalendarError(
                f"holidays_subdivision {subdivision!r} needs a holidays_country (e.g. 'US')"
            )
        return
    supported = holidays_package.list_supported_countries()
    if not isinstance(country, str) or country not in supported:
        near = f"did you mean {country.upper()!r}? " if str(country).upper() in supported else ""
        raise CalendarError(
            f"unknown holidays_country {country!r}; {near}use an ISO 3166-1 alpha-2 code such as "
            f"'US', 'DE', 'GB' or 'FR' ({len(supported)} are supported, see "
            "holidays.list_supported_countries())"
        )
    try:
        holidays_package.country_holidays(country, subdiv=subdivision, years=())
    except NotImplementedError as exc:
        codes = supported[country]
        allowed = (
            f"allowed for {country}: {', '.join(codes)}"
            if codes
            else f"{country} has no subdivisions: leave it unset"
        )
        raise CalendarError(f"unknown holidays_subdivision {subdivision!r}; {allowed}") from exc


def _check_dates(
    closed: Iterable[date], open_dates: Mapping[date, object] | None
) -> tuple[frozenset[date], Mapping[date, DayRanges]]:
    def is_date(value: object) -> bool:
        return isinstance(value, date) and not isinstance(value, datetime)

    closed_set = frozenset(closed)
    for day in closed_set:
        if not is_date(day):
            raise CalendarError(f"closed: {day!r} is not a datetime.date")
    special: dict[date, DayRanges] = {}
    for day, ranges in (open_dates or {}).items():
        if not is_date(day):
            raise CalendarError(f"open_dates: key {day!r} is not a datetime.date")
        if day in closed_set:
            raise CalendarError(
                f"{day.isoformat()} is both in closed and in open_dates; list it in one of them"
            )
        where = f"open_dates[{day.isoformat()}]"
        if isinstance(ranges, str) or (
            isinstance(ranges, list | tuple) and ranges and isinstance(ranges[0], str)
        ):
            special[day] = _parse_ranges(ranges, f"{where}: {ranges!r}")
        else:
            special[day] = _check_ranges(ranges, where)
    return closed_set, MappingProxyType(dict(sorted(special.items())))
