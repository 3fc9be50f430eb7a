"""The live heat of a process for its diagram: open leads per stage and their median time there.

One query answers it on SQLite and PostgreSQL alike: a window over the open leads of the
process (``closed IS NULL``, every definition version) numbers each stage's leads by
``stage_entered_at`` and counts them, and only the one or two middle rows of each stage come
back. The database sorts; Python sees at most two rows per stage, however many leads there are,
and the counts and medians come from one snapshot. Ages are measured at the engine's clock.

Heat levels put each count on a five-step colour scale relative to the busiest stage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from leadflow.engine._clock import as_utc
from leadflow.engine._engine import Engine
from leadflow.engine.store.tables import instances

__all__ = [
    "HEAT_COLOURS",
    "HeatMap",
    "StageHeat",
    "format_age",
    "heat_buckets",
    "heat_level",
    "stage_heat",
]

HEAT_COLOURS: tuple[tuple[str, str], ...] = (
    ("#fff5eb", "#000000"),
    ("#fdd0a2", "#000000"),
    ("#fd8d3c", "#000000"),
    ("#d94801", "#ffffff"),
    ("#7f2704", "#ffffff"),
)
"""Fill and text colour of heat levels 1 to 5 (ColorBrewer Oranges): few leads to most."""


@dataclass(frozen=True, slots=True)
class StageHeat:
    """The open leads in one stage."""

    leads: int
    """How many open leads sit in the stage now."""
    median_age: timedelta
    """The median of (now - the time each entered the stage)."""


@dataclass(frozen=True, slots=True)
class HeatMap:
    """Open leads of a process by stage, measured at ``as_of``."""

    process: str
    as_of: datetime
    version: int | None = None
    """Only leads of this definition version were counted (None: every version)."""
    stages: dict[str, StageHeat] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Open leads in every stage."""
        return sum(s.leads for s in self.stages.values())

    @property
    def busiest(self) -> int:
        """The most open leads any one stage holds (0 when there are none)."""
        return max((s.leads for s in self.stages.values()), default=0)


def stage_heat(
    engine: Engine, process: str, version: int | None = None, now: datetime | None = None
) -> HeatMap:
    """Open leads of ``process`` per stage with their median time in stage at ``now``.

    ``now`` defaults to the engine's clock. Leads of every definition version count unless
    ``version`` is given: a lead stays on the version it started in, and the diagram shows where
    the live pipeline is.
    """
    when = as_utc(now) if now is not None else as_utc(engine.clock.now())
    t = instances
    where = [t.c.process == process, t.c.closed.is_(None)]
    if version is not None:
        where.append(t.c.definition_version == version)
    inner = (
        sa.select(
            t.c.stage,
            t.c.stage_entered_at.label("entered"),
            sa.func.count().over(partition_by=t.c.stage).label("n"),
            sa.func.row_number()
            .over(partition_by=t.c.stage, order_by=(t.c.stage_entered_at, t.c.id))
            .label("rn"),
        )
        .where(*where)
        .subquery()
    )
    middle = sa.select(inner.c.stage, inner.c.n, inner.c.entered).where(
        sa.or_(inner.c.rn == (inner.c.n + 1) // 2, inner.c.rn == inner.c.n // 2 + 1)
    )
    rows = engine.store.query(middle, f"count the live leads of {process}")
    entered: dict[str, list[datetime]] = {}
    counts: dict[str, int] = {}
    for stage, n, at in rows:
        counts[stage] = int(n)
        entered.setdefault(stage, []).append(engine.store.decode_time(at))
    stages: dict[str, StageHeat] = {}
    for stage in sorted(counts):
        middles = sorted(entered[stage])
        mid = middles[0] + (middles[-1] - middles[0]) / 2
        stages[stage] = StageHeat(counts[stage], max(when - mid, timedelta(0)))
    return HeatMap(process, when, version, stages)


def format_age(age: timedelta) -> str:
    """A time in stage for a label, to its two largest units: ``3d 4h``, ``5h 12m``, ``40s``."""
    seconds = int(age.total_seconds())
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    parts: list[str] = []
    for suffix, size in units:
        amount, seconds = divmod(seconds, size)
        if amount or parts:
            parts.append(f"{amount}{suffix}")
        if len(parts) == 2:
            break
    if not parts:
        return "0s"
    if len(parts) == 2 and parts[1][0] == "0":
        parts.pop()
    return " ".join(parts)


def heat_level(leads: int, busiest: int) -> int:
    """The colour step of a stage holding ``leads``: 0 for none, else 1 to 5 of ``busiest``."""
    if leads <= 0 or busiest <= 0:
        return 0
    steps = len(HEAT_COLOURS)
    return min(steps, max(1, math.ceil(leads * steps / busiest)))


def heat_buckets(busiest: int) -> list[tuple[int, int, int]]:
    """The legend: ``(level, lowest, highest)`` lead counts of each level in use, in order."""
    steps = len(HEAT_COLOURS)
    out: list[tuple[int, int, int]] = []
    for level in range(1, steps + 1):
        # heat_level(n) == level exactly when (level-1)*busiest/steps < n <= level*busiest/steps
        lowest, highest = (level - 1) * busiest // steps + 1, level * busiest // steps
        if lowest <= highest:
            out.append((level, lowest, highest))
    return out
