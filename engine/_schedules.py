"""Cron-like schedules declared in definitions: batch releases of queued leads, SLA digests.

Each (process, schedule) has one row in ``lf_schedule_runs`` holding the last occurrence that ran.
Running a schedule locks that row, finds the latest occurrence due since then (missed occurrences
are coalesced into one: a worker that was down all weekend releases once, not three times), runs
it and moves the row forward, all in one transaction; so an occurrence runs once however many
workers look at it. The first time a schedule is seen, its row starts at the deployment time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from leadflow.definitions import Schedule
from leadflow.engine._events import encode_event, event_id
from leadflow.engine._runtime import Runtime
from leadflow.engine.routing import RoutingStore
from leadflow.engine.store import Tx

__all__ = ["DIGEST", "ScheduleInfo", "ScheduleRun", "ScheduleRunner", "occurrence"]

DIGEST = "leadflow.sla.digest"
"""The event type of SLA digests (``subject``: the schedule's name; no lead)."""

_MAX_STEPS = 100_000
_SECOND = timedelta(seconds=1)


def _trigger(schedule: Schedule) -> CronTrigger:
    return CronTrigger.from_crontab(schedule.cron, timezone=schedule.timezone)


def occurrence(schedule: Schedule, after: datetime, until: datetime) -> datetime | None:
    """The latest occurrence of ``schedule`` in ``(after, until]``, or None."""
    trigger = _trigger(schedule)
    found = None
    nxt = trigger.get_next_fire_time(None, after)
    steps = 0
    while nxt is not None and nxt <= until and steps < _MAX_STEPS:
        if nxt > after:
            found = nxt
        nxt = trigger.get_next_fire_time(nxt, nxt.replace(microsecond=0) + _SECOND)
        steps += 1
    return found.astimezone(UTC) if found is not None else None


def next_occurrence(schedule: Schedule, after: datetime) -> datetime | None:
    """The first occurrence of ``schedule`` after ``after``."""
    trigger = _trigger(schedule)
    nxt: datetime | None = trigger.get_next_fire_time(None, after)
    if nxt is not None and nxt <= after:
        nxt = trigger.get_next_fire_time(nxt, nxt.replace(microsecond=0) + _SECOND)
    return nxt.astimezone(UTC) if nxt is not None else None


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """One schedule of a deployed process: what it does, when it last ran, when it runs next."""

    process: str
    name: str
    cron: str
    timezone: str
    action: str
    """``release <team>`` or ``digest sla``."""
    last_due: datetime
    """The last occurrence that ran (the deployment time before the first run)."""
    next_due: tuple[datetime, ...]
    """The next occurrences after ``last_due`` (UTC)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "process": self.process,
            "name": self.name,
            "cron": self.cron,
            "timezone": self.timezone,
            "action": self.action,
            "last_due": self.last_due.isoformat(),
            "next_due": [t.isoformat() for t in self.next_due],
        }


@dataclass(frozen=True, slots=True)
class ScheduleRun:
    """One schedule occurrence that ran: for a release, who got which lead."""

    process: str
    name: str
    due: datetime
    action: str
    released: tuple[tuple[str, str], ...] = ()
    """(lead id, new owner) of each lead a release assigned."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "process": self.process,
            "name": self.name,
            "due": self.due.isoformat(),
            "action": self.action,
            "released": [{"lead_id": lead, "owner": owner} for lead, owner in self.released],
        }


def _action(schedule: Schedule) -> str:
    return f"release {schedule.release}" if schedule.release is not None else "digest sla"


SlaBoardFn = Callable[[str, datetime, datetime], dict[str, Any]]
"""The SLA board of a process for ``[since, until)`` as a dict (digests carry it)."""


class ScheduleRunner:
    """Runs the schedules of every deployed process (their latest versions)."""

    def __init__(self, runtime: Runtime, board: SlaBoardFn) -> None:
        self.runtime = runtime
        self.board = board

    def _schedules(self) -> list[tuple[str, str, Schedule, datetime]]:
        runtime = self.runtime
        out: list[tuple[str, str, Schedule, datetime]] = []
        for process in runtime.processes():
            compiled = runtime.compiled(process, None)
            schedules = compiled.definition.schedules
            if not schedules:
                continue
            deployed = runtime.deployed_at(process, compiled.version)
            out.extend((process, name, s, deployed) for name, s in schedules.items())
        return out

    def next_due(self, now: datetime) -> datetime | None:
        """The earliest next occurrence of any schedule after its last run."""
        best: datetime | None = None
        schedules = self._schedules()
        if not schedules:
            return None
        with self.runtime.store.transaction("read schedule runs") as tx:
            runs = self._last_runs(tx)
        for process, name, schedule, deployed in schedules:
            last = runs.get((process, name), deployed)
            nxt = next_occurrence(schedule, last)
            if nxt is not None and (best is None or nxt < best):
                best = nxt
        return best

    def info(self, now: datetime, count: int = 3) -> list[ScheduleInfo]:
        """Every schedule with its last run and its next ``count`` occurrences after it."""
        schedules = self._schedules()
        with self.runtime.store.transaction("read schedule runs") as tx:
            runs = self._last_runs(tx)
        out = []
        for process, name, schedule, deployed in schedules:
            last = runs.get((process, name), deployed)
            upcoming: list[datetime] = []
            after = last
            while len(upcoming) < count and (nxt := next_occurrence(schedule, after)) is not None:
                upcoming.append(nxt)
                after = nxt
            out.append(
                ScheduleInfo(
                    process,
                    name,
                    schedule.cron,
                    schedule.timezone,
                    _action(schedule),
                    last,
                    tuple(upcoming),
                )
            )
        return out

    def run(self, now: datetime) -> list[ScheduleRun]:
        """Run every schedule occurrence due at ``now``; what ran."""
        ran: list[ScheduleRun] = []
        for process, name, schedule, deployed in self._schedules():
            with self.runtime.store.transaction(f"run schedule {process}/{name}") as tx:
                last = self._lock(tx, process, name, deployed)
                due = occurrence(schedule, last, now)
                if due is None:
                    continue
                released = self._execute(tx, process, name, schedule, last, due)
                self._save(tx, process, name, due)
            ran.append(ScheduleRun(process, name, due, _action(schedule), tuple(released)))
        return ran

    # -- actions -------------------------------------------------------------------------------

    def _execute(
        self, tx: Tx, process: str, name: str, schedule: Schedule, last: datetime, due: datetime
    ) -> list[tuple[str, str]]:
        """Run one occurrence; (lead, owner) of each lead a release assigned."""
        runtime = self.runtime
        released: list[tuple[str, str]] = []
        if schedule.release is not None:
            compiled = runtime.compiled(process, None)
            router = runtime.router(compiled)
            pairs = router.release(RoutingStore.of(tx), process, schedule.release, due)
            actor = f"schedule:{name}"
            for lead_id, owner in pairs:
                row = tx.load(process, lead_id)
                if row is None:  # pragma: no cover - the release read it in this transaction
                    continue
                lead_compiled = runtime.compiled(process, row.definition_version)
                change = runtime.planner.assign(lead_compiled, row, owner, actor, due)
                if change is not None:
                    runtime.write(tx, change)
                    released.append((lead_id, owner))
        else:
            self._digest(tx, process, name, last, due)
        return released

    def _digest(self, tx: Tx, process: str, name: str, since: datetime, due: datetime) -> None:
        """One ``leadflow.sla.digest`` event with the SLA board of ``[since, due)``: a process
        event (no lead) that subscribed adapters deliver to managers."""
        board = self.board(process, since, due)
        version = self.runtime.compiled(process, None).version
        data = {"process": process, "definition_version": version, "schedule": name, **board}
        ident = event_id(due)
        envelope = encode_event(
            self.runtime.event_source, DIGEST, ident, process, name, due.isoformat(), data, {}, "{}"
        )
        p = tx.store.param
        tx.cur.execute(
            "INSERT INTO lf_outbox (event_id, instance_id, seq, type, at, payload) "
            f"VALUES ({p}, NULL, 0, {p}, {p}, {p})",
            (ident, DIGEST, tx.store.encode_time(due), envelope),
        )

    # -- bookkeeping ---------------------------------------------------------------------------

    def _last_runs(self, tx: Tx) -> dict[tuple[str, str], datetime]:
        tx.cur.execute("SELECT process, schedule, last_due_at FROM lf_schedule_runs")
        dt = tx.store.decode_time
        return {(p, s): dt(at) for p, s, at in tx.cur.fetchall()}

    def _lock(self, tx: Tx, process: str, name: str, start: datetime) -> datetime:
        p = tx.store.param
        lock = " FOR UPDATE" if tx.store.dialect == "postgresql" else ""
        conflict = " ON CONFLICT DO NOTHING"
        tx.cur.execute(
            "INSERT INTO lf_schedule_runs (process, schedule, last_due_at) "
            f"VALUES ({p}, {p}, {p}){conflict}",
            (process, name, tx.store.encode_time(start)),
        )
        tx.cur.execute(
            f"SELECT last_due_at FROM lf_schedule_runs WHERE process = {p} AND schedule = {p}"
            + lock,
            (process, name),
        )
        row: Any = tx.cur.fetchone()
        return tx.store.decode_time(row[0])

    def _save(self, tx: Tx, process: str, name: str, due: datetime) -> None:
        p = tx.store.param
        tx.cur.execute(
            f"UPDATE lf_schedule_runs SET last_due_at = {p} WHERE process = {p} AND schedule = {p}",
            (tx.store.encode_time(due), process, name),
        )
