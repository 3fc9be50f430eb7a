"""The SLA board: per owner (or team) and policy, how many clocks were met, breached or pending,
response times, and reassignments, recomputed from the history.

Every SLA metric event is in the history (``details.sla`` of each change: started, paused,
resumed, restarted, rearmed, superseded, warned, breached, escalated, fulfilled, stopped,
withdrawn), so the board
can be rebuilt at any time and for any window. A clock counts for the owner who held the lead
when its outcome was decided: the owner at the breach for a breached clock, at the fulfilment
for a met one, the current owner for a pending one. A clock withdrawn because its SLA stopped
applying to the lead (``applies_when``) counts for nobody, unless it had breached. Response time
is the clock time (business time for business-hours SLAs) from the clock's start to its
fulfilment. Each cycle of a re-armed clock counts as a clock of its own (a superseded cycle as
stopped, or breached if it had).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa

from leadflow.definitions import ProcessDefinition
from leadflow.engine._errors import StorageError
from leadflow.engine.store import Store
from leadflow.engine.store.tables import history, instances

__all__ = ["BoardSource", "SlaBoard", "SlaRow", "met_rate", "public", "sla_board", "spread"]


class BoardSource(Protocol):
    """What the board reads: an :class:`~leadflow.engine.Engine` (or its runtime)."""

    @property
    def store(self) -> Store:
        """The database."""

    def definition(self, process: str, version: int | None = None) -> ProcessDefinition:
        """A deployed definition (the latest when ``version`` is None)."""


@dataclass(slots=True)
class SlaRow:
    """One owner's (or team's) figures for one SLA policy."""

    owner: str | None
    """The owner (or team, when grouped by team); None for unassigned leads."""
    policy: str
    handled: int = 0
    """Clocks that ended (met, breached or stopped) in the window."""
    met: int = 0
    """Fulfilled before the target."""
    breached: int = 0
    """Reached the target unfulfilled (whether fulfilled late or not)."""
    stopped: int = 0
    """Ended without fulfilment or breach (the lead moved on another way)."""
    pending: int = 0
    """Still running or paused."""
    median_response: float | None = None
    """Median seconds of clock time to fulfilment (business time for business-hours SLAs)."""
    p90_response: float | None = None
    """90th percentile of the same."""
    median_response_calendar: float | None = None
    """Median seconds of calendar (wall) time from the clock's start to fulfilment, beside the
    clock time: a 10-minute business response may be a weekend of waiting for the lead."""
    p90_response_calendar: float | None = None
    """90th percentile of the same."""
    reassigned: int = 0
    """Leads this row's policy took away from this owner (an SLA's reassign step)."""
    target: str | None = None
    """For an SLA with a target matrix: the rule its clocks started under (``enterprise``,
    ``default``), one row per rule; None for an SLA with one target."""
    cycles: int = 0
    """Clocks of this row that a re-arm started (the second cycle of a clock and later), each
    also counted as met, breached, stopped or pending like any clock."""
    _times: list[float] = field(default_factory=list, repr=False)
    _walls: list[float] = field(default_factory=list, repr=False)

    @property
    def met_rate(self) -> float | None:
        """Share of decided clocks that were met."""
        return met_rate(self.met, self.breached)

    def as_dict(self) -> dict[str, Any]:
        return public(self)


def met_rate(met: int, breached: int) -> float | None:
    """Share of decided clocks (met or breached) that were met; None when none was decided."""
    decided = met + breached
    return met / decided if decided else None


def public(row: Any) -> dict[str, Any]:
    """A report row as JSON-ready data: its fields but the private lists, and its met rate."""
    out = {k: v for k, v in asdict(row).items() if not k.startswith("_")}
    out["met_rate"] = row.met_rate
    return out


def spread(values: list[float]) -> tuple[float | None, float | None]:
    """(median, 90th percentile) of ``values``; (None, None) for none."""
    ordered = sorted(values)
    return (statistics.median(ordered) if ordered else None), _percentile(ordered, 0.9)


@dataclass(frozen=True, slots=True)
class SlaBoard:
    """The SLA board of one process."""

    process: str
    by: str
    """``owner`` or ``team``."""
    since: datetime | None
    until: datetime | None
    rows: list[SlaRow]

    def as_dict(self) -> dict[str, Any]:
        return {
            "process": self.process,
            "by": self.by,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "rows": [r.as_dict() for r in self.rows],
        }


_Rows = dict[tuple[str | None, str, str | None], SlaRow]
"""Board rows by (owner or team, policy, target rule)."""


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


@dataclass(slots=True)
class _Clock:
    policy: str
    outcome: str = "pending"
    owner: str | None = None
    response: float | None = None
    decided_at: datetime | None = None
    started_at: datetime | None = None
    wall: float | None = None
    """Calendar seconds from the start to the fulfilment."""
    target: str | None = None
    """The target rule it started under (matrix SLAs)."""
    cycle: int = 1
    """Its cycle: 1 for a clock started by entering the stages, 2 and up after re-arms."""
    handoff: tuple[str | None, str] | None = None
    """(from team, to team) of a hand-off SLA's clock."""
    acted: tuple[float, float | None] | None = None
    """(clock seconds, calendar seconds) from the start to the fulfilment, late ones too."""


def _events(
    engine: BoardSource, process: str
) -> Iterator[tuple[int, str | None, datetime, str, dict[str, Any]]]:
    """(instance id, current owner, at, kind, details) of every change that touches SLAs or
    owners, per lead in version order."""
    h, i = history, instances
    query = (
        sa.select(i.c.id, i.c.owner, h.c.at, h.c.kind, h.c.details)
        .join(i, i.c.id == h.c.instance_id)
        .where(
            i.c.process == process,
            sa.or_(h.c.kind.in_(("started", "assigned", "sla")), h.c.details.like('%"sla":%')),
        )
        .order_by(h.c.instance_id, h.c.seq)
    )
    dt = engine.store.decode_time
    try:
        with engine.store.sa.connect() as conn:
            for iid, owner, at, kind, details in conn.execution_options(yield_per=2000).execute(
                query
            ):
                yield iid, owner, dt(at), kind, json.loads(details)
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"SLA report of {process}: the database failed: {exc}") from exc


@dataclass(slots=True)
class _Move:
    owner: str | None
    """The owner an SLA reassigned the lead away from."""
    at: datetime
    policy: str
    """The SLA whose ladder reassigned it."""
    target: str | None = None
    """The target rule of the clock that reassigned it (matrix SLAs)."""


def _clocks(engine: BoardSource, process: str) -> Iterator[_Clock | _Move]:
    """Every clock of every lead, and every reassignment an SLA made."""
    current: int | None = None
    owner: str | None = None
    final_owner: str | None = None
    open_clocks: dict[str, _Clock] = {}
    for iid, now_owner, at, kind, details in _events(engine, process):
        if iid != current:
            yield from _closing(open_clocks, final_owner)
            current, final_owner, open_clocks = iid, now_owner, {}
            # history starts with the lead's start, which names its first owner
            owner = details.get("owner") if kind == "started" else now_owner
        for entry in details.get("sla", ()):
            policy, event = entry["policy"], entry["event"]
            if event in ("started", "restarted", "rearmed"):
                if policy in open_clocks:
                    yield open_clocks.pop(policy)
                begun = entry.get("started_at")
                start = datetime.fromisoformat(begun) if isinstance(begun, str) else at
                open_clocks[policy] = _Clock(
                    policy,
                    owner=owner,
                    started_at=start,
                    target=entry.get("rule"),
                    cycle=int(entry.get("cycle", 1)),
                    handoff=_pair(entry.get("handoff")),
                )
                continue
            reassign = entry.get("reassign")
            if reassign and reassign.get("owner") not in (None, owner):
                reassigning = open_clocks.get(policy)
                yield _Move(owner, at, policy, reassigning.target if reassigning else None)
            if event == "withdrawn":  # the SLA stopped applying: no outcome, unless it breached
                gone = open_clocks.pop(policy, None)
                if gone is not None and gone.outcome == "breached":
                    yield gone
                continue
            clock = open_clocks.get(policy)
            if clock is None:
                continue
            if event == "breached" and clock.outcome == "pending":
                clock.outcome, clock.owner, clock.decided_at = "breached", owner, at
            elif event in ("fulfilled", "stopped", "superseded"):
                if clock.outcome == "pending":
                    late = bool(entry.get("breached"))
                    ended = "met" if event == "fulfilled" else "stopped"
                    clock.outcome = "breached" if late else ended
                    clock.owner, clock.decided_at = owner, at
                if event == "fulfilled":
                    wall = (at - clock.started_at).total_seconds() if clock.started_at else None
                    clock.acted = float(entry.get("elapsed", 0.0)), wall
                if event == "fulfilled" and not entry.get("breached"):
                    clock.response = float(entry.get("elapsed", 0.0))
                    if clock.started_at is not None:
                        clock.wall = max(0.0, (at - clock.started_at).total_seconds())
                yield open_clocks.pop(policy)
        if "owner" in details and kind in ("assigned", "sla"):
            owner = details["owner"]
    yield from _closing(open_clocks, final_owner)


def _pair(value: Any) -> tuple[str | None, str] | None:
    return (value.get("from"), str(value.get("to"))) if isinstance(value, dict) else None


def _closing(open_clocks: dict[str, _Clock], owner: str | None) -> Iterator[_Clock]:
    """Clocks still running at the end of a lead's history: pending ones belong to its current
    owner; breached ones stay with the owner at the breach."""
    for clock in open_clocks.values():
        if clock.outcome == "pending":
            clock.owner = owner
        yield clock


def sla_board(
    engine: BoardSource,
    process: str,
    *,
    by: str = "owner",
    since: datetime | None = None,
    until: datetime | None = None,
) -> SlaBoard:
    """The SLA board of ``process``, by ``owner`` or ``team``, for clocks decided in
    ``[since, until)`` (pending clocks always count)."""
    if by not in ("owner", "team"):
        raise ValueError(f"by must be 'owner' or 'team', not {by!r}")
    definition = engine.definition(process)
    team_of = {m.id: name for name, team in definition.teams.items() for m in team.members}

    def key(owner: str | None) -> str | None:
        return team_of.get(owner or "") if by == "team" else owner

    def inside(at: datetime | None) -> bool:
        return at is None or ((since is None or at >= since) and (until is None or at < until))

    rows: _Rows = {}
    for item in _clocks(engine, process):
        if isinstance(item, _Move):
            if inside(item.at):
                _row(rows, key(item.owner), item.policy, item.target).reassigned += 1
            continue
        if not inside(item.decided_at):
            continue
        row = _row(rows, key(item.owner), item.policy, item.target)
        if item.cycle > 1:
            row.cycles += 1
        if item.outcome == "pending":
            row.pending += 1
            continue
        row.handled += 1
        setattr(row, item.outcome, getattr(row, item.outcome) + 1)
        if item.response is not None:
            row._times.append(item.response)
        if item.wall is not None:
            row._walls.append(item.wall)
    for row in rows.values():
        row.median_response, row.p90_response = spread(row._times)
        row.median_response_calendar, row.p90_response_calendar = spread(row._walls)
    ordered = sorted(
        rows.values(), key=lambda r: (r.owner is None, r.owner or "", r.policy, r.target or "")
    )
    return SlaBoard(process, by, since, until, ordered)


def _row(rows: _Rows, owner: str | None, policy: str, target: str | None = None) -> SlaRow:
    row = rows.get((owner, policy, target))
    if row is None:
        row = rows[(owner, policy, target)] = SlaRow(owner, policy, target=target)
    return row
