"""JSON as leadflow stores it: compact, UTF-8, dates and datetimes as ISO-8601.

Documents are encoded with orjson (measured on the hot path: 0.3 us for a transition's history
details against 3-12 us for the standard library's encoder); what orjson refuses (integers
beyond 64 bits, lone surrogates) goes to the standard library's encoder, which also keeps the
error messages for values JSON cannot hold. Values reach :func:`dumps` checked already (the
data contract refuses NaN and infinities; :func:`to_json_value`, the checker, is strict).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import orjson

__all__ = ["dumps", "loads", "to_json_value"]


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


_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(value: Any) -> str:
    """Compact JSON; dates and datetimes as ISO-8601; values JSON cannot hold raise
    ``TypeError``. Use :func:`to_json_value` to check values from outside first."""
    try:
        return orjson.dumps(value, default=_json_default, option=_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError: the standard encoder decides
        return _ENCODER.encode(value)


def loads(text: str | bytes) -> Any:
    """A stored JSON document (orjson; what it refuses, such as integers beyond 64 bits, goes
    to the standard library's decoder)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def to_json_value(value: Any) -> Any:
    """``value`` as it reads back from storage (tuples become lists, datetimes text);
    ``TypeError`` for values JSON cannot hold, ``ValueError`` for NaN and infinities."""
    return json.loads(_ENCODER.encode(value))
