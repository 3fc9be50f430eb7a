"""Helpers of the re-arming and hand-off SLA tests: a start time, minutes after it, and the
SLA history entries of one policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from leadflow.engine import Engine

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""A Monday, 09:00 UTC."""


def at(minutes: int) -> datetime:
    """``minutes`` after :data:`T0`."""
    return T0 + timedelta(minutes=minutes)


def sla_events(engine: Engine, process: str, lead: str, policy: str) -> list[dict[str, Any]]:
    """Every SLA entry of one policy, with the time of its change (``at``), in history order."""
    return [
        {**e, "at": h.at}
        for h in engine.history(process, lead)
        for e in h.details.get("sla", ())
        if e["policy"] == policy
    ]
