"""The state one engine shares with its parts: store, clock, planner and the definition cache.

:class:`Runtime` is what the sweep, batches, canaries, schedules, live migration and simulation
work with; :class:`~leadflow.engine.Engine` is the public facade over it (``engine.runtime``).
Everything here is public and typed so that no module has to read the engine's private members.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from leadflow.definitions import ProcessDefinition
from leadflow.engine._arguments import check_text_argument, check_time, check_version
from leadflow.engine._clock import Clock, as_utc
from leadflow.engine._compiler import CompiledProcess
from leadflow.engine._criteria import Activity
from leadflow.engine._errors import (
    ConcurrentUpdate,
    FieldIssue,
    InvalidData,
    LeadNotFound,
    UnknownProcess,
)
from leadflow.engine._limits import DEFAULT_MAX_VALUE_BYTES
from leadflow.engine._planning import Planner
from leadflow.engine._types import Instance
from leadflow.engine.routing import RouteDecision, Router, RoutingStore
from leadflow.engine.store import Change, InstanceRow, Store, Tx
from leadflow.engine.store.tables import definitions as definitions_table

__all__ = ["Runtime"]


class Runtime:
    """One database, one clock, the compiled definitions and routers, the change planner."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        event_source: str,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    ) -> None:
        self.store = store
        self.clock = clock
        self.event_source = event_source
        self.planner = Planner(event_source, max_value_bytes)
        self._compiled: dict[tuple[str, int], CompiledProcess] = {}
        self._routers: dict[tuple[str, int], Router] = {}
        self._lock = threading.Lock()

    def now(self, at: datetime | None = None, name: str = "at") -> datetime:
        """``at`` as aware UTC, or the clock's now; :class:`InvalidArgument` naming ``name``
        when ``at`` is not a datetime."""
        return as_utc(check_time(name, at) or self.clock.now())

    # -- definitions ---------------------------------------------------------------------------

    def remember(self, definition: ProcessDefinition) -> CompiledProcess:
        """Compile a deployed definition once and keep it for its process and version."""
        key = (definition.process, definition.version)
        with self._lock:
            if key not in self._compiled:
                self._compiled[key] = CompiledProcess(definition)
            return self._compiled[key]

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

    def compiled(self, process: str, version: int | None = None) -> CompiledProcess:
        """A deployed version compiled (the latest when ``version`` is None);
        :class:`UnknownProcess` naming what is deployed when there is none."""
        if type(version) is int and (cached := self._compiled.get((process, version))):
            return cached  # the hot path: only checked values ever became keys
        check_text_argument("process", process)
        check_version("version", version)
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

    def definition(self, process: str, version: int | None = None) -> ProcessDefinition:
        """A deployed definition (the latest version when ``version`` is None)."""
        return self.compiled(process, version).definition

    def latest(self, tx: Tx, process: str) -> CompiledProcess:
        """The newest deployed version, as seen by ``tx`` (deploys by other processes count)."""
        latest = tx.latest_version(process)
        if latest is None:
            raise UnknownProcess(process, None, list(self.processes()))
        return self.compiled(process, latest)

    def deployed_at(self, process: str, version: int) -> datetime:
        """When ``version`` of ``process`` was deployed."""
        t = definitions_table
        rows = self.store.query(
            sa.select(t.c.deployed_at).where(t.c.process == process, t.c.version == version),
            f"read the deployment time of {process} v{version}",
        )
        return self.store.decode_time(rows[0][0])

    # -- instances -----------------------------------------------------------------------------

    def instance(self, row: InstanceRow) -> Instance:
        """The public view of a stored instance row."""
        compiled = self.compiled(row.process, row.definition_version)
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

    def load(self, tx: Tx, process: str, lead_id: str) -> InstanceRow:
        """The lead's row; :class:`UnknownProcess` before :class:`LeadNotFound`."""
        check_text_argument("process", process)
        given: object = lead_id
        if not isinstance(given, str):
            issue = FieldIssue("lead_id", f"must be text, not {type(given).__name__}")
            raise InvalidData(process, str(lead_id), [issue])
        row = tx.load(process, lead_id)
        if row is None:
            self.compiled(process, None)  # UnknownProcess beats LeadNotFound
            raise LeadNotFound(process, lead_id)
        return row

    def write(self, tx: Tx, change: Change, *, last: bool = False) -> None:
        """Write a planned change; :class:`ConcurrentUpdate` when the row moved meanwhile.
        ``last``: nothing more is written in ``tx`` (see :meth:`Tx.apply`)."""
        if not tx.apply([change], last=last):
            assert change.expected_version is not None
            raise ConcurrentUpdate(change.row.process, change.row.lead_id, change.expected_version)

    def follow_rules(self, tx: Tx, change: Change) -> Change:
        """Write what the written ``change`` sets off (:meth:`follow_ups`); the last change
        written (``change`` when none)."""
        row = change.row
        compiled = self.compiled(row.process, row.definition_version)
        if not compiled.reroutes and not compiled.autos:
            return change
        reads = bool(compiled.autos) and compiled.reads_activities
        acts = tx.activities(row.id) if reads and row.id is not None else []
        for follow_up in self.follow_ups(tx, compiled, change, acts):
            self.write(tx, follow_up)
            change = follow_up
        return change

    def follow_ups(
        self, tx: Tx, compiled: CompiledProcess, change: Change, acts: list[Activity]
    ) -> list[Change]:
        """What a planned ``change`` sets off, planned but not written, in order: a
        :meth:`reroute`, then the automatic transitions (:meth:`Planner.automatic`). The single
        calls, the batches and the simulation all follow rules through this."""
        chain: list[Change] = []
        if compiled.reroutes and (rerouted := self.reroute(tx, compiled, change)) is not None:
            chain.append(rerouted)
        if compiled.autos:
            tip = chain[-1] if chain else change
            chain += self.planner.automatic(compiled, tip.row, change.at, acts)
        return chain

    def reroute(self, tx: Tx, compiled: CompiledProcess, change: Change) -> Change | None:
        """The assignment a ``reroute`` rule makes after ``change`` (None: none applies, or the
        routing rules keep the lead with its owner's team)."""
        changed = set(change.details.get("changes") or ())
        if change.kind == "started" or not changed or change.row.closed:
            return None
        row = change.row
        ctx = self.planner.context(compiled, row, row.data, {}, change.at, [])
        for fields, stages, program in compiled.reroutes:
            if not changed & fields or (stages is not None and row.stage not in stages):
                continue
            if program is not None and not program.run(ctx)[0]:
                continue
            decision = self.route(tx, compiled, row, change.at, record=False)
            mine = compiled.team_of.get(row.owner or "")
            if decision.team is None or decision.owner is None or decision.team == mine:
                return None
            if decision.account is not None and decision.account.owner == row.owner:
                return None  # the lead is with its account's owner: a change keeps it there
            decision = self.route(tx, compiled, row, change.at)
            why = f"rerouted: {', '.join(sorted(changed & fields))} changed; {decision.reason}"
            return self.planner.assign(
                compiled, row, decision.owner, "rule:reroute", change.at, reason=why
            )
        return None

    # -- routing -------------------------------------------------------------------------------

    def start_routed(
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
            routed = self.route(tx, compiled, change.row, change.at, record=False)
            change = self.planner.start(
                compiled, change.row.lead_id, data, routed.owner, actor, change.at, routed.reason
            )
        self.write(tx, change)
        if routed is not None and routed.team is not None:
            RoutingStore.of(tx).record(
                compiled.process, routed.team, change.row.id, routed.owner, change.at
            )
        return change

    def router(self, compiled: CompiledProcess) -> Router:
        """The routing rules of one definition version, built once."""
        key = (compiled.process, compiled.version)
        router = self._routers.get(key)
        if router is None:
            router = Router(compiled.definition, compiled.sla.calendars)
            with self._lock:
                router = self._routers.setdefault(key, router)
        return router

    def route(
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
        return self.router(compiled).route(
            RoutingStore.of(tx),
            row.id if record and row.id else None,
            row.data,
            at,
            team=team,
            exclude=row.owner,
            stage=row.stage,
        )

    def recipients(
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
