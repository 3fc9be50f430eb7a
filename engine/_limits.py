"""How large one value of lead or activity data may be: a bound on what one call can store.

A 50 MB string written twice made a 100 MB history row, a 100 MB outbox event and a 367 MB
database. Each text value, and each list or JSON value as its compact JSON, may be at most
``max_value_bytes`` bytes (UTF-8); a larger one is refused with :class:`InvalidData` naming the
field, before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from leadflow.engine._errors import FieldIssue
from leadflow.engine._json import dumps

__all__ = [
    "DEFAULT_MAX_VALUE_BYTES",
    "MAX_VALUE_BYTES_ENV",
    "max_value_bytes_from_env",
    "oversized",
    "size_of",
]

DEFAULT_MAX_VALUE_BYTES = 65_536
"""64 KiB: far above a CRM field or note (Salesforce's long text area holds 131,072 characters
at most; HubSpot's properties 65,536), far below what makes rows and events unwieldy."""

MAX_VALUE_BYTES_ENV = "LEADFLOW_MAX_VALUE_BYTES"
"""The environment variable the CLI, the worker and the service read the limit from."""

_SIZE = re.compile(r"\s*(\d+)\s*(B|KB|KiB|MB|MiB)?\s*", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2}


def max_value_bytes_from_env(environ: Mapping[str, str]) -> int:
    """``$LEADFLOW_MAX_VALUE_BYTES`` as bytes (a whole number, optionally with a unit: B, KB,
    KiB, MB, MiB), or the default when it is unset or empty; :class:`ValueError` naming the
    variable, its value and what is allowed otherwise."""
    text = environ.get(MAX_VALUE_BYTES_ENV, "")
    if not text.strip():
        return DEFAULT_MAX_VALUE_BYTES
    found = _SIZE.fullmatch(text)
    if found is None or int(found.group(1)) < 1:
        raise ValueError(
            f"{MAX_VALUE_BYTES_ENV}={text!r} is not a size: give a whole number of bytes of at "
            "least 1, optionally with a unit (65536, 64KiB, 1MiB, 100KB)"
        )
    return int(found.group(1)) * _UNITS[(found.group(2) or "b").lower()]


def size_of(value: Any) -> int:
    """The bytes a value takes in storage: UTF-8 text, or compact JSON for lists and maps."""
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, (list, tuple, dict)):
        return len(dumps(value).encode("utf-8", "surrogatepass"))
    return 0  # numbers, booleans: bounded by their type


def oversized(values: Iterable[tuple[str, Any]], limit: int) -> list[FieldIssue]:
    """A :class:`FieldIssue` for each (name, value) larger than ``limit`` bytes."""
    issues = []
    for name, value in values:
        if isinstance(value, str) and len(value) * 4 <= limit:
            continue  # the common case: short text cannot exceed the limit, however encoded
        size = size_of(value)
        if size > limit:
            issues.append(
                FieldIssue(
                    name,
                    f"is {size:,} bytes, over the limit of {limit:,} bytes per value "
                    f"(Engine(max_value_bytes=...) sets it; {MAX_VALUE_BYTES_ENV} for the CLI, "
                    "the worker and the service)",
                )
            )
    return issues
