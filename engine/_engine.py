"""The engine: deploy definitions, run one durable instance per lead.

Every change follows one path: load the instance row, plan the change in memory (the borrowed
``transitions`` machine decides triggers), then write the instance row (version + 1), one history
row and one outbox event in a single transaction. A plan that fails writes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

import leadflow.engine._batches as _batches
import leadflow.engine._canary as _canary
import leadflow.engine._deploy as _deploy
import leadflow.engine._journeys as _journeys
import leadflow.engine._reads as _reads
from leadflow.definitions import Journeys, ProcessDefinition
from leadflow.engine._arguments import check_count, check_items, check_text_argument
from leadflow.engine._canary import Canary, choose_version
from leadflow.engine._clock import Clock, SystemClock
from leadflow.engine._deploy import _canonical as _canonical  # (tests build old databases)
from leadflow.engine._errors import (
    ConcurrentUpdate,
    DuplicateLead,
    FieldIssue,
    GuardFailed,
    InvalidData,
)
from leadflow.engine._guards import Guards, redacted, who_of
from leadflow.engine._health import Health, Limits, health
from leadflow.engine._idempotency import Idempotency, answered, remember, replayed
from leadflow.engine._limits import DEFAULT_MAX_VALUE_BYTES
from leadflow.engine._planning import check_text
from leadflow.engine._runtime import Runtime
from leadflow.engine._schedules import ScheduleInfo, ScheduleRun, ScheduleRunner
from leadflow.engine._snooze import plan_snooze, snooze_amount
from leadflow.engine._types import BatchResult, HistoryEntry, Instance, NextSteps
from leadflow.engine.access import Actor, require, team_members
from leadflow.engine.routing import AwayPeriod, clear_away, list_away, set_away
from leadflow.engine.routing.ical import IcalImport, away_from_ical
from leadflow.engine.sla.board import sla_board
from leadflow.engine.sla.queue import QueueItem, sla_queue
from leadflow.engine.sla.status import SlaStatus, sla_status
from leadflow.engine.sla.sweep import Sweep
from leadflow.engine.store import Change, InstanceRow, Store, Tx, lead_rows
from leadflow.engine.telemetry import batch_span, fire_span, start_span

__all__ = ["Engine"]


class Engine:
    """leadflow's runtime over one database.

    ``db`` is a SQLAlchemy URL (``sqlite:///leadflow.db``, the embedded default, or
    ``postgresql+psycopg://...``) or an existing ``sqlalchemy.Engine``. SQLite databases get
    their tables on first use; other databases need ``leadflow db upgrade`` first (pass
    ``create=True`` to create them here). ``clock`` is the only source of "now".
    ``max_value_bytes`` bounds each text, list or JSON value of lead and activity data (64 KiB
    by default); a larger value is refused with :class:`InvalidData`, changing nothing.
    """

    def __init__(
        self,
        db: str | sa.Engine | os.PathLike[str] = "sqlite:///leadflow.db",
        *,
        clock: Clock | None = None,
        create: bool | None = None,
        event_source: str = "/leadflow",
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    ) -> None:
        if isinstance(db, os.PathLike):
            db = f"sqlite:///{os.fspath(db)}"
        limit = check_count("max_value_bytes", max_value_bytes, 1)
        self.runtime = Runtime(
            Store(db, create=create), clock or SystemClock(), event_source, limit
        )
        """The state this engine shares with its sweep, batches, schedules and migrations."""
        self._sweep = Sweep(self.runtime)
        self._schedule_runner = ScheduleRunner(self.runtime, self._board)
        attach = getattr(self.clock, "attach", None)
        if callable(attach):
            attach(self)  # a ManualClock runs this engine's due timers as it advances

    @property
    def store(self) -> Store:
        """The database this engine runs on."""
        return self.runtime.store

    @property
    def clock(self) -> Clock:
        """The only source of "now" (a :class:`SystemClock` unless one was given)."""
        return self.runtime.clock

    @property
    def event_source(self) -> str:
        """The CloudEvents ``source`` of the events this engine writes."""
        return self.runtime.event_source

    @property
    def sweep(self) -> Sweep:
        """The due-timer sweep (the worker's rounds call :meth:`Sweep.sweep_once`)."""
        return self._sweep

    def _board(self, process: str, since: datetime, until: datetime) -> dict[str, Any]:
        """The SLA board that ``leadflow.sla.digest`` schedules send."""
        return sla_board(self.runtime, process, since=since, until=until).as_dict()

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Release the database connections this engine opened."""
        self.store.dispose()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- definitions ---------------------------------------------------------------------------

    def deploy(self, definition: ProcessDefinition | str | os.PathLike[str]) -> ProcessDefinition:
        """Deploy a definition version (a model, a path, YAML text or a shipped process by name,
        ``"inbound-lead"``); idempotent per content.

        Raises :class:`DeployConflict` when the process+version exists with other content.
        """
        return _deploy.deploy(self.runtime, definition)

    def processes(self) -> dict[str, list[int]]:
        """Deployed processes and their versions, ascending."""
        return self.runtime.processes()

    def definition(self, process: str, version: int | None = None) -> ProcessDefinition:
        """A deployed definition (the latest version when ``version`` is None)."""
        return self.runtime.definition(process, version)

    # -- running a change ----------------------------------------------------------------------

    def start(
        self,
        process: str,
        lead_id: str,
        data: Mapping[str, Any] | None = None,
        owner: str | None = None,
        at: datetime | None = None,
        actor: str | Actor | None = None,
        *,
        idempotency: Idempotency | None = None,
    ) -> Instance:
        """Start ``lead_id`` in the latest deployed version of ``process``.

        Raises :class:`DuplicateLead` if the lead already runs in this process and
        :class:`InvalidData` if ``data`` breaks the field contract. With ``idempotency``, a
        retry of the same request returns the first answer (see :class:`Idempotency`).
        """
        with start_span(self, process, lead_id):  # metrics and traces (telemetry.py)
            when = self.runtime.now(at)
            who = who_of(actor)
            check_text_argument("process", process)
            try:
                with self.store.transaction(f"start {process}/{lead_id}") as tx:
                    if idempotency and (first := replayed(tx, idempotency)) is not None:
                        return first
                    # the version: the latest, or a canary's share (engine/_canary.py)
                    compiled = choose_version(self.runtime, tx, process, lead_id)
                    if isinstance(actor, Actor):
                        definition = compiled.definition
                        require(
                            actor, "start", None, definition, fields=data or {}, new_owner=owner
                        )
                    change = self.runtime.planner.start(compiled, lead_id, data, owner, who, when)
                    change = self.runtime.start_routed(tx, compiled, change, data, who)
                    change = self.runtime.follow_rules(tx, change)
                    instance = self.runtime.instance(change.row)
                    if idempotency:
                        remember(tx, idempotency, instance)
            except self.store.integrity_error as exc:
                if (first := answered(self.store, idempotency)) is not None:
                    return first
                raise DuplicateLead(process, lead_id) from exc
            return instance

    def start_lead(
        self,
        lead_id: str,
        data: Mapping[str, Any] | None = None,
        owner: str | None = None,
        at: datetime | None = None,
        actor: str | Actor | None = None,
        *,
        idempotency: Idempotency | None = None,
    ) -> Instance:
        """Start ``lead_id`` in the process of the first journey rule its data matches (see
        :meth:`set_journeys`), through :meth:`start`; :class:`NoJourney` when none matches."""
        process = _journeys.process_for(self.runtime, lead_id, data)
        return self.start(process, lead_id, data, owner, at, actor, idempotency=idempotency)

    def set_journeys(self, journeys: Journeys | str | os.PathLike[str]) -> Journeys:
        """Replace the journey rules (a model, a path or YAML text); every process they name must
        be deployed (:class:`UnknownProcess`). Nothing is stored on error."""
        return _journeys.set_journeys(self.runtime, journeys)

    def journeys(self) -> Journeys | None:
        """The current journey rules, or None when none were set."""
        return _journeys.journeys(self.runtime)

    def _run(
        self,
        what: str,
        process: str,
        lead_id: str,
        plan: Callable[[Tx, InstanceRow], Change | None],
        guards: Guards,
    ) -> Instance:
        """Load the lead, check ``guards`` on it, plan a change (None: nothing to do), write it;
        one transaction. A retry of an idempotent request returns the first answer."""
        given: object = lead_id
        if not isinstance(given, str):
            issue = FieldIssue("lead_id", f"must be text, not {type(given).__name__}")
            raise InvalidData(process, str(lead_id), [issue])
        check_text_argument("process", process)
        if guards.if_version is not None:
            check_count("if_version", guards.if_version, 1)
        try:
            # lazy: reads need no BEGIN, and a lone change commits as one statement (store/)
            with self.store.transaction(f"{what} {process}/{lead_id}", lazy=True) as tx:
                key = guards.idempotency
                if key and (first := replayed(tx, key)) is not None:
                    return first
                row = self.runtime.load(tx, process, lead_id)
                if guards.if_version is not None and row.version != guards.if_version:
                    raise ConcurrentUpdate(process, lead_id, guards.if_version)
                definition = None
                if isinstance(guards.actor, Actor):
                    definition = self.definition(process, row.definition_version)
                    guards.check(self.runtime.instance(row), definition)
                try:
                    change = plan(tx, row)
                except GuardFailed as exc:
                    if definition is None:
                        raise
                    raise redacted(exc, guards.actor, definition) from None
                if change is not None:
                    compiled = self.runtime.compiled(process, change.row.definition_version)
                    # the last write unless rules follow it or the answer is remembered
                    last = not key and not compiled.reroutes and not compiled.autos
                    self.runtime.write(tx, change, last=last)
                    change = self.runtime.follow_rules(tx, change)
                instance = self.runtime.instance(change.row if change else row)
                if key:
                    remember(tx, key, instance)
        except (self.store.integrity_error, ConcurrentUpdate):
            # a request with the same key may have won the race: then its answer is ours
            if (first := answered(self.store, guards.idempotency)) is not None:
                return first
            raise
        return instance

    def fire(
        self,
        process: str,
        lead_id: str,
        trigger: str,
        data: Mapping[str, Any] | None = None,
        actor: str | Actor | None = None,
        at: datetime | None = None,
        *,
        if_version: int | None = None,
        idempotency: Idempotency | None = None,
    ) -> Instance:
        """Fire ``trigger`` on a lead; ``data`` is merged into the lead's data if it passes.

        Raises :class:`InvalidTransition` (trigger not allowed from the stage),
        :class:`GuardFailed` (criteria unmet, see ``.unmet``), :class:`InvalidData` or
        :class:`ConcurrentUpdate`. A failed fire changes nothing.
        """
        with fire_span(self, process, lead_id, trigger):  # metrics and traces (telemetry.py)
            return self._fire(process, lead_id, trigger, data, actor, at, if_version, idempotency)

    def _fire(
        self,
        process: str,
        lead_id: str,
        trigger: str,
        data: Mapping[str, Any] | None = None,
        actor: str | Actor | None = None,
        at: datetime | None = None,
        if_version: int | None = None,
        idempotency: Idempotency | None = None,
    ) -> Instance:
        """:meth:`fire` unobserved (``fire_many`` redoes a batch through it and counts the
        batch's items once)."""
        when = self.runtime.now(at)
        who = who_of(actor)
        check_text_argument("trigger", trigger)

        def plan(tx: Tx, row: InstanceRow) -> Change:
            compiled = self.runtime.compiled(process, row.definition_version)
            reads = compiled.needs_activities(row.stage, trigger)
            acts = tx.activities(row.id) if reads else []
            return self.runtime.planner.fire(compiled, row, trigger, data, who, when, acts)

        guards = Guards(actor, "fire", if_version, idempotency, trigger=trigger, fields=data)
        return self._run(f"fire {trigger} on", process, lead_id, plan, guards)

    def update(
        self,
        process: str,
        lead_id: str,
        data: Mapping[str, Any],
        actor: str | Actor | None = None,
        at: datetime | None = None,
        *,
        if_version: int | None = None,
        idempotency: Idempotency | None = None,
    ) -> Instance:
        """Change lead data (``None`` unsets a field); a no-op writes nothing."""
        when = self.runtime.now(at)
        who = who_of(actor)
        check_text(process, lead_id, actor=who)

        def plan(_: Tx, row: InstanceRow) -> Change | None:
            compiled = self.runtime.compiled(process, row.definition_version)
            return self.runtime.planner.update(compiled, row, data, who, when)

        guards = Guards(actor, "update", if_version, idempotency, fields=data)
        return self._run("update", process, lead_id, plan, guards)

    def record(
        self,
        process: str,
        lead_id: str,
        activity_type: str,
        data: Mapping[str, Any] | None = None,
        actor: str | Actor | None = None,
        at: datetime | None = None,
        *,
        if_version: int | None = None,
        idempotency: Idempotency | None = None,
    ) -> Instance:
        """Record an activity (``call``, ``email``, ``meeting``, a playbook item id, ...)."""
        when = self.runtime.now(at)
        who = who_of(actor)
        check_text(process, lead_id, actor=who)
        activity = self.runtime.planner.activity(process, lead_id, activity_type, data)

        def plan(_: Tx, row: InstanceRow) -> Change:
            compiled = self.runtime.compiled(process, row.definition_version)
            return self.runtime.planner.record(compiled, row, activity, who, when)

        guards = Guards(actor, "record", if_version, idempotency)
        return self._run(f"record {activity_type} on", process, lead_id, plan, guards)

    def assign(
        self,
        process: str,
        lead_id: str,
        owner: str | None,
        actor: str | Actor | None = None,
        at: datetime | None = None,
        *,
        if_version: int | None = None,
        idempotency: Idempotency | None = None,
    ) -> Instance:
        """Give the lead to ``owner`` (None unassigns); the current owner again writes nothing."""
        when = self.runtime.now(at)
        who = who_of(actor)
        check_text(process, lead_id, owner=owner, actor=who)

        def plan(_: Tx, row: InstanceRow) -> Change | None:
            compiled = self.runtime.compiled(process, row.definition_version)
            return self.runtime.planner.assign(compiled, row, owner, who, when)

        guards = Guards(actor, "assign", if_version, idempotency, new_owner=owner)
        return self._run("assign", process, lead_id, plan, guards)

    def sla_queue(
        self,
        process: str,
        *,
        owners: Collection[str] | None = None,
        team: str | None = None,
        unassigned: bool | None = None,
        policy: str | None = None,
        limit: int = 100,
        at: datetime | None = None,
    ) -> list[QueueItem]:
        """The live queue: the active SLA clocks of open leads, the next breach first (of
        ``owners``, or of ``team``'s members; unowned leads too when ``unassigned``, which by
        default is when neither is given)."""
        definition = self.definition(process)
        if policy is not None and policy not in definition.slas:
            known = ", ".join(definition.slas) or "none"
            raise ValueError(f"no SLA '{policy}' in {process} (SLAs: {known})")
        if team is not None:
            if team not in definition.teams:
                known = ", ".join(definition.teams) or "none"
                raise ValueError(f"no team '{team}' in {process} (teams: {known})")
            members = team_members(definition, team)
            owners = members if owners is None else set(owners) & members
        return sla_queue(
            self.runtime,
            process,
            owners=owners,
            unassigned=owners is None if unassigned is None else unassigned,
            policy=policy,
            at=at,
            limit=limit,
        )

    def snooze_sla(
        self,
        process: str,
        lead_id: str,
        policy: str,
        by: timedelta | str,
        reason: str,
        actor: str | Actor | None = None,
        at: datetime | None = None,
        *,
        if_version: int | None = None,
        idempotency: Idempotency | None = None,
    ) -> Instance:
        """Take ``by`` (``2h``) off the lead's running ``policy`` clock: its marks and breach
        move that much later. Needs ``snooze:`` on the SLA, a reason, a role it lists (for an
        :class:`Actor`) and a total within its ``max``; :class:`SnoozeRefused` else, and
        nothing changes. Recorded in history (``sla_snoozed``) with the reason."""
        when = self.runtime.now(at)
        try:
            amount = snooze_amount(by)
        except ValueError as exc:
            raise InvalidData(process, lead_id, [FieldIssue("by", str(exc))]) from None

        def plan(_: Tx, row: InstanceRow) -> Change:
            compiled = self.runtime.compiled(process, row.definition_version)
            return plan_snooze(
                self.runtime.planner, compiled, row, policy, amount, reason, actor, when
            )

        guards = Guards(actor, "update", if_version, idempotency)  # the lead's scope rules
        return self._run(f"snooze {policy} on", process, lead_id, plan, guards)

    def pass_lead(
        self,
        process: str,
        lead_id: str,
        reason: str,
        actor: str | Actor | None = None,
        at: datetime | None = None,
        *,
        if_version: int | None = None,
        idempotency: Idempotency | None = None,
    ) -> Instance:
        """The owner passes the lead on: the routing rules pick someone else (never the owner
        passing it; queued when nobody is available), with the reason in history (``passed:
        <reason>; <the routing decision>``). With an accept SLA (``anchor: assigned``) this is
        accept-or-pass; see routing.md. ``InvalidData`` without a reason or routing rules."""
        when = self.runtime.now(at)
        who = who_of(actor)
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidData(
                process, lead_id, [FieldIssue("reason", "say why the lead is passed")]
            )

        def plan(tx: Tx, row: InstanceRow) -> Change | None:
            compiled = self.runtime.compiled(process, row.definition_version)
            if row.closed:
                issue = FieldIssue("lead", f"is closed ({row.closed}); only open leads pass on")
                raise InvalidData(process, lead_id, [issue])
            if not compiled.definition.routing:
                issue = FieldIssue("reason", f"{process} has no routing rules to pass it by")
                raise InvalidData(process, lead_id, [issue])
            decision = self.runtime.route(tx, compiled, row, when)
            why = f"passed: {reason.strip()}; {decision.reason}"
            return self.runtime.planner.assign(compiled, row, decision.owner, who, when, reason=why)

        guards = Guards(actor, "assign", if_version, idempotency)
        return self._run("pass", process, lead_id, plan, guards)

    # -- routing -------------------------------------------------------------------------------

    def import_away(
        self,
        member: str,
        ical: str | bytes,
        *,
        timezone: str = "UTC",
        days: int = 365,
        at: datetime | None = None,
    ) -> IcalImport:
        """Read ``member``'s days off from an iCalendar document (all-day busy events, Outlook
        out-of-office) for the next ``days`` into away periods; re-importing adds only what is
        new (see :mod:`leadflow.engine.routing.ical`)."""
        if not 1 <= days <= 3650:
            raise ValueError(f"days must be 1 to 3650, not {days!r}")
        start = self.runtime.now(at)
        return away_from_ical(
            self.store, member, ical, timezone=timezone, start=start, end=start + timedelta(days)
        )

    def set_away(
        self,
        member: str,
        starts_at: datetime,
        ends_at: datetime,
        note: str | None = None,
    ) -> int:
        """Mark ``member`` out of office in ``[starts_at, ends_at)``: routing skips them then.

        Returns the period's id; :class:`InvalidAway` for a bad value (nothing is written).
        """
        return set_away(self.store, member, starts_at, ends_at, note)

    def clear_away(self, member: str, at: datetime | None = None) -> int:
        """``member`` is back as of ``at`` (default now); returns how many periods changed."""
        return clear_away(self.store, member, self.runtime.now(at))

    def list_away(self, member: str | None = None) -> list[AwayPeriod]:
        """Out-of-office periods (of ``member``, or everyone's), by start."""
        return list_away(self.store, member)

    # -- versions ------------------------------------------------------------------------------

    def set_canary(self, process: str, version: int, share: float) -> Canary:
        """Start ``share`` (0 < share <= 1) of new leads of ``process`` on ``version``; the
        choice is a hash of the lead id, so a retried start picks the same version."""
        return _canary.set_canary(self.runtime, process, version, share)

    def clear_canary(self, process: str) -> bool:
        """New leads start on the newest version again; whether a canary was set."""
        return _canary.clear_canary(self.runtime, process)

    def canary(self, process: str) -> Canary | None:
        """The canary of ``process``, or None."""
        return _canary.canary(self.runtime, process)

    # -- timers --------------------------------------------------------------------------------

    def run_due(self, now: datetime | None = None, *, limit: int = 500) -> int:
        """Fire every SLA mark due at or before ``now`` (default: the clock's now).

        Hosts that run no worker call this from their own scheduler. Each mark is recorded at
        its due time; a crash leaves unfired marks due, and nothing fires twice. Returns how
        many timers were processed.
        """
        return self._sweep.run_due(self.runtime.now(now, "now"), check_count("limit", limit, 1))

    def next_due(self) -> datetime | None:
        """When the earliest SLA mark falls due (None when no clock is running)."""
        with self.store.transaction("read the next due timer") as tx:
            return tx.next_due()

    def run_schedules(self, now: datetime | None = None) -> int:
        """Run the definitions' schedules (batch releases, SLA digests) due at ``now``.

        Every occurrence runs once across all workers; occurrences missed while nothing ran are
        coalesced into the latest one. Returns how many schedules ran.
        """
        return len(self._schedule_runner.run(self.runtime.now(now, "now")))

    def run_schedules_report(self, now: datetime | None = None) -> list[ScheduleRun]:
        """:meth:`run_schedules`, saying what ran: each occurrence, and for a release who got
        which lead (``leadflow schedules run --at``)."""
        return self._schedule_runner.run(self.runtime.now(now, "now"))

    def schedules(self, count: int = 3) -> list[ScheduleInfo]:
        """Every deployed schedule: its action, last run and next ``count`` occurrences."""
        if not 1 <= count <= 100:
            raise ValueError(f"count must be 1 to 100, not {count!r}")
        return self._schedule_runner.info(self.runtime.now(None), count)

    def health(self, limits: Limits | None = None, at: datetime | None = None) -> Health:
        """Timer lag, outbox lag per adapter, dead letters, expired claims and live workers,
        with a verdict (``leadflow doctor``, ``/metrics``)."""
        return health(self.store, self.runtime.now(at), limits)

    def next_schedule(self) -> datetime | None:
        """When the next schedule occurrence falls due (None when no definition has one)."""
        return self._schedule_runner.next_due(self.runtime.now(None))

    # -- reading -------------------------------------------------------------------------------

    def get(self, process: str, lead_id: str) -> Instance:
        """The lead's current instance; :class:`LeadNotFound` if it was never started."""
        with self.store.transaction(f"get {process}/{lead_id}") as tx:
            row = self.runtime.load(tx, process, lead_id)
        return self.runtime.instance(row)

    def leads(
        self,
        process: str,
        *,
        stage: str | None = None,
        owners: Collection[str] | None = None,
        unassigned: bool = False,
        closed: bool | None = None,
        after: int = 0,
        limit: int = 50,
    ) -> list[tuple[int, Instance]]:
        """Leads of ``process`` as (cursor, instance), in start order, after cursor ``after``:
        filtered by ``stage``, ``owners`` (with unowned ones when ``unassigned``), ``closed``."""
        self.runtime.compiled(process)  # UnknownProcess names what is deployed
        check_count("after", after)
        check_count("limit", limit, 1)
        rows = lead_rows(
            self.store,
            process,
            stage=stage,
            owners=owners,
            unassigned=unassigned,
            closed=closed,
            after=after,
            limit=limit,
        )
        return [(row.id, self.runtime.instance(row)) for row in rows]

    def history(self, process: str, lead_id: str) -> list[HistoryEntry]:
        """Every change of the lead, oldest first."""
        return _reads.history(self.runtime, process, lead_id)

    def next_steps(self, process: str, lead_id: str, at: datetime | None = None) -> NextSteps:
        """The stage's playbook progress and every allowed trigger with its criteria evaluated."""
        return _reads.next_steps(self.runtime, process, lead_id, at)

    def slas(self, process: str, lead_id: str, at: datetime | None = None) -> list[SlaStatus]:
        """The lead's SLA clocks: state, due time, elapsed and target, marks fired."""
        return sla_status(self.runtime, process, lead_id, at)

    # -- batches -------------------------------------------------------------------------------

    def start_many(
        self, process: str, items: Iterable[Any], at: datetime | None = None
    ) -> BatchResult:
        """Start many leads, one transaction per 1,000; failures are reported per item.

        Each item is a lead id, a ``(lead_id, data, owner)`` tuple or a mapping with keys
        ``lead_id``, ``data``, ``owner``, ``actor``, ``at``. An :class:`Actor` as ``actor``
        has its access rules checked on the item, as :meth:`start` does (a refusal is that
        item's :class:`AccessDenied`).
        """
        items = check_items("items", items)
        with batch_span(self, "start_many", process) as tally:  # metrics, traces
            result = _batches.start_many(self.runtime, process, items, at)
            tally.done(len(result.succeeded), (f.error for f in result.failed), "started")
        return result

    def fire_many(
        self, process: str, items: Iterable[Any], at: datetime | None = None
    ) -> BatchResult:
        """Fire many triggers, one transaction per 1,000; failures are reported per item.

        Each item is a ``(lead_id, trigger, data, actor)`` tuple or a mapping with keys
        ``lead_id``, ``trigger``, ``data``, ``actor``, ``at``. Items on the same lead apply in
        order. If another writer changes one of the leads meanwhile, that batch is redone item by
        item, so only the items that really conflict fail (with :class:`ConcurrentUpdate`). An
        :class:`Actor` as ``actor`` has its access rules checked on the lead as the batch's
        transaction reads it (a refusal is that item's :class:`AccessDenied`).
        """
        items = check_items("items", items)
        with batch_span(self, "fire_many", process) as tally:  # metrics, traces
            result = _batches.fire_many(self.runtime, self._fire, process, items, at)
            tally.done(len(result.succeeded), (f.error for f in result.failed), "fired")
        return result
