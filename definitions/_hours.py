"""Weekly working hours as ops teams write them: ``{"mon-fri": "09:00-17:00"}``.

Keys are days (``mon`` ... ``sun``), ranges of days (``mon-fri``) or lists (``mon,wed``); values are
one time range (``09:00-17:00``) or a list of them. ``24:00`` may end a range; a range never runs
past midnight (write the next day separately).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from datetime import time

__all__ = ["DAYS", "WeeklyHours", "parse_hours"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WeeklyHours = dict[int, tuple[tuple[time, time], ...]]
"""Weekday (0 = Monday) -> sorted, non-overlapping (start, end) local times (24:00 = time.max)."""

_RANGE = re.compile(r"^\s*([0-9]{1,2}):([0-9]{2})\s*-\s*([0-9]{1,2}):([0-9]{2})\s*$")


def _days(key: str) -> list[int]:
    out: list[int] = []
    for part in key.lower().replace(" ", "").split(","):
        if "-" in part:
            first, _, last = part.partition("-")
            if first not in DAYS or last not in DAYS:
                raise ValueError(f"'{key}': days are {', '.join(DAYS)}, or ranges such as mon-fri")
            a, b = DAYS.index(first), DAYS.index(last)
            if b < a:
                raise ValueError(f"'{key}': a day range runs forward in the week (mon-fri)")
            out.extend(range(a, b + 1))
        elif part in DAYS:
            out.append(DAYS.index(part))
        else:
            raise ValueError(f"'{key}': days are {', '.join(DAYS)}, or ranges such as mon-fri")
    return out


def _clock(hour: str, minute: str, text: str, *, end: bool) -> time:
    h, m = int(hour), int(minute)
    if end and (h, m) == (24, 0):
        return time.max
    if h > 23 or m > 59:
        raise ValueError(f"'{text}' is not a time range; write HH:MM-HH:MM such as 09:00-17:00")
    return time(h, m)


def parse_hours(spec: Mapping[str, str | list[str] | tuple[str, ...]]) -> WeeklyHours:
    """The weekly hours ``spec`` stands for; ``ValueError`` naming the key or value at fault."""
    out: dict[int, list[tuple[time, time]]] = {}
    for key, value in spec.items():
        days = _days(key)
        texts = [value] if isinstance(value, str) else list(value)
        ranges: list[tuple[time, time]] = []
        for text in texts:
            found = _RANGE.match(text) if isinstance(text, str) else None
            if not found:
                raise ValueError(
                    f"'{key}': {text!r} is not a time range; write HH:MM-HH:MM such as 09:00-17:00"
                )
            start = _clock(found.group(1), found.group(2), text, end=False)
            stop = _clock(found.group(3), found.group(4), text, end=True)
            if stop <= start:
                raise ValueError(
                    f"'{key}': {text} ends before it starts; a range cannot run past midnight "
                    "(write the next day on its own)"
                )
            ranges.append((start, stop))
        for day in days:
            if day in out:
                raise ValueError(f"'{key}': {DAYS[day]} is listed twice")
            merged = sorted(ranges)
            for (_, a_end), (b_start, _) in itertools.pairwise(merged):
                if b_start < a_end:
                    raise ValueError(f"'{key}': the time ranges overlap")
            out[day] = merged
    if not any(out.values()):
        raise ValueError("no working hours: list at least one day with a time range")
    return {day: tuple(ranges) for day, ranges in sorted(out.items())}
