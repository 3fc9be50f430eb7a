"""The rows the hot path reads and writes: an instance, a due timer, a planned change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["SELECT_COLS", "Change", "DueTimer", "InstanceRow"]

SELECT_COLS = (
    "id, process, lead_id, definition_version, stage, owner, data, closed, version, "
    "created_at, updated_at, stage_entered_at, stage_seq, sla"
)
"""The columns of ``lf_instances`` an :class:`InstanceRow` is read from, in order."""


@dataclass(slots=True)
class InstanceRow:
    """A lead's instance as stored; mutable while a change is being planned (``id`` 0: new)."""

    id: int
    process: str
    lead_id: str
    definition_version: int
    stage: str
    owner: str | None
    data: dict[str, Any]
    closed: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    stage_entered_at: datetime
    stage_seq: int
    sla: dict[str, Any] = field(default_factory=dict)
    """SLA clock states by policy id (see :mod:`leadflow.engine.sla._clocks`)."""

    def copy(self) -> InstanceRow:
        """A shallow copy with its own data and SLA dicts."""
        return InstanceRow(
            self.id,
            self.process,
            self.lead_id,
            self.definition_version,
            self.stage,
            self.owner,
            dict(self.data),
            self.closed,
            self.version,
            self.created_at,
            self.updated_at,
            self.stage_entered_at,
            self.stage_seq,
            dict(self.sla),
        )


@dataclass(frozen=True, slots=True)
class DueTimer:
    """A claimed ``lf_timers`` row."""

    id: int
    instance_id: int
    policy: str
    step: int
    due_at: datetime


Timers = dict[str, tuple[int, datetime] | None]
"""Timer writes of a change: SLA policy -> (mark index, due time), or None to delete."""


@dataclass(slots=True)
class Change:
    """Everything one change writes, in one transaction."""

    row: InstanceRow
    """The instance after the change (its ``version`` already incremented)."""
    expected_version: int | None
    """The version the change was planned on; None for a new instance."""
    kind: str
    trigger: str | None
    from_stage: str | None
    to_stage: str | None
    actor: str | None
    at: datetime
    details: dict[str, Any]
    details_json: str
    event_id: str
    event_type: str
    event_json: str
    """The CloudEvents envelope, encoded."""
    activity: tuple[str, str, str | None, str | None] | None = None
    """(type, stage, actor, data JSON) of a recorded activity."""
    timers: Timers | None = None
    """The SLA timers this change sets or deletes."""
    extra_events: list[tuple[str, str, str]] | None = None
    """More outbox events of the same change: (event id, type, envelope JSON)."""
