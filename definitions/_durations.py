"""Durations as ops teams write them: ``30s``, ``5m``, ``4h``, ``14d``, ``2w``, ``1h30m``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

__all__ = ["Duration", "format_duration", "parse_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ORDER = "wdhms"
_PART = re.compile(r"([0-9]+)\s*([smhdw])")
_WHOLE = re.compile(r"^\s*(?:[0-9]+\s*[smhdw]\s*)+$")
PATTERN = r"^\s*(?:[0-9]+\s*[smhdw]\s*)+$"
"""The shorthand as a regular expression (for the JSON Schema)."""
MAX = timedelta(days=36525)
"""A hundred years: anything longer is a typo."""


def parse_duration(value: Any) -> timedelta:
    """Parse ``"14d"``-style text (or pass a ``timedelta`` through); raise ``ValueError``."""
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, str) and _WHOLE.match(value):
        parts = _PART.findall(value)
        units = [u for _, u in parts]
        if sum(int(n) for n, _ in parts) == 0:
            raise ValueError(f"{value!r}: a duration must be longer than zero")
        if units != sorted(set(units), key=_ORDER.index):
            raise ValueError(f"{value!r}: write each unit once, largest first (1h30m, not 30m1h)")
        seconds = sum(int(n) * _UNITS[u] for n, u in parts)
        if seconds > MAX.total_seconds():
            raise ValueError(f"{value!r} is longer than {MAX.days // 365} years")
        result = timedelta(seconds=seconds)
    else:
        raise ValueError(
            f"{value!r} is not a duration; write a number and a unit such as 30s, 5m, 4h, 14d, "
            "2w or 1h30m"
        )
    if result <= timedelta(0):
        raise ValueError(f"{value!r}: a duration must be longer than zero")
    return result


def format_duration(value: timedelta) -> str:
    """The shortest text that :func:`parse_duration` reads back as ``value``."""
    seconds = int(value.total_seconds())
    parts = []
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": PATTERN,
            "description": "a duration such as 30s, 5m, 4h, 14d, 2w or 1h30m",
        }
    ),
]
"""A positive ``timedelta`` read from ``5m``-style text and written back the same way."""
