"""One transaction for many mixed changes: the simulator's writer.

``start_many`` and ``fire_many`` batch one kind of change; a simulated minute holds arrivals,
recorded calls and fired triggers of many leads at once. :func:`apply_ops` plans them in order
through the engine's own planner (the same criteria, SLA clocks, routing and events as
``start``, ``record``, ``fire`` and ``update``) and writes them in one transaction: starts as
they come (routing needs their ids and sees the leads started before them), every other change
at the end with ``executemany``. A failed item (a guard, bad data) is reported and changes
nothing; the others go on. The simulator is the database's only writer, so a lost race is a bug.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from leadflow.engine._criteria import Activity
from leadflow.engine._errors import LeadflowError, LeadNotFound, StorageError
from leadflow.engine.routing import RoutingStore, plan_owner
from leadflow.engine.store import Change, InstanceRow

if TYPE_CHECKING:
    from leadflow.engine._engine import Engine

__all__ = ["Op", "apply_ops"]

Kind = Literal["start", "record", "fire", "update"]


@dataclasses.dataclass(slots=True)
class Op:
    """One change: ``name`` is the trigger (fire) or the activity type (record)."""

    kind: Kind
    lead_id: str
    at: datetime
    name: str | None = None
    data: Mapping[str, Any] | None = None
    owner: str | None = None
    actor: str | None = None


Outcome = InstanceRow | LeadflowError
"""The lead after an op, or why the op changed nothing."""


def apply_ops(engine: Engine, process: str, ops: Sequence[Op]) -> list[Outcome]:
    """Apply ``ops`` in order in one transaction; one outcome per op, in the same order."""
    planner = engine.runtime.planner
    out: list[Outcome] = []
    with engine.store.transaction(f"simulate {process}") as tx:
        compiled = engine.runtime.latest(tx, process)
        rows = tx.load_many(process, {o.lead_id for o in ops if o.kind != "start"})
        acts: dict[int, list[Activity]] = {}
        if compiled.reads_activities:
            acts = tx.activities_many(r.id for r in rows.values())
        read: dict[str, int] = {}
        latest: dict[str, Change] = {}
        log: list[Change] = []
        for op in ops:
            try:
                if op.kind == "start":
                    change = planner.start(compiled, op.lead_id, op.data, op.owner, op.actor, op.at)
                    routed = None
                    if op.owner is None and compiled.definition.routing:
                        routed = engine.runtime.route(tx, compiled, change.row, op.at, record=False)
                        change = planner.start(
                            compiled,
                            op.lead_id,
                            op.data,
                            routed.owner,
                            op.actor,
                            op.at,
                            routed.reason,
                        )
                    if not tx.apply([change]):
                        raise StorageError(f"simulate: cannot start {op.lead_id}")
                    if routed is not None and routed.team is not None:
                        RoutingStore.of(tx).record(
                            process, routed.team, change.row.id, routed.owner, op.at
                        )
                    acts[change.row.id] = []
                    change = engine.runtime.follow_rules(tx, change)  # rules, as start does
                    rows[op.lead_id] = change.row
                    out.append(change.row)
                    continue
                row = latest[op.lead_id].row if op.lead_id in latest else rows.get(op.lead_id)
                if row is None:
                    raise LeadNotFound(process, op.lead_id)
                plan = _plan(engine, compiled, row, op, acts.get(row.id, []))
            except LeadflowError as exc:
                out.append(exc)
                continue
            if plan is None:
                out.append(row)
                continue
            if plan.activity is not None:
                acts.setdefault(row.id, []).append(
                    Activity(plan.activity[0], op.at, plan.row.version)
                )
            read.setdefault(op.lead_id, row.version)
            chain = [plan, *engine.runtime.follow_ups(tx, compiled, plan, acts.get(row.id, []))]
            latest[op.lead_id] = chain[-1]
            plan_owner(tx, rows[op.lead_id], chain[-1].row)
            log.extend(chain)
            out.append(chain[-1].row)
        finals = sorted(latest.values(), key=_row_id)
        for change in finals:
            change.expected_version = read[change.row.lead_id]
        if finals and not tx.write_instances(finals):
            raise StorageError("simulate: another writer changed the simulation's database")
        tx.write_log(log)
    return out


def _plan(
    engine: Engine, compiled: Any, row: InstanceRow, op: Op, acts: list[Activity]
) -> Change | None:
    planner = engine.runtime.planner
    if op.kind == "fire":
        assert op.name is not None
        return planner.fire(compiled, row, op.name, op.data, op.actor, op.at, acts)
    if op.kind == "record":
        activity = planner.activity(row.process, row.lead_id, op.name, op.data)
        return planner.record(compiled, row, activity, op.actor, op.at)
    return planner.update(compiled, row, op.data or {}, op.actor, op.at)


def _row_id(change: Change) -> int:
    return change.row.id
