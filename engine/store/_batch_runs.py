"""Batch runs: one action (fire a trigger, or assign) on every lead a board filter matched.

A run is written with all its leads ``pending`` in one transaction, then worked through lead
by lead (each lead its own engine call, as the person who asked, so criteria and access rules
apply to each); every lead ends ``succeeded`` or ``failed`` with the reason. The counts of a
run are one grouped read, so a page can show succeeded / failed / pending as they move.
Runs live in the database: one left unfinished by a stopped server is picked up again. A server
process leases the run it works on (renewed every 100 leads), so two never work on one run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from leadflow.engine.access import Actor
from leadflow.engine.store._begin import begin
from leadflow.engine.store._store import Store
from leadflow.engine.store.tables import batch_items, batch_runs

__all__ = ["BATCH_STATUSES", "LEASE", "BatchRun", "BatchRuns"]

BATCH_STATUSES = ("pending", "succeeded", "failed")
"""What became of one lead of a run."""
_SHOWN_FAILURES = 100
LEASE = timedelta(minutes=1)
"""How long a server process holds a run it works on without renewing the lease."""


@dataclass(frozen=True, slots=True)
class BatchRun:
    """A batch run and where it stands."""

    id: int
    process: str
    action: str
    """``fire`` or ``assign``."""
    argument: str | None
    """The trigger fired, or the owner given (None: unassigned)."""
    filter: str
    """The board filter (a query string) whose leads it ran on."""
    actor: Actor
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    counts: dict[str, int] = field(default_factory=dict)
    """Leads per status of :data:`BATCH_STATUSES`."""
    failures: tuple[tuple[str, str], ...] = ()
    """(lead id, why) of the first failed leads."""

    @property
    def total(self) -> int:
        """Leads in the run."""
        return sum(self.counts.values())


class BatchRuns:
    """The batch runs in ``store``'s database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(
        self,
        process: str,
        action: str,
        argument: str | None,
        *,
        lead_ids: Sequence[str],
        filter: str,
        actor: Actor,
        by: str,
        at: datetime,
    ) -> int:
        """A new run of ``action`` on ``lead_ids`` (all pending); its id."""
        if action not in ("fire", "assign"):
            raise ValueError(f"action: fire or assign, not {action!r}")
        r = batch_runs
        values = {
            "process": process,
            "action": action,
            "argument": argument,
            "filter": filter,
            "actor": json.dumps({"id": actor.id, "role": actor.role, "team": actor.team}),
            "created_by": by,
            "created_at": at,
            "finished_at": None if lead_ids else at,
        }
        with begin(self.store, f"start a batch on {process}") as conn:
            key = conn.execute(sa.insert(r).values(**values)).inserted_primary_key
            assert key is not None
            run_id = int(key[0])
            items = [{"run_id": run_id, "lead_id": lead, "status": "pending"} for lead in lead_ids]
            for start in range(0, len(items), 1000):
                conn.execute(sa.insert(batch_items), items[start : start + 1000])
        return run_id

    def get(self, run_id: int) -> BatchRun | None:
        """The run with its counts and first failures, or None."""
        r, i = batch_runs, batch_items
        rows = self.store.query(sa.select(r).where(r.c.id == run_id), f"read batch {run_id}")
        if not rows:
            return None
        counts = dict.fromkeys(BATCH_STATUSES, 0)
        grouped = sa.select(i.c.status, sa.func.count()).where(i.c.run_id == run_id)
        for status, n in self.store.query(grouped.group_by(i.c.status), "count a batch"):
            counts[str(status)] = int(n)
        failed = (
            sa.select(i.c.lead_id, i.c.message)
            .where(i.c.run_id == run_id, i.c.status == "failed")
            .order_by(i.c.lead_id)
            .limit(_SHOWN_FAILURES)
        )
        failures = tuple((str(a), str(b or "")) for a, b in self.store.query(failed, "failures"))
        m = rows[0]
        who = json.loads(m.actor)
        finished = m.finished_at
        return BatchRun(
            run_id,
            str(m.process),
            str(m.action),
            m.argument,
            str(m.filter),
            Actor(who["id"], who["role"], who.get("team")),
            str(m.created_by),
            self.store.decode_time(m.created_at),
            None if finished is None else self.store.decode_time(finished),
            counts,
            failures,
        )

    def pending(self, run_id: int, limit: int = 100) -> list[str]:
        """Up to ``limit`` leads of the run still to do."""
        i = batch_items
        query = (
            sa.select(i.c.lead_id)
            .where(i.c.run_id == run_id, i.c.status == "pending")
            .order_by(i.c.lead_id)
            .limit(limit)
        )
        return [str(row[0]) for row in self.store.query(query, f"batch {run_id}")]

    def settle(self, run_id: int, lead_id: str, message: str | None) -> bool:
        """Mark a pending lead done: succeeded (``message`` None) or failed with ``message``.
        False when it was not pending any more (another worker settled it)."""
        i = batch_items
        status = "succeeded" if message is None else "failed"
        with begin(self.store, f"batch {run_id}") as conn:
            done = conn.execute(
                sa.update(i)
                .where(i.c.run_id == run_id, i.c.lead_id == lead_id, i.c.status == "pending")
                .values(status=status, message=message)
            )
        return done.rowcount == 1

    def fail_pending(self, run_id: int, message: str) -> int:
        """Mark every lead of the run still pending failed with ``message`` (the run stops);
        how many."""
        i = batch_items
        with begin(self.store, f"stop batch {run_id}") as conn:
            done = conn.execute(
                sa.update(i)
                .where(i.c.run_id == run_id, i.c.status == "pending")
                .values(status="failed", message=message)
            )
        return int(done.rowcount)

    def lease(self, run_id: int, owner: str, now: datetime, hold: timedelta = LEASE) -> bool:
        """Take (or renew) the run for ``owner`` until ``now + hold``: False when it is
        finished or another owner's lease still runs, so that two server processes never
        work on one run."""
        r = batch_runs
        free = sa.or_(r.c.lease_until.is_(None), r.c.lease_until < now, r.c.lease_owner == owner)
        with begin(self.store, f"lease batch {run_id}") as conn:
            taken = conn.execute(
                sa.update(r)
                .where(r.c.id == run_id, r.c.finished_at.is_(None), free)
                .values(lease_owner=owner, lease_until=now + hold)
            )
        return taken.rowcount == 1

    def finish(self, run_id: int, at: datetime) -> None:
        """Mark the run finished (no lead pending any more)."""
        r = batch_runs
        with begin(self.store, f"finish batch {run_id}") as conn:
            conn.execute(
                sa.update(r)
                .where(r.c.id == run_id, r.c.finished_at.is_(None))
                .values(finished_at=at)
            )

    def unfinished(self) -> list[int]:
        """The ids of runs not finished yet, oldest first."""
        r = batch_runs
        query = sa.select(r.c.id).where(r.c.finished_at.is_(None)).order_by(r.c.id)
        return [int(row[0]) for row in self.store.query(query, "unfinished batches")]
