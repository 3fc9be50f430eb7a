"""The hand-off report: per hand-off pair (from team -> to team), how fast the receiving team
acted, recomputed from the history like the SLA board.

Every clock of a hand-off SLA (``handoff:`` in the language) records its pair when it starts
(``handoff: {from, to}`` on the ``started``/``rearmed`` event). A row counts those clocks: how
many hand-offs, met (the receiving team acted in time), breached, stopped (the lead moved on
another way, or a later hand-off superseded it), pending, the met rate and the median and 90th
percentile of the time to act (clock time: business time for business-hours SLAs; the
calendar time beside it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadflow.engine.sla.board import BoardSource, _Clock, _clocks, met_rate, public, spread

__all__ = ["HandoffReport", "HandoffRow", "handoff_report"]


@dataclass(slots=True)
class HandoffRow:
    """The figures of one hand-off pair under one SLA."""

    policy: str
    from_team: str | None
    """The team the lead left (None: no team, an unassigned lead or an owner in none)."""
    to_team: str
    count: int = 0
    """Hand-offs: clocks started in the window's leads, decided in it or still pending."""
    met: int = 0
    breached: int = 0
    stopped: int = 0
    pending: int = 0
    median_seconds: float | None = None
    """Median clock time from the hand-off to the receiving team's action, late ones too."""
    p90_seconds: float | None = None
    median_calendar_seconds: float | None = None
    """The same in calendar (wall) time."""
    p90_calendar_seconds: float | None = None
    _times: list[float] = field(default_factory=list, repr=False)
    _walls: list[float] = field(default_factory=list, repr=False)

    @property
    def met_rate(self) -> float | None:
        """Share of decided hand-offs (met or breached) that were met."""
        return met_rate(self.met, self.breached)

    def as_dict(self) -> dict[str, Any]:
        return public(self)


@dataclass(frozen=True, slots=True)
class HandoffReport:
    """The hand-off report of one process."""

    process: str
    since: datetime | None
    until: datetime | None
    rows: list[HandoffRow]

    def as_dict(self) -> dict[str, Any]:
        return {
            "process": self.process,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "rows": [r.as_dict() for r in self.rows],
        }


def _count(row: HandoffRow, clock: _Clock) -> None:
    if clock.outcome == "pending":
        row.pending += 1
        return
    setattr(row, clock.outcome, getattr(row, clock.outcome) + 1)
    if clock.acted is not None:
        row._times.append(clock.acted[0])
        if clock.acted[1] is not None:
            row._walls.append(max(0.0, clock.acted[1]))


def handoff_report(
    engine: BoardSource,
    process: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> HandoffReport:
    """Per SLA and hand-off pair of ``process``: hand-offs decided in ``[since, until)`` (and
    the pending ones), met, breached, stopped, the met rate and the time to act."""
    rows: dict[tuple[str, str | None, str], HandoffRow] = {}
    for item in _clocks(engine, process):
        if not isinstance(item, _Clock) or item.handoff is None:
            continue
        at = item.decided_at
        if at is not None and ((since and at < since) or (until and at >= until)):
            continue
        key = (item.policy, *item.handoff)
        row = rows.get(key) or rows.setdefault(key, HandoffRow(*key))
        row.count += 1
        _count(row, item)
    for row in rows.values():
        row.median_seconds, row.p90_seconds = spread(row._times)
        row.median_calendar_seconds, row.p90_calendar_seconds = spread(row._walls)
    ordered = sorted(rows.values(), key=lambda r: (r.policy, r.from_team or "", r.to_team))
    return HandoffReport(process, since, until, ordered)
