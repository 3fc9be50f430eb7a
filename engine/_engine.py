"""The engine: deploy definitions, run one durable instance per lead.

Every change follows one path: load the instance row, plan the change in memory (the borrowed
``transitions`` machine decides triggers), then write the instance row (version + 1), one history
row and one outbox event in a single transaction. A plan that fails writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

import leadflow.engine._batches as _batches
import leadflow.engine.migration._canary as _canary
from leadflow.definitions import ProcessDefinition, load_definition
from leadflow.engine._clock import Clock, SystemClock, as_utc
from leadflow.engine._compiler import CompiledProcess
from leadflow.engine._errors import (
    ConcurrentUpdate,
    DeployConflict,
    DuplicateLead,
    FieldIssue,
    InvalidData,
    LeadNotFound,
    StorageError,
    UnknownProcess,
)
from leadflow.engine._planning import Planner, check_text
from leadflow.engine._schedules import ScheduleRunner
from leadflow.engine._types import (
    BatchResult,
    HistoryEntry,
    Instance,
    NextSteps,
    PlaybookStatus,
    TriggerOption,
)
from leadflow.engine.migration._canary import Canary, choose_version
from leadflow.engine.routing._router import RouteDecision, Router
from leadflow.engine.routing._store import AwayPeriod, RoutingStore, clear_away, list_away, set_away
from leadflow.engine.sla._sweep import Sweep
from leadflow.engine.store import Change, InstanceRow, Store, Tx
from leadflow.engine.store.tables import definitions as definitions_table
from leadflow.engine.store.tables import history as history_table
from leadflow.engine.store.tables import instances as instances_table

__all__ = ["Engine"]

_BATCH = 1000
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_MAX_TEXT = 255


def _canonical(definition: ProcessDefinition, *, sort_keys: bool = False) -> str:
    """The definition as compact JSON. Mapping order is kept: the order of stages is meaningful
    (the main path first), so it must survive a round trip through the database."""
    return json.dumps(
        definition.model_dump(mode="json", by_alias=True, exclude_defaults=True),
        sort_keys=sort_keys,
        separators=(",", ":"),
    )


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


class Engine:
    """leadflow's runtime over one database.

    ``db`` is a SQLAlchemy URL (``sqlite:///leadflow.db``, the embedded default, or
    ``postgresql+psycopg://...``) or an existing ``sqlalchemy.Engine``. SQLite databases get
    their tables on first use; other databases need ``leadflow db upgrade`` first (pass
    ``create=True`` to create them here). ``clock`` is the only source of "now".
    """

    def __init__(
        self,
        db: str | sa.Engine | os.PathLike[str] = "sqlite:///leadflow.db",
        *,
        clock: Clock | None = None,
        create: bool | None = None,
        event_source: str = "/leadflow",
    ) -> None:
        if isinstance(db, os.PathLike):
            db = f"sqlite:///{os.fspath(db)}"
        self.store = Store(db, create=create)
        self.clock: Clock = clock or SystemClock()
        self.event_source = event_source
        self._planner = Planner(event_source)
        self._compiled: dict[tuple[str, int], CompiledProcess] = {}
        self._routers: dict[tuple[str, int], Router] = {}
        self._lock = threading.Lock()
        self._sweep = Sweep(self)
        self._schedule_runner = ScheduleRunner(self)
        attach = getattr(self.clock, "attach", None)
        if callable(attach):
            attach(self)  # a ManualClock runs this engine's due timers as it advances

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Release the database connections this engine opened."""
        self.store.dispose()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now(self, at: datetime | None) -> datetime:
        return as_utc(at) if at is not None else as_utc(self.clock.now())

    # -- definitions ---------------------------------------------------------------------------

    def deploy(self, definition: ProcessDefinition | str | os.PathLike[str]) -> ProcessDefinition:
        """Deploy a definition version (a model, a path or YAML text); idempotent per content.

        Raises :class:`DeployConflict` when the process+version exists with other content.
        """
        if not isinstance(definition, ProcessDefinition):
            definition = load_definition(definition)
        body = _canonical(definition)
        digest = _digest(body)
        key = (definition.process, definition.version)
        t = definitions_table
        try:
            with self.store.sa.begin() as conn:
                existing = conn.execute(
                    sa.select(t.c.digest).where(t.c.process == key[0], t.c.version == key[1])
                ).scalar()
                if existing is None:
                    conn.execute(
                        t.insert().values(
                            process=key[0],
                            version=key[1],
                            digest=digest,
                            body=body,
                            deployed_at=self._now(None),
                        )
                    )
        except sa.exc.IntegrityError:
            return self.deploy(definition)  # deployed concurrently: compare with that one
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"deploy {key[0]} v{key[1]}: {exc.__cause__ or exc}") from exc
        # versions deployed by leadflow 0.1 were digested with sorted keys
        legacy = _digest(_canonical(definition, sort_keys=True))
        if existing is not None and existing not in (digest, legacy):
            raise DeployConflict(*key)
        with self._lock:
            if key not in self._compiled:
                self._compiled[key] = CompiledProcess(definition)
        return definition

    def processes(self) -> dict[str, list[int]]:
        """Deployed processes and their versions, ascending."""
        t = definitions_table
        rows = self.store.query(
            sa.select(t.c.process, t.c.version).order_by(t.c.process, t.c.version),
            "list deployed processes",
        )
        out: dict[str, list[int]] = {}
        for process, version in rows:
            out.setdefault(process, []).append(version)
        return out

    def definition(self, process: str, version: int | None = None) -> ProcessDefinition:
        """A deployed definition (the latest version when ``version`` is None)."""
        return self._compiled_for(process, version).definition

    def _compiled_for(self, process: str, version: int | None) -> CompiledProcess:
        if version is not None:
            cached = self._compiled.get((process, version))
            if cached is not None:
                return cached
        t = definitions_table
        query = sa.select(t.c.version, t.c.body).where(t.c.process == process)
        query = (
            query.where(t.c.version == version)
            if version is not None
            else query.order_by(t.c.version.desc())
        )
        rows = self.store.query(query.limit(1), f"load definition {process}")
        row = rows[0] if rows else None
        if row is None:
            raise UnknownProcess(process, version, list(self.processes()))
        key = (process, int(row[0]))
        with self._lock:
            if key not in self._compiled:
                definition = ProcessDefinition.model_validate(json.loads(row[1]))
                self._compiled[key] = CompiledProcess(definition)
            return self._compiled[key]

    def _latest(self, tx: Tx, process: str) -> CompiledProcess:
        """The newest deployed version, as seen by ``tx`` (deploys by other processes count)."""
        latest = tx.latest_version(process)
        if latest is None:
            raise UnknownProcess(process, None, list(self.processes()))
        return self._compiled_for(process, latest)

    def _instance(self, row: InstanceRow) -> Instance:
        compiled = self._compiled_for(row.process, row.definition_version)
        return Instance(
            process=row.process,
            lead_id=row.lead_id,
            stage=row.stage,
            owner=row.owner,
            data=dict(row.data),
            closed=row.closed,
            version=row.version,
            definition_version=row.definition_version,
            probability=compiled.stages[row.stage].probability,
            created_at=row.created_at,
            updated_at=row.updated_at,
            stage_entered_at=row.stage_entered_at,
        )

    # -- running a change ----------------------------------------------------------------------

    def _load(self, tx: Tx, process: str, lead_id: str) -> InstanceRow:
        row = tx.load(process, lead_id)
        if row is None:
            self._compiled_for(process, None)  # UnknownProcess beats LeadNotFound
            raise LeadNotFound(process, lead_id)
        return row

    def _write(self, tx: Tx, change: Change) -> None:
        if not tx.apply([change]):
            assert change.expected_version is not None
            raise ConcurrentUpdate(change.row.process, change.row.lead_id, change.expected_version)

    def start(
        self,
        process: str,
        lead_id: str,
        data: Mapping[str, Any] | None = None,
        owner: str | None = None,
        at: datetime | None = None,
        actor: str | None = None,
    ) -> Instance:
        """Start ``lead_id`` in the latest deployed version of ``process``.

        Raises :class:`DuplicateLead` if the lead already runs in this process and
        :class:`InvalidData` if ``data`` breaks the field contract.
        """
        when = self._now(at)
        try:
            with self.store.transaction(f"start {process}/{lead_id}") as tx:
                # the version: the latest, or a canary's share (engine/migration/_canary.py)
                compiled = choose_version(self, tx, process, lead_id)
                change = self._planner.start(compiled, lead_id, data, owner, actor, when)
                change = self._start_routed(tx, compiled, change, data, actor)
        except self.store.integrity_error as exc:
            raise DuplicateLead(process, lead_id) from exc
        return self._instance(change.row)

    def _run(
        self,
        what: str,
        process: str,
        lead_id: str,
        plan: Callable[[Tx, InstanceRow], Change | None],
    ) -> Instance:
        """Load the lead, plan a change (None: nothing to do), write it; one transaction."""
        given: object = lead_id
        if not isinstance(given, str):
            issue = FieldIssue("lead_id", f"must be text, not {type(given).__name__}")
            raise InvalidData(process, str(lead_id), [issue])
        with self.store.transaction(f"{what} {process}/{lead_id}") as tx:
            row = self._load(tx, process, lead_id)
            change = plan(tx, row)
            if change is None:
                return self._instance(row)
            self._write(tx, change)
        return self._instance(change.row)

    def fire(
        self,
        process: str,
        lead_id: str,
        trigger: str,
        data: Mapping[str, Any] | None = None,
        actor: str | None = None,
        at: datetime | None = None,
    ) -> Instance:
        """Fire ``trigger`` on a lead; ``data`` is merged into the lead's data if it passes.

        Raises :class:`InvalidTransition` (trigger not allowed from the stage),
        :class:`GuardFailed` (criteria unmet, see ``.unmet``), :class:`InvalidData` or
        :class:`ConcurrentUpdate`. A failed fire changes nothing.
        """
        when = self._now(at)

        def plan(tx: Tx, row: InstanceRow) -> Change:
            compiled = self._compiled_for(process, row.definition_version)
            reads = compiled.needs_activities(row.stage, trigger)
            acts = tx.activities(row.id) if reads else []
            return self._planner.fire(compiled, row, trigger, data, actor, when, acts)

        return self._run(f"fire {trigger} on", process, lead_id, plan)

    def update(
        self,
        process: str,
        lead_id: str,
        data: Mapping[str, Any],
        actor: str | None = None,
        at: datetime | None = None,
    ) -> Instance:
        """Change lead data (``None`` unsets a field); a no-op writes nothing."""
        when = self._now(at)
        check_text(process, lead_id, actor=actor)

        def plan(_: Tx, row: InstanceRow) -> Change | None:
            compiled = self._compiled_for(process, row.definition_version)
            return self._planner.update(compiled, row, data, actor, when)

        return self._run("update", process, lead_id, plan)

    def record(
        self,
        process: str,
        lead_id: str,
        activity_type: str,
        data: Mapping[str, Any] | None = None,
        actor: str | None = None,
        at: datetime | None = None,
    ) -> Instance:
        """Record an activity (``call``, ``email``, ``meeting``, a playbook item id, ...)."""
        when = self._now(at)
        check_text(process, lead_id, actor=actor)
        activity = self._planner.activity(process, lead_id, activity_type, data)

        def plan(_: Tx, row: InstanceRow) -> Change:
            compiled = self._compiled_for(process, row.definition_version)
            return self._planner.record(compiled, row, activity, actor, when)

        return self._run(f"record {activity_type} on", process, lead_id, plan)

    def assign(
        self,
        process: str,
        lead_id: str,
        owner: str | None,
        actor: str | None = None,
        at: datetime | None = None,
    ) -> Instance:
        """Give the lead to ``owner`` (None unassigns); the current owner again writes nothing."""
        when = self._now(at)
        check_text(process, lead_id, owner=owner, actor=actor)

        def plan(_: Tx, row: InstanceRow) -> Change | None:
            compiled = self._compiled_for(process, row.definition_version)
            return self._planner.assign(compiled, row, owner, actor, when)

        return self._run("assign", process, lead_id, plan)

    # -- routing -------------------------------------------------------------------------------

    def _start_routed(
        self,
        tx: Tx,
        compiled: CompiledProcess,
        change: Change,
        data: Mapping[str, Any] | None,
        actor: str | None,
    ) -> Change:
        """Write a planned start; a lead without an owner is routed first (and the decision
        recorded), so capacity counts see every lead started before it in the transaction."""
        routed = None
        if change.row.owner is None and compiled.definition.routing:
            routed = self._route(tx, compiled, change.row, change.at, record=False)
            if routed.owner is not None:
                row = change.row
                change = self._planner.start(
                    compiled, row.lead_id, data, routed.owner, actor, change.at
                )
        self._write(tx, change)
        if routed is not None and routed.team is not None:
            RoutingStore.of(tx).record(
                compiled.process, routed.team, change.row.id, routed.owner, change.at
            )
        return change

    def _router(self, compiled: CompiledProcess) -> Router:
        key = (compiled.process, compiled.version)
        router = self._routers.get(key)
        if router is None:
            router = Router(compiled.definition, compiled.sla.calendars)
            with self._lock:
                self._routers.setdefault(key, router)
        return router

    def _route(
        self,
        tx: Tx,
        compiled: CompiledProcess,
        row: InstanceRow,
        at: datetime,
        *,
        team: str | None = None,
        record: bool = True,
    ) -> RouteDecision:
        """Where the lead goes now (never to its current owner); recorded when ``record``."""
        return self._router(compiled).route(
            RoutingStore.of(tx),
            row.id if record and row.id else None,
            row.data,
            at,
            team=team,
            exclude=row.owner,
            stage=row.stage,
        )

    def _recipients(
        self, compiled: CompiledProcess, row: InstanceRow, notify: Iterable[str]
    ) -> list[str]:
        """People a ladder mark notifies: ``owner``, ``team_lead``, ``team`` or ids, resolved."""
        teams = compiled.definition.teams
        mine = next(
            (
                team
                for name, team in teams.items()
                if row.owner == team.queue_owner(name)
                or any(m.id == row.owner for m in team.members)
            ),
            None,
        )
        out: list[str] = []
        for who in notify:
            if who == "owner":
                names = [row.owner] if row.owner else []
            elif who == "team_lead":
                names = [mine.lead] if mine is not None and mine.lead else []
            elif who == "team":
                names = [m.id for m in mine.members] if mine is not None else []
            else:
                names = [who]
            out.extend(n for n in names if n and n not in out)
        return out

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
        return clear_away(self.store, member, self._now(at))

    def list_away(self, member: str | None = None) -> list[AwayPeriod]:
        """Out-of-office periods (of ``member``, or everyone's), by start."""
        return list_away(self.store, member)

    # -- versions ------------------------------------------------------------------------------

    def set_canary(self, process: str, version: int, share: float) -> Canary:
        """Start ``share`` (0 < share <= 1) of new leads of ``process`` on ``version``; the
        choice is a hash of the lead id, so a retried start picks the same version."""
        return _canary.set_canary(self, process, version, share)

    def clear_canary(self, process: str) -> bool:
        """New leads start on the newest version again; whether a canary was set."""
        return _canary.clear_canary(self, process)

    def canary(self, process: str) -> Canary | None:
        """The canary of ``process``, or None."""
        return _canary.canary(self, process)

    # -- timers --------------------------------------------------------------------------------

    def run_due(self, now: datetime | None = None, *, limit: int = 500) -> int:
        """Fire every SLA mark due at or before ``now`` (default: the clock's now).

        Hosts that run no worker call this from their own scheduler. Each mark is recorded at
        its due time; a crash leaves unfired marks due, and nothing fires twice. Returns how
        many timers were processed.
        """
        return self._sweep.run_due(self._now(now), limit)

    def next_due(self) -> datetime | None:
        """When the earliest SLA mark falls due (None when no clock is running)."""
        with self.store.transaction("read the next due timer") as tx:
            return tx.next_due()

    def run_schedules(self, now: datetime | None = None) -> int:
        """Run the definitions' schedules (batch releases, SLA digests) due at ``now``.

        Every occurrence runs once across all workers; occurrences missed while nothing ran are
        coalesced into the latest one. Returns how many schedules ran.
        """
        return self._schedule_runner.run(self._now(now))

    def next_schedule(self) -> datetime | None:
        """When the next schedule occurrence falls due (None when no definition has one)."""
        return self._schedule_runner.next_due(self._now(None))

    def _deployed_at(self, process: str, version: int) -> datetime:
        t = definitions_table
        rows = self.store.query(
            sa.select(t.c.deployed_at).where(t.c.process == process, t.c.version == version),
            f"read the deployment time of {process} v{version}",
        )
        return self.store.decode_time(rows[0][0])

    # -- reading -------------------------------------------------------------------------------

    def get(self, process: str, lead_id: str) -> Instance:
        """The lead's current instance; :class:`LeadNotFound` if it was never started."""
        with self.store.transaction(f"get {process}/{lead_id}") as tx:
            row = self._load(tx, process, lead_id)
        return self._instance(row)

    def history(self, process: str, lead_id: str) -> list[HistoryEntry]:
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
        rows = self.store.query(query, f"history of {process}/{lead_id}")
        if not rows:
            self.get(process, lead_id)  # raises the right lookup error
        dt = self.store.decode_time
        return [
            HistoryEntry(r[0], dt(r[1]), r[2], r[3], r[4], r[5], r[6], json.loads(r[7]))
            for r in rows
        ]

    def next_steps(self, process: str, lead_id: str, at: datetime | None = None) -> NextSteps:
        """The stage's playbook progress and every allowed trigger with its criteria evaluated."""
        when = self._now(at)
        with self.store.transaction(f"next steps of {process}/{lead_id}") as tx:
            row = self._load(tx, process, lead_id)
            acts = tx.activities(row.id)
        compiled = self._compiled_for(process, row.definition_version)
        ctx = self._planner.context(compiled, row, row.data, {}, when, acts)
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

    # -- batches -------------------------------------------------------------------------------

    def start_many(
        self, process: str, items: Iterable[Any], at: datetime | None = None
    ) -> BatchResult:
        """Start many leads, one transaction per 1,000; failures are reported per item.

        Each item is a lead id, a ``(lead_id, data, owner)`` tuple or a mapping with keys
        ``lead_id``, ``data``, ``owner``, ``actor``, ``at``.
        """
        return _batches.start_many(self, process, items, at)

    def fire_many(
        self, process: str, items: Iterable[Any], at: datetime | None = None
    ) -> BatchResult:
        """Fire many triggers, one transaction per 1,000; failures are reported per item.

        Each item is a ``(lead_id, trigger, data, actor)`` tuple or a mapping with keys
        ``lead_id``, ``trigger``, ``data``, ``actor``, ``at``. Items on the same lead apply in
        order. If another writer changes one of the leads meanwhile, that batch is redone item by
        item, so only the items that really conflict fail (with :class:`ConcurrentUpdate`).
        """
        return _batches.fire_many(self, process, items, at)
