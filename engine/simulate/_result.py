"""What a simulation reports, read back from its database with the engine's own reports.

Funnel conversion along the main path, the win rate, every SLA policy's met and breached
counts, reassignments by SLA marks and time in stage (median and 90th percentile) all come
from :mod:`leadflow.engine.reports` and :func:`sla_board` as of the end of the run, so a
simulation measures exactly what the reports would show in production.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from leadflow.engine import reports
from leadflow.engine.reports import sla_board
from leadflow.engine.simulate._adjustments import Adjustment
from leadflow.engine.simulate._refusals import Refusal
from leadflow.engine.store.tables import instances

if TYPE_CHECKING:
    from leadflow.engine._engine import Engine

__all__ = ["MetricDelta", "SimulationResult", "collect", "compare"]


@dataclass(frozen=True, slots=True)
class StepConversion:
    """Leads that reached ``to`` among those that reached ``source`` (main path)."""

    source: str
    to: str
    reached: int
    rate: float | None


@dataclass(frozen=True, slots=True)
class SlaOutcome:
    """One SLA policy's clocks at the end of the run."""

    policy: str
    met: int
    breached: int
    stopped: int
    pending: int

    @property
    def breach_rate(self) -> float | None:
        """Breached among the clocks that were met or breached."""
        decided = self.met + self.breached
        return self.breached / decided if decided else None


@dataclass(frozen=True, slots=True)
class StageTime:
    """Days spent in one open stage (visits still open count up to the end)."""

    stage: str
    visits: int
    median_days: float | None
    p90_days: float | None


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """The outcome of one :func:`~leadflow.engine.simulate.simulate` run."""

    process: str
    version: int
    source: str
    """``replay`` or ``generator``."""
    seed: int
    leads: int
    started_at: datetime
    """Simulated time of the first event."""
    ended_at: datetime
    """Simulated time the run stopped (the reports are as of then)."""
    wall_seconds: float
    stages: dict[str, int]
    """Leads per stage at the end."""
    funnel: tuple[StepConversion, ...]
    win_rate: float | None
    """Won among closed leads."""
    sla: tuple[SlaOutcome, ...]
    reassignments: int
    """Leads an SLA mark gave to another owner."""
    time_in_stage: tuple[StageTime, ...]
    refused: dict[str, int] = field(default_factory=dict)
    """Changes the definition refused, by kind and trigger (a guard, a stage with no path)."""
    refusals: tuple[Refusal, ...] = ()
    """The same refusals by reason (error code), each with an example message."""
    adjustments: tuple[Adjustment, ...] = ()
    """Rows a replay could not play exactly as written, and what it did instead (a time moved,
    a row left out), by kind."""
    changes: int = 0
    """Changes the source asked for."""
    marks: int = 0
    """SLA marks fired."""
    schedule_runs: int = 0
    """Schedule occurrences run: batch releases and digests, as a worker would."""

    @property
    def leads_per_second(self) -> float:
        """Simulated leads per second of wall time."""
        return self.leads / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def metrics(self) -> dict[str, float | None]:
        """The figures to compare, by name, in a stable order."""
        out: dict[str, float | None] = {"leads": self.leads}
        for name, count in self.stages.items():
            out[f"stage {name}"] = count
        for step in self.funnel:
            out[f"conversion {step.source} -> {step.to}"] = step.rate
        out["win rate"] = self.win_rate
        for sla in self.sla:
            out[f"sla {sla.policy} met"] = sla.met
            out[f"sla {sla.policy} breached"] = sla.breached
            out[f"sla {sla.policy} breach rate"] = sla.breach_rate
        out["reassignments"] = self.reassignments
        for row in self.time_in_stage:
            out[f"days in {row.stage} median"] = row.median_days
            out[f"days in {row.stage} p90"] = row.p90_days
        out["refused changes"] = sum(self.refused.values())
        if self.source == "replay":
            out["adjusted rows"] = len(self.adjustments)
        return out

    @property
    def adjusted(self) -> dict[str, int]:
        """Adjusted rows per kind (see :data:`~._adjustments.KINDS`)."""
        counts: dict[str, int] = {}
        for a in self.adjustments:
            counts[a.kind] = counts.get(a.kind, 0) + 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: every field, times as ISO 8601, plus the rates."""
        out = asdict(self)
        out["started_at"] = self.started_at.isoformat()
        out["ended_at"] = self.ended_at.isoformat()
        out["sla"] = [{**asdict(s), "breach_rate": s.breach_rate} for s in self.sla]
        out["leads_per_second"] = self.leads_per_second
        out["adjusted"] = self.adjusted
        return out


@dataclass(frozen=True, slots=True)
class MetricDelta:
    """One metric of two runs: ``b - a`` and ``(b - a) / a``."""

    metric: str
    a: float | None
    b: float | None
    delta: float | None
    relative: float | None


def compare(a: SimulationResult, b: SimulationResult) -> list[MetricDelta]:
    """Each metric of either run with its absolute and relative change from ``a`` to ``b``."""
    ma, mb = a.metrics(), b.metrics()
    out = []
    for name in [*ma, *(k for k in mb if k not in ma)]:
        x, y = ma.get(name), mb.get(name)
        delta = y - x if x is not None and y is not None else None
        relative = delta / x if delta is not None and x else None
        out.append(MetricDelta(name, x, y, delta, relative))
    return out


def collect(engine: Engine, process: str, end: datetime) -> dict[str, Any]:
    """The report figures of ``process`` as of ``end`` (fields of :class:`SimulationResult`)."""
    t = instances
    rows = engine.store.query(
        sa.select(t.c.stage, t.c.closed, sa.func.count())
        .where(t.c.process == process)
        .group_by(t.c.stage, t.c.closed),
        "count the simulated leads by stage",
    )
    definition = engine.definition(process)
    stages = dict.fromkeys(definition.stages, 0)
    closed: Counter[str] = Counter()
    for stage, outcome, count in rows:
        stages[stage] = stages.get(stage, 0) + int(count)
        if outcome:
            closed[outcome] += int(count)
    decided = closed["won"] + closed["lost"]
    funnel = reports.funnel(engine, process, as_of=end, cohort=None)
    steps = [
        StepConversion(prev.stage, row.stage, row.reached, row.conversion)
        for prev, row in zip(funnel.rows, funnel.rows[1:], strict=False)
    ]
    board = sla_board(engine, process)
    by_policy: dict[str, list[int]] = {}
    moved: dict[str | None, int] = {}
    for r in board.rows:
        counts = by_policy.setdefault(r.policy, [0, 0, 0, 0])
        for k, value in enumerate((r.met, r.breached, r.stopped, r.pending)):
            counts[k] += value
        moved[r.owner] = r.reassigned
    times = reports.time_in_stage(engine, process, as_of=end)
    return {
        "stages": stages,
        "funnel": tuple(steps),
        "win_rate": closed["won"] / decided if decided else None,
        "sla": tuple(SlaOutcome(p, *c) for p, c in sorted(by_policy.items())),
        "reassignments": sum(moved.values()),
        "time_in_stage": tuple(
            StageTime(r.stage, r.visits, r.median_days, r.p90_days) for r in times.rows
        ),
    }
