"""The SLA clocks of one lead as a person reads them: state, due time, marks fired.

``Engine.slas(process, lead_id)`` (and ``GET .../leads/{lead_id}/slas``) returns one
:class:`SlaStatus` per policy of the lead's definition version that has a clock on the lead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadflow.engine._reads import history
from leadflow.engine._runtime import Runtime

__all__ = ["MarkFired", "SlaStatus", "sla_status"]

_MARKS = ("warned", "breached", "escalated", "task")


@dataclass(frozen=True, slots=True)
class MarkFired:
    """A ladder mark or planned task that fired."""

    event: str
    """``warned``, ``breached``, ``escalated`` or ``task``."""
    at: datetime
    """When it was due (and recorded)."""
    mark: str | None = None
    """The mark as written (``80%``, ``10m business``)."""


@dataclass(frozen=True, slots=True)
class SlaStatus:
    """One SLA clock of a lead."""

    policy: str
    title: str | None
    state: str
    """``running``, ``paused``, ``met`` or ``stopped``."""
    breached: bool
    started_at: datetime
    target_seconds: float
    """The target, in the clock's time (business seconds for business-hours SLAs)."""
    elapsed_seconds: float
    """Clock time counted so far (up to the end for an ended clock)."""
    due_at: datetime | None
    """When a running clock reaches its target (None while paused or ended)."""
    next_mark_at: datetime | None
    """When the next ladder mark or task falls due (None when none is left)."""
    breached_at: datetime | None
    ended_at: datetime | None
    marks: list[MarkFired] = field(default_factory=list)
    rule: str | None = None
    """For an SLA with a target matrix: the rule the clock started under (``enterprise``,
    ``default``); None for an SLA with one target."""
    cycle: int = 1
    """The clock's cycle: 2 and up after re-arms (``rearm``) or later hand-offs."""
    handoff: dict[str, str | None] | None = None
    """For a hand-off SLA: the teams of the hand-off (``{"from": "sdr", "to": "ae"}``)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (times in ISO 8601)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        out["marks"] = [
            {"event": m.event, "at": m.at.isoformat(), "mark": m.mark} for m in self.marks
        ]
        return out


def sla_status(
    runtime: Runtime, process: str, lead_id: str, at: datetime | None = None
) -> list[SlaStatus]:
    """The lead's SLA clocks as of ``at`` (default now), in the definition's policy order."""
    when = runtime.now(at)
    with runtime.store.transaction(f"SLAs of {process}/{lead_id}") as tx:
        row = runtime.load(tx, process, lead_id)
    compiled = runtime.compiled(process, row.definition_version)
    fired: dict[str, list[MarkFired]] = {}
    for entry in history(runtime, process, lead_id):
        for event in entry.details.get("sla", ()):
            if event.get("event") in _MARKS:
                mark = MarkFired(event["event"], entry.at, event.get("mark"))
                fired.setdefault(event["policy"], []).append(mark)
    out = []
    for policy in compiled.sla.policies:
        clock = row.sla.get(policy.id)
        if clock is None:
            continue
        end = _time(clock.get("end"))
        upto = end if end is not None and end < when else when
        nxt = policy.next_mark(clock, row.data)
        out.append(
            SlaStatus(
                policy=policy.id,
                title=policy.policy.title,
                state=clock["s"],
                breached=clock.get("br") is not None,
                started_at=_time(clock["t0"]) or when,
                target_seconds=policy.matrix.of(clock).target.total_seconds(),
                elapsed_seconds=policy.elapsed(clock, row.data, upto).total_seconds(),
                due_at=policy.deadline(clock, row.data) if clock["s"] == "running" else None,
                next_mark_at=nxt[1] if nxt is not None else None,
                breached_at=_time(clock.get("br")),
                ended_at=end,
                marks=fired.get(policy.id, []),
                rule=policy.matrix.of(clock).label if policy.matrix.rules else None,
                cycle=int(clock.get("c", 1)),
                handoff=_pair(clock.get("ho")),
            )
        )
    return out


def _pair(value: Any) -> dict[str, str | None] | None:
    return {"from": value[0], "to": value[1]} if isinstance(value, list) else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
