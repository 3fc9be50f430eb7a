"""Reading one lead: its history and its next steps."""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa

from leadflow.engine._runtime import Runtime
from leadflow.engine._types import HistoryEntry, NextSteps, PlaybookStatus, TriggerOption
from leadflow.engine.store.tables import history as history_table
from leadflow.engine.store.tables import instances as instances_table

__all__ = ["history", "next_steps"]


def history(runtime: Runtime, process: str, lead_id: str) -> list[HistoryEntry]:
    """Every change of the lead, oldest first."""
    h, i = history_table, instances_table
    query = (
        sa.select(
            h.c.seq,
            h.c.at,
            h.c.kind,
            h.c.trigger,
            h.c.from_stage,
            h.c.to_stage,
            h.c.actor,
            h.c.details,
        )
        .join(i, i.c.id == h.c.instance_id)
        .where(i.c.process == process, i.c.lead_id == lead_id)
        .order_by(h.c.seq)
    )
    rows = runtime.store.query(query, f"history of {process}/{lead_id}")
    if not rows:
        with runtime.store.transaction(f"get {process}/{lead_id}") as tx:
            runtime.load(tx, process, lead_id)  # raises the right lookup error
    dt = runtime.store.decode_time
    return [
        HistoryEntry(r[0], dt(r[1]), r[2], r[3], r[4], r[5], r[6], json.loads(r[7])) for r in rows
    ]


def next_steps(
    runtime: Runtime, process: str, lead_id: str, at: datetime | None = None
) -> NextSteps:
    """The stage's playbook progress and every allowed trigger with its criteria evaluated."""
    when = runtime.now(at)
    with runtime.store.transaction(f"next steps of {process}/{lead_id}") as tx:
        row = runtime.load(tx, process, lead_id)
        acts = tx.activities(row.id)
    compiled = runtime.compiled(process, row.definition_version)
    ctx = runtime.planner.context(compiled, row, row.data, {}, when, acts)
    done = {a.type for a in acts if a.seq > row.stage_seq and a.at <= when}
    playbook = [
        PlaybookStatus(p.id, p.title, p.template, p.activity_type, p.activity_type in done)
        for p in compiled.stages[row.stage].playbook
    ]
    options = []
    for transition, results in compiled.evaluate_options(ctx):
        criteria = [r for r in results if r.kind != "requires"]
        options.append(
            TriggerOption(
                trigger=transition.name,
                to=transition.to,
                ready=all(r.met for r in criteria),
                criteria=criteria,
                requires=transition.requires,
                title=transition.title,
            )
        )
    return NextSteps(process, lead_id, row.stage, row.closed, playbook, options)
