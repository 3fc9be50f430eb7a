"""Checks of the arguments of public calls: a wrong type is an :class:`InvalidArgument` naming
the argument, never an ``AttributeError`` from deep inside (``at="2026-01-01"``).

Each check is an ``isinstance`` or two: cheap enough for the hot path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from leadflow.definitions import INT32_MAX
from leadflow.engine._errors import InvalidArgument

__all__ = ["check_count", "check_items", "check_text_argument", "check_time", "check_version"]

_TIME = "an aware datetime, e.g. datetime(2026, 1, 31, 9, 0, tzinfo=UTC)"


def check_time(name: str, value: object) -> datetime | None:
    """``value`` when it is a datetime or None; else :class:`InvalidArgument` naming ``name``."""
    if value is None or isinstance(value, datetime):
        return value
    raise InvalidArgument(name, _TIME, value)


def check_text_argument(name: str, value: object) -> str:
    """``value`` when it is text; else :class:`InvalidArgument` naming ``name``."""
    if isinstance(value, str):
        return value
    raise InvalidArgument(name, "text", value)


def check_version(name: str, value: object) -> int | None:
    """A definition version (1 to 2147483647) or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(name, "a whole number (a definition version) or None", value)
    if not 1 <= value <= INT32_MAX:
        raise InvalidArgument(name, f"a version from 1 to {INT32_MAX}", value)
    return value


def check_count(name: str, value: object, low: int = 0) -> int:
    """A whole number from ``low`` to 2147483647."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(name, "a whole number", value)
    if not low <= value <= INT32_MAX:
        raise InvalidArgument(name, f"a whole number from {low} to {INT32_MAX}", value)
    return value


def check_items(name: str, value: object) -> Iterable[Any]:
    """An iterable of items that is not itself text or a mapping (``"abc"`` is not three ids)."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise InvalidArgument(name, "an iterable of items (a list, a generator)", value)
    return value
