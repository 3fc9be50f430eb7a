"""What the engine returns: instances, history entries, next steps, batch results."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadflow.engine._errors import CriterionResult, LeadflowError

__all__ = [
    "BatchResult",
    "HistoryEntry",
    "Instance",
    "ItemFailure",
    "NextSteps",
    "PlaybookStatus",
    "TriggerOption",
]


@dataclass(frozen=True, slots=True)
class Instance:
    """A lead's state in one process, as of its last committed change."""

    process: str
    lead_id: str
    stage: str
    owner: str | None
    data: dict[str, Any]
    closed: str | None
    """``won``, ``lost`` or None while the lead is open."""
    version: int
    """Incremented by every change; what concurrent changes are checked against."""
    definition_version: int
    """The definition version this lead runs on."""
    probability: int | None
    """The stage's win probability, in percent."""
    created_at: datetime
    updated_at: datetime
    stage_entered_at: datetime

    @property
    def is_open(self) -> bool:
        """True while the lead is in an open stage."""
        return self.closed is None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One committed change. History is append-only; ``seq`` equals the version it produced."""

    seq: int
    at: datetime
    kind: str
    """``started``, ``transition``, ``updated``, ``activity`` or ``assigned``."""
    trigger: str | None
    from_stage: str | None
    to_stage: str | None
    actor: str | None
    details: dict[str, Any]
    """``changes`` (field -> [old, new]), ``criteria`` that let a transition pass, ``activity``
    data, ``owner``/``previous_owner``."""

    @property
    def criteria(self) -> list[CriterionResult]:
        """The criteria results recorded with a transition."""
        return [
            CriterionResult(
                id=c["id"],
                message=c["message"],
                met=c["met"],
                kind=c["kind"],
                source=c["source"],
                seen=c["seen"],
                applies=c.get("applies", True),
            )
            for c in self.details.get("criteria", [])
        ]


@dataclass(frozen=True, slots=True)
class PlaybookStatus:
    """A playbook item of the current stage and whether it is done in this stage visit."""

    id: str
    title: str
    template: str | None
    activity: str
    done: bool


@dataclass(frozen=True, slots=True)
class TriggerOption:
    """A transition the lead may take from its stage, with every criterion evaluated now."""

    trigger: str
    to: str
    ready: bool
    """True when every criterion is met (``requires`` fields still have to be provided)."""
    criteria: list[CriterionResult]
    requires: tuple[str, ...]
    title: str | None = None


@dataclass(frozen=True, slots=True)
class NextSteps:
    """What happened and what is next: stage, playbook progress and the ways out."""

    process: str
    lead_id: str
    stage: str
    closed: str | None
    playbook: list[PlaybookStatus]
    options: list[TriggerOption]

    @property
    def ready(self) -> list[str]:
        """The triggers whose criteria are all met."""
        return [o.trigger for o in self.options if o.ready]


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """One item of a batch that failed, and why; the other items were not affected."""

    index: int
    lead_id: str
    error: LeadflowError


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome of ``start_many`` / ``fire_many``."""

    succeeded: list[Instance] = field(default_factory=list)
    """The instance after each successful item, in item order."""
    failed: list[ItemFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every item succeeded."""
        return not self.failed
