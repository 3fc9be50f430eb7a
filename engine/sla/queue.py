"""The live queue: every running SLA clock of a process's open leads, the next breach first.

What a rep or a manager works from: for each open lead with an active clock, which SLA, its
state, when it breaches (``due_at``), how long is left (negative: overdue) and whether it has
breached already. Running clocks come first, soonest due first; paused clocks (no due time while
paused) last. ``Engine.sla_queue``, ``leadflow report queue`` and ``GET
/api/v1/processes/{process}/queue`` answer it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from leadflow.engine.store import InstanceRow, lead_rows

if TYPE_CHECKING:
    from leadflow.engine._compiler import CompiledProcess
    from leadflow.engine._runtime import Runtime

__all__ = ["QueueItem", "clock_items", "sla_queue"]

_PAGE = 1000


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One active SLA clock of one open lead."""

    lead_id: str
    owner: str | None
    stage: str
    policy: str
    title: str | None
    state: str
    """``running`` or ``paused``."""
    due_at: datetime | None
    """When it breaches (None while paused)."""
    seconds_left: float | None
    """Until ``due_at`` from the queue's time; negative when overdue."""
    status: str = "ok"
    """``ok``, ``warning`` (a warning mark fired) or ``breached`` (a passed deadline the sweep
    has not marked yet, too): the badge of a card or a wall."""

    @property
    def breached(self) -> bool:
        """Whether it has breached (its ``status``)."""
        return self.status == "breached"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        out = asdict(self)
        out["due_at"] = self.due_at.isoformat() if self.due_at else None
        out["breached"] = self.breached
        return out


def clock_items(compiled: CompiledProcess, row: InstanceRow, now: datetime) -> list[QueueItem]:
    """The active (running or paused) SLA clocks of one lead as of ``now``."""
    out: list[QueueItem] = []
    for p in compiled.sla.policies:
        clock = (row.sla or {}).get(p.id)
        if clock is None or clock.get("s") not in ("running", "paused"):
            continue
        due = p.deadline(clock, row.data) if clock.get("s") == "running" else None
        left = (due - now).total_seconds() if due is not None else None
        if clock.get("br") is not None or (left is not None and left <= 0):
            status = "breached"
        elif any(m.level == "warning" for m in p.matrix.of(clock).marks[: clock.get("k", 0)]):
            status = "warning"
        else:
            status = "ok"
        out.append(
            QueueItem(
                row.lead_id,
                row.owner,
                row.stage,
                p.id,
                p.policy.title,
                str(clock["s"]),
                due,
                left,
                status,
            )
        )
    return out


def sla_queue(
    runtime: Runtime,
    process: str,
    *,
    owners: Collection[str] | None = None,
    unassigned: bool = True,
    policy: str | None = None,
    at: datetime | None = None,
    limit: int | None = 100,
) -> list[QueueItem]:
    """The active clocks of ``process``'s open leads (of ``owners`` when given, with unowned
    leads when ``unassigned``), the next breach first; at most ``limit`` (None: all)."""
    if limit is not None and not 1 <= limit <= 10_000:
        raise ValueError(f"limit must be 1 to 10000, not {limit!r}")
    now = runtime.now(at)
    items: list[QueueItem] = []
    after = 0
    while True:
        rows = lead_rows(
            runtime.store,
            process,
            owners=owners,
            unassigned=unassigned,
            closed=False,
            after=after,
            limit=_PAGE,
        )
        for row in rows:
            if row.sla:
                compiled = runtime.compiled(process, row.definition_version)
                items += [q for q in clock_items(compiled, row, now) if policy in (None, q.policy)]
        if len(rows) < _PAGE:
            break
        after = rows[-1].id
    items.sort(key=lambda q: (q.due_at is None, q.due_at or now, q.lead_id))
    return items if limit is None else items[:limit]
