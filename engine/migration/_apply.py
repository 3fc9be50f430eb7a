"""Live migration, the database part: the dry run over all open leads, the batched apply.

Both read the open leads to migrate in instance-id order, ``batch`` at a time, and decide each
with :func:`leadflow.engine.migration._plan.assess`. The apply writes each batch's changes and the
run's progress (``lf_migrations``: last instance id, counts) in one transaction, version-checked
like every change; a batch that loses a race with another writer (a lead changed, or another
process advanced the run) is rolled back and read again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from leadflow.engine._compiler import CompiledProcess
from leadflow.engine._errors import TransactionConflict
from leadflow.engine.migration._plan import (
    BLOCKED,
    MOVED,
    OUTCOMES,
    SLA_POLICIES,
    InvalidMigration,
    LeadOutcome,
    assess,
    migrated_change,
)
from leadflow.engine.migration._runs import find_or_create_run
from leadflow.engine.store import Change, InstanceRow, Store, Tx

if TYPE_CHECKING:
    from leadflow.engine._engine import Engine

__all__ = [
    "BEFORE_COMMIT",
    "EXAMPLES",
    "MigrationPlan",
    "MigrationResult",
    "apply_migration",
    "plan_migration",
]

EXAMPLES = 10
"""Leads kept as examples per outcome in a plan or result."""
_RETRIES = 50

BEFORE_COMMIT: Callable[[int, int], None] | None = None
"""Test hook: called with (run id, last instance id of the batch) inside each batch's transaction
just before it commits. A crash test sets it to kill the process mid-apply; never set otherwise."""


def _empty() -> dict[str, int]:
    return dict.fromkeys(OUTCOMES, 0)


@dataclass(slots=True)
class MigrationPlan:
    """The dry run: how many open leads would move cleanly, need a mapping, fail criteria."""

    process: str
    to_version: int
    from_version: int | None
    mapping: dict[str, str]
    sla_policy: str
    at: datetime
    counts: dict[str, int] = field(default_factory=_empty)
    """Leads per outcome (see :data:`OUTCOMES`)."""
    examples: dict[str, list[LeadOutcome]] = field(default_factory=dict)
    """Up to :data:`EXAMPLES` leads per outcome."""
    unmet: dict[str, int] = field(default_factory=dict)
    """How many leads each criterion newly holds (``source/id``), for ``fails_criteria``."""
    by_version: dict[int, int] = field(default_factory=dict)
    """Open leads considered, per version they run on now."""

    @property
    def moved(self) -> int:
        """Leads that would move."""
        return sum(self.counts[o] for o in MOVED)

    @property
    def blocked(self) -> int:
        """Leads that would stay (``unmapped``, ``data_invalid``)."""
        return sum(self.counts[o] for o in BLOCKED)

    def add(self, outcome: LeadOutcome) -> None:
        """Count one lead's outcome."""
        self.counts[outcome.outcome] += 1
        shown = self.examples.setdefault(outcome.outcome, [])
        if len(shown) < EXAMPLES:
            shown.append(outcome)
        for c in outcome.criteria:
            key = f"{c.source.split(':')[0]}/{c.id}"
            self.unmet[key] = self.unmet.get(key, 0) + 1
        self.by_version[outcome.from_version] = self.by_version.get(outcome.from_version, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "process": self.process,
            "to_version": self.to_version,
            "from_version": self.from_version,
            "mapping": self.mapping,
            "sla_policy": self.sla_policy,
            "at": self.at.isoformat(),
            "counts": self.counts,
            "moved": self.moved,
            "blocked": self.blocked,
            "unmet": self.unmet,
            "by_version": {str(k): v for k, v in sorted(self.by_version.items())},
            "examples": {k: [o.as_dict() for o in v] for k, v in self.examples.items()},
        }


@dataclass(slots=True)
class MigrationResult(MigrationPlan):
    """What an apply did. ``counts`` are the run's (all its batches, across resumptions);
    ``examples``, ``unmet`` and ``by_version`` cover the leads this call processed."""

    run_id: int = 0
    status: str = "running"
    resumed: bool = False
    """Whether this call continued an unfinished run."""
    batches: int = 0
    """Batches this call committed."""
    force: str | None = None
    """The reason the call was forced past skipped criteria (None: not forced)."""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        out = MigrationPlan.as_dict(self)
        out.update(run_id=self.run_id, status=self.status, resumed=self.resumed)
        out["batches"] = self.batches
        out["force"] = self.force
        return out


# -- parameters --------------------------------------------------------------------------------


def _check(
    engine: Engine,
    process: str,
    to_version: int,
    mapping: Mapping[str, str] | None,
    sla_policy: str,
    from_version: int | None,
    batch: int = 1,
) -> tuple[CompiledProcess, dict[str, str], list[int]]:
    """The target, the mapping as a dict and the source versions; InvalidMigration if wrong."""
    problems: list[str] = []
    if sla_policy not in SLA_POLICIES:
        problems.append(f"SLA policy {sla_policy!r} is not one of: {', '.join(SLA_POLICIES)}")
    given: object = batch
    if isinstance(given, bool) or not isinstance(given, int) or batch < 1:
        problems.append(f"batch must be a whole number of at least 1, not {batch!r}")
    new = engine.runtime.compiled(process, to_version)  # UnknownProcess names what is deployed
    if from_version is not None:
        engine.runtime.compiled(process, from_version)
        if from_version == to_version:
            problems.append(f"from and to are both version {to_version}")
    sources = [
        v
        for v in engine.processes().get(process, [])
        if v != to_version and from_version in (None, v)
    ]
    known = {s for v in sources for s in engine.runtime.compiled(process, v).stages}
    stages = ", ".join(new.stages)
    out: dict[str, str] = {}
    given_map: list[tuple[object, object]] = list((mapping or {}).items())
    for old, target in given_map:
        if not isinstance(old, str) or not isinstance(target, str):
            problems.append(f"mapping {old!r}={target!r}: stage names are text")
            continue
        if old not in known:
            listed = ", ".join(sorted(known)) or "none"
            problems.append(
                f"mapping {old}={target}: '{old}' is not a stage of the versions migrated from "
                f"(stages: {listed})"
            )
        if target not in new.stages:
            problems.append(
                f"mapping {old}={target}: '{target}' is not a stage of version {to_version} "
                f"(stages: {stages})"
            )
        elif new.stages[target].closed is not None:
            problems.append(
                f"mapping {old}={target}: '{target}' is a closed stage of version {to_version}; "
                "migration moves open leads to open stages (close leads with a transition)"
            )
        out[old] = target
    if problems:
        raise InvalidMigration(process, problems)
    return new, out, sources


def _read(
    engine: Engine,
    tx: Tx,
    new: CompiledProcess,
    from_version: int | None,
    after: int,
    limit: int,
    *,
    lock: bool,
) -> list[tuple[InstanceRow, CompiledProcess, list[Any]]]:
    """The next ``limit`` open leads to migrate after instance id ``after`` (locked for update
    when ``lock``, on PostgreSQL), with their version and (when a criterion of either version
    reads them) their activities."""
    rows = tx.open_instances_not_on(new.process, new.version, from_version, after, limit, lock=lock)
    olds = {
        r.definition_version: engine.runtime.compiled(new.process, r.definition_version)
        for r in rows
    }
    need = [
        r.id for r in rows if new.reads_activities or olds[r.definition_version].reads_activities
    ]
    acts = tx.activities_many(need) if need else {}
    return [(r, olds[r.definition_version], acts.get(r.id, [])) for r in rows]


# -- dry run -----------------------------------------------------------------------------------


def plan_migration(
    engine: Engine,
    process: str,
    to_version: int,
    mapping: Mapping[str, str] | None = None,
    sla_policy: str = "keep",
    *,
    from_version: int | None = None,
    at: datetime | None = None,
    batch: int = 500,
) -> MigrationPlan:
    """What migrating the open leads of ``process`` (those on ``from_version``, or on any other
    version) to ``to_version`` would do at ``at``; writes nothing.

    ``mapping`` maps stages of the old versions to open stages of the new one. Raises
    :class:`InvalidMigration` for bad parameters and ``UnknownProcess`` for a version that is
    not deployed.
    """
    new, stages, _ = _check(engine, process, to_version, mapping, sla_policy, from_version, batch)
    when = engine.runtime.now(at)
    plan = MigrationPlan(process, to_version, from_version, stages, sla_policy, when)
    after = 0
    while True:
        with engine.store.transaction(f"plan the migration of {process}") as tx:
            rows = _read(engine, tx, new, from_version, after, batch, lock=False)
        if not rows:
            return plan
        for row, old, acts in rows:
            plan.add(assess(old, new, row, acts, stages, when))
        after = rows[-1][0].id


# -- apply -------------------------------------------------------------------------------------


class _Conflict(Exception):
    """A lead or the run changed under the batch: roll back, read again."""


def apply_migration(
    engine: Engine,
    process: str,
    to_version: int,
    mapping: Mapping[str, str] | None = None,
    sla_policy: str = "keep",
    *,
    from_version: int | None = None,
    at: datetime | None = None,
    batch: int = 500,
    actor: str | None = None,
    on_batch: Callable[[MigrationResult], None] | None = None,
    force: str | None = None,
) -> MigrationResult:
    """Migrate the open leads :func:`plan_migration` would move, ``batch`` per transaction.

    ``force`` (a reason, required non-blank) also moves the leads the mapping would block as
    ``skips_criteria``: they count as ``forced``, and each one's history row records the
    reason and the criteria skipped.

    Each migrated lead gets one history row (kind ``migrated``) and one
    ``leadflow.lead.migrated`` event; blocked leads stay on their version. Running the same
    migration again after a crash continues the unfinished run; an unfinished run with other
    parameters raises :class:`MigrationInProgress`. ``on_batch`` is called after each commit
    with the counts so far. ``at`` (default: the clock at each batch) is the time recorded.
    """
    if force is not None and (not isinstance(force, str) or not force.strip()):
        raise InvalidMigration(process, ["force needs a reason: why move leads past criteria"])
    new, stages, _ = _check(engine, process, to_version, mapping, sla_policy, from_version, batch)
    run, resumed = find_or_create_run(
        engine, process, from_version, to_version, stages, sla_policy, batch, actor
    )
    result = MigrationResult(
        process, to_version, from_version, stages, sla_policy, engine.runtime.now(at), run_id=run.id
    )
    result.resumed = resumed
    result.force = force.strip() if force is not None else None
    result.counts.update(run.counts)
    retries = 0
    while True:
        try:
            done = _apply_batch(engine, new, run.id, result, from_version, at, batch, actor)
        except (_Conflict, TransactionConflict):
            retries += 1
            if retries > _RETRIES:
                raise TransactionConflict(f"migrate {process} (run {run.id})") from None
            continue
        if done:
            result.status = "done"
            return result
        retries = 0
        result.batches += 1
        if on_batch is not None:
            on_batch(result)


def _apply_batch(
    engine: Engine,
    new: CompiledProcess,
    run_id: int,
    result: MigrationResult,
    from_version: int | None,
    at: datetime | None,
    batch: int,
    actor: str | None,
) -> bool:
    """Migrate the next batch and advance the run, in one transaction; True when none is left."""
    store = engine.store
    with store.transaction(f"migrate {new.process} (run {run_id})") as tx:
        last, counts, done = _run_progress(store, tx, new.process, run_id)
        if done:  # another process finished it meanwhile
            result.counts = counts
            return True
        when = engine.runtime.now(at)
        rows = _read(engine, tx, new, from_version, int(last), batch, lock=True)
        if not rows:
            _finish_run(store, tx, run_id, last, when)
            result.counts = counts
            return True
        changes, seen = _migrate_rows(engine, new, rows, result, counts, when, actor, run_id)
        if changes and not tx.write_instances(changes):
            raise _Conflict
        if changes:
            tx.write_log(changes)
        top = rows[-1][0].id
        _advance_run(store, tx, run_id, last, top, counts, when)
        if BEFORE_COMMIT is not None:
            BEFORE_COMMIT(run_id, top)
    result.counts = counts
    _note_outcomes(result, seen)
    return False


def _run_progress(
    store: Store, tx: Tx, process: str, run_id: int
) -> tuple[Any, dict[str, int], bool]:
    """The run's last instance id, its counts, and whether it is done; error unless running."""
    p = store.param
    tx.cur.execute(
        f"SELECT last_instance_id, counts, status FROM lf_migrations WHERE id = {p}",
        (run_id,),
    )
    last, counts_json, status = tx.cur.fetchone()
    if status == "done":
        return last, {**_empty(), **json.loads(counts_json)}, True
    if status != "running":
        raise InvalidMigration(process, [f"run {run_id} was {status} meanwhile"])
    return last, {**_empty(), **json.loads(counts_json)}, False


def _finish_run(store: Store, tx: Tx, run_id: int, last: Any, when: datetime) -> None:
    """Mark the run done, unless another process advanced it since ``last`` (a conflict)."""
    p = store.param
    tx.cur.execute(
        f"UPDATE lf_migrations SET status = 'done', updated_at = {p}, finished_at = {p} "
        f"WHERE id = {p} AND last_instance_id = {p} AND status = 'running'",
        (store.encode_time(when), store.encode_time(when), run_id, last),
    )
    if tx.cur.rowcount != 1:
        raise _Conflict  # another process advanced this run meanwhile


def _migrate_rows(
    engine: Engine,
    new: CompiledProcess,
    rows: list[tuple[InstanceRow, CompiledProcess, list[Any]]],
    result: MigrationResult,
    counts: dict[str, int],
    when: datetime,
    actor: str | None,
    run_id: int,
) -> tuple[list[Change], list[LeadOutcome]]:
    """Assess each lead (counting outcomes in ``counts``); the changes of those that move."""
    changes = []
    seen: list[LeadOutcome] = []
    for row, old, acts in rows:
        outcome = assess(old, new, row, acts, result.mapping, when)
        if outcome.outcome == "skips_criteria" and result.force is not None:
            outcome = replace(outcome, outcome="forced", reason=result.force)
        seen.append(outcome)
        counts[outcome.outcome] += 1
        if outcome.moves:
            changes.append(
                migrated_change(
                    engine.runtime.planner,
                    old,
                    new,
                    row,
                    outcome,
                    result.sla_policy,
                    when,
                    actor,
                    run_id,
                )
            )
    return changes, seen


def _advance_run(
    store: Store,
    tx: Tx,
    run_id: int,
    last: Any,
    top: int,
    counts: dict[str, int],
    when: datetime,
) -> None:
    """Move the run past instance ``top`` with ``counts``, unless another process moved it."""
    p = store.param
    tx.cur.execute(
        f"UPDATE lf_migrations SET last_instance_id = {p}, counts = {p}, updated_at = {p} "
        f"WHERE id = {p} AND last_instance_id = {p} AND status = 'running'",
        (top, json.dumps(counts), store.encode_time(when), run_id, last),
    )
    if tx.cur.rowcount != 1:
        raise _Conflict  # another process advanced (or abandoned) this run meanwhile


def _note_outcomes(result: MigrationResult, seen: list[LeadOutcome]) -> None:
    """Add a committed batch's outcomes to the examples, unmet criteria and version counts."""
    for outcome in seen:
        shown = result.examples.setdefault(outcome.outcome, [])
        if len(shown) < EXAMPLES:
            shown.append(outcome)
        for c in outcome.criteria:
            key = f"{c.source.split(':')[0]}/{c.id}"
            result.unmet[key] = result.unmet.get(key, 0) + 1
        result.by_version[outcome.from_version] = result.by_version.get(outcome.from_version, 0) + 1
