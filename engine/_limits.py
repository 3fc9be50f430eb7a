"""How large one value of lead or activity data may be: a bound on what one call can store.

A 50 MB string written twice made a 100 MB history row, a 100 MB outbox event and a 367 MB
database. Each text value, and each list or JSON value as its compact JSON, may be at most
``max_value_bytes`` bytes (UTF-8); a larger one is refused with :class:`InvalidData` naming the
field, before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from leadflow.engine._errors import FieldIssue
from leadflow.engine._json import dumps

__all__ = ["DEFAULT_MAX_VALUE_BYTES", "oversized", "size_of"]

DEFAULT_MAX_VALUE_BYTES = 65_536
"""64 KiB: far above a CRM field or note (Salesforce's long text area holds 131,072 characters
at most; HubSpot's properties 65,536), far below what makes rows and events unwieldy."""


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
                    "(Engine(max_value_bytes=...) sets it)",
                )
            )
    return issues
