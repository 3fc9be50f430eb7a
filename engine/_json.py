"""JSON as leadflow stores it: compact, UTF-8, dates and datetimes as ISO-8601."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

__all__ = ["dumps", "to_json_value"]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} values cannot be stored as JSON")


_ENCODER = json.JSONEncoder(
    separators=(",", ":"), default=_json_default, ensure_ascii=False, allow_nan=False
)
"""One encoder for every call (``json.dumps`` with options builds a new one each time)."""


def dumps(value: Any) -> str:
    """Compact JSON; dates and datetimes as ISO-8601; NaN, infinities and other non-JSON
    values raise ``ValueError`` / ``TypeError``."""
    return _ENCODER.encode(value)


def to_json_value(value: Any) -> Any:
    """``value`` as it reads back from storage (tuples become lists, datetimes text);
    ``TypeError`` for values JSON cannot hold."""
    return json.loads(dumps(value))
