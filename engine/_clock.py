"""The only source of "now" in leadflow: an injectable clock.

Every engine call takes ``at=`` to state when something happened; without it the engine asks its
clock. Tests and simulations use :class:`leadflow.engine.testing.ManualClock`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock", "as_utc"]


@runtime_checkable
class Clock(Protocol):
    """Tells the current time as a timezone-aware UTC ``datetime``."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The wall clock: the default outside tests and simulations."""

    def now(self) -> datetime:
        """The current wall-clock time in UTC."""
        return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; naive datetimes are refused (a time without a zone is ambiguous)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{value.isoformat()} has no timezone; pass an aware datetime "
            "(for example datetime(..., tzinfo=UTC))"
        )
    return value.astimezone(UTC)
