"""The due-timer sweep: fire SLA marks whose time has come, through the normal change path.

One transaction per batch claims due timers (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
workers share the load), locks their leads, plans each mark's effects (the mark's history row and
event, set fields, reassignment, a fired trigger with its guards) and writes them together with
the timer rows that replace the fired ones. A timer is thus deleted in the same transaction as its
effects: a crash at any point leaves it due, and it fires again, once, after restart. Effects are
recorded at the mark's due time, not at the time the sweep ran.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from leadflow.definitions import LadderStep, SlaPolicy
from leadflow.engine._compiler import CompiledProcess
from leadflow.engine._errors import LeadflowError, StorageError, TransactionConflict
from leadflow.engine._gc import gc_paused
from leadflow.engine._runtime import Runtime
from leadflow.engine.routing import plan_owner
from leadflow.engine.sla._clocks import EVENT_OF_LEVEL, Mark
from leadflow.engine.store import Change, DueTimer, InstanceRow, Tx
from leadflow.engine.telemetry import marks_fired

__all__ = ["RETRY_AFTER", "Sweep"]

log = logging.getLogger("leadflow.sweep")

RETRY_AFTER = timedelta(minutes=10)
"""How long a timer whose mark raised an unexpected error waits before it is tried again."""

_LEVEL_WORD = {"warning": "warned", "breach": "breached", "escalation": "escalated", "task": "task"}


class _Conflict(Exception):
    """A lead changed under the batch; redo it timer by timer."""


class Sweep:
    """Fires due timers of one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def run_due(self, now: datetime, limit: int = 500) -> int:
        """Fire every timer due at or before ``now``, ``limit`` per transaction; how many fired."""
        total = 0
        while True:
            done, more = self.sweep_once(now, limit)
            total += done
            if not more:
                return total

    def sweep_once(self, now: datetime, limit: int = 500) -> tuple[int, bool]:
        """One batch of up to ``limit`` due timers: (how many were processed, whether more may
        be due now). A batch that loses a race with another writer, or that raises, is redone
        timer by timer; a timer that keeps raising is postponed."""
        try:
            return self._batch(now, limit)
        except (_Conflict, TransactionConflict):
            done = self._one_by_one(now, limit)
        except StorageError:
            raise  # the database is away, not a mark's fault: the worker retries the round
        except Exception:
            # a bug or unexpected data in one mark must not hold up every other timer
            log.exception("a batch of due timers failed; retrying them one by one")
            done = self._one_by_one(now, limit)
        return done, done > 0

    def _one_by_one(self, now: datetime, limit: int) -> int:
        """Fire up to ``limit`` timers, one transaction each; a timer that fails is logged and
        postponed by :data:`RETRY_AFTER`, so the others go on."""
        done = 0
        for _ in range(limit):
            try:
                fired = self._batch(now, 1)[0]
            except (_Conflict, TransactionConflict):
                continue  # the lead changed meanwhile: the next pass sees its new state
            except StorageError:
                raise  # never postpone a mark because the database went away
            except Exception:
                log.exception("a due timer failed; postponing it by %s", RETRY_AFTER)
                fired = self._postpone_first(now)
            if fired == 0:
                break
            done += fired
        return done

    def _postpone_first(self, now: datetime) -> int:
        with self.runtime.store.transaction("postpone a failing timer") as tx:
            timers = tx.due_timers(now, 1)
            for timer in timers:
                tx.postpone_timer(timer.id, now + RETRY_AFTER)
        return len(timers)

    def _batch(self, now: datetime, limit: int) -> tuple[int, bool]:
        """Fire up to ``limit`` due timers in one transaction: (how many, whether more may be
        due: the batch was full, or a fired mark scheduled a timer that is already due)."""
        store = self.runtime.store
        with gc_paused(), store.transaction("sweep due timers") as tx:
            timers = tx.due_timers(now, limit)
            if not timers:
                return 0, False
            rows = tx.lock_instances(sorted({t.instance_id for t in timers}))
            stored = dict(rows)
            chains: dict[int, list[Change]] = {}
            stale: list[int] = []
            busy = 0
            for timer in timers:
                row = rows.get(timer.instance_id)
                if row is None:  # a change of this lead is being written: its turn comes next
                    busy += 1
                    continue
                chain = self._fire(tx, row, timer)
                if not chain:
                    stale.append(timer.id)
                    continue
                chains.setdefault(timer.instance_id, []).extend(chain)
                rows[timer.instance_id] = chain[-1].row
                plan_owner(tx, stored[timer.instance_id], chain[-1].row)
            # one UPDATE per lead: its last row, checked against the version the batch read
            finals = [(chain[-1].row, stored[iid].version) for iid, chain in chains.items()]
            if finals and not tx.update_instances(finals):
                raise _Conflict
            written = [c for chain in chains.values() for c in chain]
            tx.write_log(written)
            tx.delete_timers(stale)
        due_again = any(
            t is not None and t[1] <= now for c in written for t in (c.timers or {}).values()
        )
        marks_fired(self.runtime, [t.due_at for t in timers if t.instance_id in chains])
        done = len(timers) - busy
        return done, done > 0 and (len(timers) == limit or due_again)

    # -- one mark ------------------------------------------------------------------------------

    def _fire(self, tx: Tx, row: InstanceRow, timer: DueTimer) -> list[Change]:
        runtime = self.runtime
        compiled = runtime.compiled(row.process, row.definition_version)
        clock = row.sla.get(timer.policy)
        if clock is None:
            return []
        clock = {**clock, "n": dict(clock["n"])}
        policy = compiled.sla.by_id.get(timer.policy)
        mark = compiled.sla.fire_mark(timer.policy, timer.step, clock, row.data, timer.due_at)
        if policy is None or mark is None:
            return []
        at = timer.due_at
        actor = f"sla:{timer.policy}"
        after = row.copy()
        after.sla[timer.policy] = clock
        entry: dict[str, Any] = {
            "policy": timer.policy,
            "event": _LEVEL_WORD[mark.level],
            "mark": _mark_text(policy.policy, mark),
            "due": at.isoformat(),
            "elapsed": mark.amount.total_seconds(),
            "target": policy.matrix.of(clock).target.total_seconds(),
        }
        details: dict[str, Any] = {"sla": [entry]}
        ladder = policy.policy.ladder
        step = ladder[mark.index] if mark.level != "task" and mark.index >= 0 else None
        if mark.level == "task":
            entry["task"] = _task(policy.policy, mark)
        if step is not None:
            self._apply_step(tx, compiled, row, after, step, entry, details, at)
        change = runtime.planner.change(
            compiled,
            row,
            after,
            kind="sla",
            event_type=EVENT_OF_LEVEL[mark.level],
            at=at,
            actor=actor,
            details=details,
        )
        assigned = []
        if after.owner != row.owner:  # the reassignment is an event of its own for the CRMs
            assigned.append(
                runtime.planner.extra_event(
                    change.row,
                    "leadflow.lead.assigned",
                    at,
                    actor,
                    {"owner": after.owner, "previous_owner": row.owner},
                )
            )
            change.extra_events = [*(change.extra_events or ()), *assigned]
        if step is None or step.fire is None:
            return [change]
        return self._then_fire(
            tx, compiled, row, after, change, entry, details, step.fire, actor, assigned
        )

    def _apply_step(
        self,
        tx: Tx,
        compiled: CompiledProcess,
        row: InstanceRow,
        after: InstanceRow,
        step: LadderStep,
        entry: dict[str, Any],
        details: dict[str, Any],
        at: datetime,
    ) -> None:
        """A ladder step's message, field changes, reassignment and notifications, applied
        to ``after`` and recorded in the mark's ``entry`` and the change's ``details``."""
        if step.message:
            entry["message"] = step.message
        if step.set:
            merged, diff, issues = compiled.contract.merge(after.data, step.set)
            if issues:
                entry["set_failed"] = [f"{i.field}: {i.message}" for i in issues]
            else:
                after.data = merged
                if diff:
                    details["changes"] = diff
        if step.reassign is not None:
            decision = self.runtime.route(tx, compiled, after, at, team=step.reassign.team)
            entry["reassign"] = {
                "team": decision.team,
                "owner": decision.owner,
                "queued": decision.queued,
                "reason": decision.reason,
            }
            if decision.owner is not None and decision.owner != row.owner:
                after.owner = decision.owner
                details["owner"] = decision.owner
                details["previous_owner"] = row.owner
        if step.notify:
            entry["notify"] = self.runtime.recipients(compiled, after, step.notify)

    def _then_fire(
        self,
        tx: Tx,
        compiled: CompiledProcess,
        row: InstanceRow,
        after: InstanceRow,
        change: Change,
        entry: dict[str, Any],
        details: dict[str, Any],
        fire: Any,
        actor: str,
        assigned: list[tuple[str, str, str]],
    ) -> list[Change]:
        runtime = self.runtime
        at = change.at
        marked = change.row
        acts = (
            tx.activities(marked.id)
            if compiled.needs_activities(marked.stage, fire.trigger)
            else []
        )
        try:
            fired = runtime.planner.fire(
                compiled, marked.copy(), fire.trigger, dict(fire.data), actor, at, acts
            )
        except LeadflowError as exc:
            # the guard (or the stage) refuses: record why on the mark, change nothing else
            entry["fire"] = {"trigger": fire.trigger, "ok": False, "error": str(exc)}
            redo = runtime.planner.change(
                compiled,
                row,
                after,
                kind="sla",
                event_type=change.event_type,
                at=at,
                actor=actor,
                details=details,
                extra_events=assigned or None,
            )
            return [redo]
        return [change, fired]


def _task(policy: SlaPolicy, mark: Mark) -> dict[str, Any]:
    """The planned task a cadence mark stands for: activity, attempt n of total, title."""
    tasks = policy.tasks
    assert tasks is not None
    total = len(tasks.at)
    title = (
        (tasks.title or "{activity} attempt {n} of {total}")
        .replace("{activity}", tasks.activity)
        .replace("{n}", str(mark.index + 1))
        .replace("{total}", str(total))
    )
    return {"activity": tasks.activity, "n": mark.index + 1, "total": total, "title": title}


def _mark_text(policy: Any, mark: Mark) -> str:
    if mark.level == "task" or mark.index < 0:
        return _duration(mark.amount)
    return str(policy.ladder[mark.index].at)


def _duration(amount: timedelta) -> str:
    from leadflow.definitions import format_duration

    return format_duration(amount) if amount > timedelta(0) else "0s"
