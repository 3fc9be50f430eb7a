"""Which live leads a definition change touches: ``leadflow diff OLD NEW --db URL``.

Leads stay on the definition version they started in; the impact is what the changes would
mean for the open leads of OLD's version if they ran under NEW. For each change it gives:

- ``leads``: the open leads of OLD's version in the stages the change touches (a count per stage,
  one grouped query);
- ``unmet``: for an exit criterion or guard added or changed, how many of those leads do not
  meet the NEW criterion now (evaluated with the engine's own compiled criteria against each
  lead's data and recorded activities, at the engine's clock time). Other changes leave it None.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from leadflow.definitions import Criterion, DefinitionChange, ProcessDefinition, diff_definitions
from leadflow.engine._clock import as_utc
from leadflow.engine._compiler import CompiledProcess
from leadflow.engine._criteria import CompiledCriterion, EvalContext, compile_criterion
from leadflow.engine._engine import Engine
from leadflow.engine.store import InstanceRow
from leadflow.engine.store.tables import instances

__all__ = ["ChangeImpact", "DiffImpact", "diff_impact"]

_BATCH = 500
_CRITERIA_KINDS = ("exit-criterion-added", "exit-criterion-changed", "guard-added", "guard-changed")


@dataclass(frozen=True, slots=True)
class ChangeImpact:
    """A change and the open leads of the old version it touches."""

    change: DefinitionChange
    leads: int
    """Open leads of the old version in the stages the change touches."""
    unmet: int | None = None
    """Of those, how many do not meet the new criterion now (criterion changes only)."""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {**self.change.as_dict(), "leads": self.leads, "unmet": self.unmet}


@dataclass(frozen=True, slots=True)
class DiffImpact:
    """The changes from OLD to NEW with the live leads of OLD's version each one touches."""

    process: str
    version: int
    """OLD's version: the leads counted run on it."""
    open_leads: int
    by_stage: dict[str, int]
    """Open leads of OLD's version per stage."""
    changes: list[ChangeImpact] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "process": self.process,
            "version": self.version,
            "open_leads": self.open_leads,
            "by_stage": self.by_stage,
            "changes": [c.as_dict() for c in self.changes],
        }


def _counts(engine: Engine, process: str, version: int) -> dict[str, int]:
    t = instances
    rows = engine.store.query(
        sa.select(t.c.stage, sa.func.count())
        .where(t.c.process == process, t.c.definition_version == version, t.c.closed.is_(None))
        .group_by(t.c.stage),
        f"count open leads of {process} v{version}",
    )
    return {str(stage): int(n) for stage, n in rows}


def _rows(engine: Engine, process: str, version: int, stage: str) -> Iterator[list[InstanceRow]]:
    """Open leads of ``process`` v``version`` in ``stage``, in batches with their activities."""
    t = instances
    ids = [
        r[0]
        for r in engine.store.query(
            sa.select(t.c.lead_id)
            .where(
                t.c.process == process,
                t.c.definition_version == version,
                t.c.stage == stage,
                t.c.closed.is_(None),
            )
            .order_by(t.c.id),
            f"list open leads of {process} in {stage}",
        )
    ]
    for i in range(0, len(ids), _BATCH):
        with engine.store.transaction(f"read leads of {process} in {stage}") as tx:
            yield list(tx.load_many(process, ids[i : i + _BATCH]).values())


def _criterion(new: ProcessDefinition, change: DefinitionChange) -> Criterion | None:
    """The NEW criterion a criterion change is about."""
    pool: Sequence[Criterion] = ()
    if change.transition is not None and change.transition < len(new.transitions):
        pool = new.transitions[change.transition].guard
    elif change.stages and change.stages[0] in new.stages:
        pool = new.stages[change.stages[0]].exit_criteria
    return next((c for c in pool if c.id == change.criterion), None)


def _unmet(
    engine: Engine,
    old: ProcessDefinition,
    compiled: CompiledProcess,
    check: CompiledCriterion,
    stages: tuple[str, ...],
    now: datetime,
) -> int:
    count = 0
    for stage in stages:
        for batch in _rows(engine, old.process, old.version, stage):
            with engine.store.transaction(f"read activities of {old.process}") as tx:
                acts = tx.activities_many([r.id for r in batch])
            for row in batch:
                ctx = EvalContext(
                    lead=row.data,
                    payload={},
                    stage=row.stage,
                    stage_entered_at=row.stage_entered_at,
                    stage_seq=row.stage_seq,
                    now=now,
                    owner=row.owner,
                    activities=acts.get(row.id, []),
                    contract=compiled.contract,
                )
                if not check.result(ctx).met:
                    count += 1
    return count


def diff_impact(
    engine: Engine,
    old: ProcessDefinition,
    new: ProcessDefinition,
    changes: list[DefinitionChange] | None = None,
    at: datetime | None = None,
) -> DiffImpact:
    """The changes from ``old`` to ``new`` (computed when not given) with the open leads of
    ``old``'s version in ``engine``'s database that each touches."""
    changes = diff_definitions(old, new) if changes is None else changes
    by_stage = _counts(engine, old.process, old.version)
    now = as_utc(at) if at is not None else as_utc(engine.clock.now())
    compiled = CompiledProcess(new) if any(c.kind in _CRITERIA_KINDS for c in changes) else None
    out: list[ChangeImpact] = []
    for change in changes:
        leads = sum(by_stage.get(s, 0) for s in change.stages)
        unmet = None
        criterion = _criterion(new, change) if change.kind in _CRITERIA_KINDS else None
        if compiled is not None and criterion is not None:
            check = compile_criterion(criterion, "diff", new, compiled.activity_types)
            unmet = _unmet(engine, old, compiled, check, change.stages, now) if leads else 0
        out.append(ChangeImpact(change, leads, unmet))
    return DiffImpact(old.process, old.version, sum(by_stage.values()), by_stage, out)
