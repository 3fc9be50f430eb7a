"""The pipeline board: a column per open stage, a page of cards each, totals per column.

Unlike the other reports it reads the current state (the instance rows), not history, so a
board of many thousands of leads costs one grouped read for the totals and one page read per
column (and one for the newest activity of its cards). Each card carries its SLA badge,
worked out from the row's clock states: ``breached`` when a clock passed its target,
``warning`` when a warning mark of a running clock fell due, ``ok`` while the clocks run in
time, None when the lead has no active clock.
:func:`open_clocks` lists the same clocks without their leads, soonest due first, for a wall.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadflow.engine._engine import Engine
from leadflow.engine._types import Instance
from leadflow.engine.reports._common import process_info
from leadflow.engine.sla.queue import QueueItem, clock_items, sla_queue
from leadflow.engine.store import InstanceRow, last_activities, lead_rows, open_totals

__all__ = ["Board", "BoardCard", "BoardColumn", "OpenClock", "board", "open_clocks"]


@dataclass(frozen=True, slots=True)
class BoardCard:
    """One open lead on the board."""

    cursor: int
    """Its place in the column's order (pass it as ``after`` for the next page)."""
    lead: Instance
    sla: str | None
    """``ok``, ``warning``, ``breached``, or None when no SLA clock is active."""
    sla_due: datetime | None
    """When the first running clock reaches its target (None when none runs)."""
    last_activity: tuple[str, datetime] | None = None
    """The type and time of the lead's newest activity (None before the first)."""

    @property
    def idle_since(self) -> datetime:
        """Since when nothing moved the lead on: its stage entry or its newest activity,
        whichever is later (a board shows a lead idle for long as rotting)."""
        entered = self.lead.stage_entered_at
        if self.last_activity is None:
            return entered
        return max(entered, self.last_activity[1])


@dataclass(frozen=True, slots=True)
class BoardColumn:
    """One open stage: its totals over every lead the filter keeps, and one page of cards."""

    stage: str
    title: str
    probability: int | None
    leads: int
    value: float
    weighted_value: float
    cards: tuple[BoardCard, ...]
    next_cursor: int | None
    """The ``after`` of the next page; None on the last page."""


@dataclass(frozen=True, slots=True)
class Board:
    """The board of one process."""

    process: str
    value_field: str | None
    columns: tuple[BoardColumn, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, cards as lead ids."""
        return {
            "process": self.process,
            "value_field": self.value_field,
            "columns": [
                {
                    "stage": c.stage,
                    "leads": c.leads,
                    "value": c.value,
                    "weighted_value": c.weighted_value,
                    "cards": [k.lead.lead_id for k in c.cards],
                    "next_cursor": c.next_cursor,
                }
                for c in self.columns
            ],
        }


def board(
    engine: Engine,
    process: str,
    *,
    owners: Collection[str] | None = None,
    unassigned: bool = False,
    per_column: int = 50,
    after: Mapping[str, int] | None = None,
    at: datetime | None = None,
    fields: Mapping[str, str] | None = None,
    hidden: Collection[str] = (),
) -> Board:
    """The board of ``process``: leads owned by ``owners`` (and unowned ones with
    ``unassigned``; every lead when ``owners`` is None) whose text ``fields`` hold the values
    given, ``per_column`` cards per open stage after that stage's cursor in ``after``. A value
    field in ``hidden`` (the fields the caller may not read) is not summed: the board then has
    no value field, as the other reports do."""
    if per_column < 1:
        raise ValueError(f"per_column must be at least 1, not {per_column}")
    info = process_info(engine, process, hidden=hidden)
    runtime = engine.runtime
    now = runtime.now(at)
    totals = open_totals(
        engine.store,
        process,
        owners=owners,
        unassigned=unassigned,
        value_field=info.value_field,
        fields=fields,
    )
    columns = []
    for stage in info.open_stages:
        rows = lead_rows(
            engine.store,
            process,
            stage=stage,
            owners=owners,
            unassigned=unassigned,
            closed=False,
            after=(after or {}).get(stage, 0),
            limit=per_column + 1,
            fields=fields,
        )
        more = len(rows) > per_column
        rows = rows[:per_column]
        latest = last_activities(engine.store, [row.id for row in rows])
        cards = tuple(_card(engine, row, now, latest.get(row.id)) for row in rows)
        count, value = totals.get(stage, (0, 0.0))
        probability = info.stages[stage].probability
        columns.append(
            BoardColumn(
                stage=stage,
                title=info.stages[stage].title,
                probability=probability,
                leads=count,
                value=value,
                weighted_value=value * (probability or 0) / 100,
                cards=cards,
                next_cursor=rows[-1].id if more and rows else None,
            )
        )
    return Board(process=process, value_field=info.value_field, columns=tuple(columns))


def _card(
    engine: Engine, row: InstanceRow, now: datetime, latest: tuple[str, datetime] | None
) -> BoardCard:
    clocks = _clocks(engine, row, now)
    badge = max((c.status for c in clocks), key=_SEVERITY.index, default=None)
    dues = [c.due_at for c in clocks if c.due_at is not None]
    instance = engine.runtime.instance(row)
    return BoardCard(row.id, instance, badge, min(dues, default=None), latest)


_SEVERITY = ("ok", "warning", "breached")


def _clocks(engine: Engine, row: InstanceRow, now: datetime) -> list[OpenClock]:
    """The lead's active SLA clocks with their status as of ``now``."""
    compiled = engine.runtime.compiled(row.process, row.definition_version)
    return [_anonymous(q) for q in clock_items(compiled, row, now)]


def _anonymous(q: QueueItem) -> OpenClock:
    return OpenClock(q.owner, q.policy, q.title or q.policy, q.status, q.state, q.due_at)


@dataclass(frozen=True, slots=True)
class OpenClock:
    """A running or paused SLA clock, without the lead it runs on (for a wall board)."""

    owner: str | None
    policy: str
    title: str
    status: str
    """``ok``, ``warning`` or ``breached``."""
    state: str
    """``running`` or ``paused``."""
    due_at: datetime | None
    """When it reaches its target (None while paused)."""


def open_clocks(
    engine: Engine,
    process: str,
    *,
    owners: Collection[str] | None = None,
    at: datetime | None = None,
) -> list[OpenClock]:
    """The active SLA clocks of the open leads of ``process`` (owned by ``owners``; every
    lead when None), the soonest due first and paused ones last. Names no lead: the live
    queue (:meth:`Engine.sla_queue`) without its lead ids."""
    items = sla_queue(
        engine.runtime, process, owners=owners, unassigned=owners is None, at=at, limit=None
    )
    return [_anonymous(q) for q in items]
