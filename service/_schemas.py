"""The JSON shapes of the HTTP API (pydantic models: the OpenAPI document is built from them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from leadflow.engine import HistoryEntry, Instance, NextSteps
from leadflow.engine.access import seen_without_hidden, without_hidden

__all__ = [
    "ActivityIn",
    "AssignIn",
    "BatchFireIn",
    "BatchOut",
    "BatchStartIn",
    "DeployIn",
    "FireIn",
    "HistoryOut",
    "LeadOut",
    "LeadPage",
    "NextStepsOut",
    "PatchIn",
    "ProcessOut",
    "RetryIn",
    "StartIn",
    "etag_of",
    "history_out",
    "lead_location",
    "lead_out",
    "next_steps_out",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StartIn(_In):
    """Start a lead."""

    lead_id: str = Field(min_length=1, max_length=255)
    """The lead's id in the host system (unique per process)."""
    data: dict[str, Any] = Field(default_factory=dict)
    """Field values, checked against the definition's field contract."""
    owner: str | None = None
    """The first owner; routing decides when it is absent and the definition routes."""


class FireIn(_In):
    """Fire a trigger."""

    trigger: str = Field(min_length=1)
    data: dict[str, Any] | None = None
    """Field values merged into the lead if the transition passes."""


class ActivityIn(_In):
    """Record an activity."""

    type: str = Field(min_length=1)
    """``call``, ``email``, ``meeting``, a playbook item id, ..."""
    data: dict[str, Any] | None = None


class PatchIn(_In):
    """Change field values (``null`` unsets a field)."""

    data: dict[str, Any]


class AssignIn(_In):
    """Give the lead to an owner (``null`` unassigns)."""

    owner: str | None


class PassIn(_In):
    """Pass the lead on: the routing rules pick someone else."""

    reason: str = Field(min_length=1, max_length=500)
    """Why; kept in the lead's history."""


class SnoozeIn(_In):
    """Snooze an SLA clock by hand (the SLA's ``snooze:`` rule decides who and how much)."""

    by: str = Field(min_length=1, max_length=32)
    """How long: ``30m``, ``2h`` (the clock's own kind of time)."""
    reason: str = Field(min_length=1, max_length=500)
    """Why; kept in the lead's history."""


class DeployIn(_In):
    """Deploy a definition version."""

    yaml: str = Field(min_length=1)
    """The definition's YAML text."""
    file: str = "request.yaml"
    """The name problems are reported against."""


class RetryIn(_In):
    """Retry deliveries: name ``ids``, or ask for ``all_dead`` (of one ``adapter``)."""

    ids: list[int] = Field(default_factory=list)
    all_dead: bool = False
    adapter: str | None = None


class BatchStartIn(_In):
    """Start many leads (one transaction per 1,000)."""

    items: list[StartIn] = Field(max_length=10_000)


class _BatchFireItem(_In):
    lead_id: str
    trigger: str
    data: dict[str, Any] | None = None


class BatchFireIn(_In):
    """Fire many triggers (one transaction per 1,000; items on one lead apply in order)."""

    items: list[_BatchFireItem] = Field(max_length=10_000)


class LeadOut(BaseModel):
    """A lead as the caller may see it."""

    lead_id: str
    process: str
    version: int
    """The lead's version: incremented by every change (the ``etag`` is made of it)."""
    definition_version: int
    stage: str
    owner: str | None
    data: dict[str, Any]
    closed: str | None
    """``won``, ``lost`` or null while open."""
    probability: int | None
    created_at: datetime
    stage_entered_at: datetime
    updated_at: datetime
    etag: str
    """Send it back in ``If-Match`` to change the lead only if nobody changed it meanwhile."""


class LeadPage(BaseModel):
    """One page of leads; pass ``next_cursor`` as ``cursor`` for the next page."""

    items: list[LeadOut]
    next_cursor: str | None


class HistoryOut(BaseModel):
    """One committed change of a lead."""

    seq: int
    at: datetime
    kind: str
    trigger: str | None
    from_stage: str | None
    to_stage: str | None
    actor: str | None
    details: dict[str, Any]


class NextStepsOut(BaseModel):
    """The stage's playbook and every allowed trigger with its criteria evaluated."""

    lead_id: str
    process: str
    stage: str
    closed: str | None
    playbook: list[dict[str, Any]]
    triggers: list[dict[str, Any]]


class ProcessOut(BaseModel):
    """A deployed process: its versions and, of the latest, stages, triggers and SLAs."""

    process: str
    versions: list[int]
    latest: int
    stages: list[dict[str, Any]]
    triggers: list[dict[str, Any]]
    slas: list[dict[str, Any]]


class BatchOut(BaseModel):
    """Per item: the lead, or the error it met."""

    succeeded: list[LeadOut]
    failed: list[dict[str, Any]]


def lead_location(process: str, lead_id: str) -> str:
    """The URL path of a lead, its id percent-encoded (``/``, spaces and all)."""
    return f"/api/v1/processes/{quote(process, safe='')}/leads/{quote(lead_id, safe='')}"


def etag_of(instance: Instance) -> str:
    """The lead's entity tag: its version, quoted (RFC 9110)."""
    return f'"{instance.version}"'


def lead_out(instance: Instance, hidden: frozenset[str] = frozenset()) -> LeadOut:
    """The API view of a lead, without the fields in ``hidden``."""
    return LeadOut(
        lead_id=instance.lead_id,
        process=instance.process,
        version=instance.version,
        definition_version=instance.definition_version,
        stage=instance.stage,
        owner=instance.owner,
        data={k: v for k, v in instance.data.items() if k not in hidden},
        closed=instance.closed,
        probability=instance.probability,
        created_at=instance.created_at,
        stage_entered_at=instance.stage_entered_at,
        updated_at=instance.updated_at,
        etag=etag_of(instance),
    )


def history_out(entry: HistoryEntry, hidden: frozenset[str] = frozenset()) -> HistoryOut:
    """The API view of a history entry, without the values of the fields in ``hidden``."""
    details = without_hidden(entry.details, hidden) if hidden else entry.details
    return HistoryOut(
        seq=entry.seq,
        at=entry.at,
        kind=entry.kind,
        trigger=entry.trigger,
        from_stage=entry.from_stage,
        to_stage=entry.to_stage,
        actor=entry.actor,
        details=details,
    )


def next_steps_out(steps: NextSteps, hidden: frozenset[str] = frozenset()) -> NextStepsOut:
    """The API view of next steps (values of fields in ``hidden`` left out of ``seen``)."""
    return NextStepsOut(
        lead_id=steps.lead_id,
        process=steps.process,
        stage=steps.stage,
        closed=steps.closed,
        playbook=[
            {"id": p.id, "title": p.title, "activity": p.activity, "done": p.done}
            for p in steps.playbook
        ],
        triggers=[
            {
                "trigger": o.trigger,
                "to": o.to,
                "title": o.title,
                "ready": o.ready,
                "requires": list(o.requires),
                "criteria": [
                    {
                        "id": c.id,
                        "met": c.met,
                        "message": c.message,
                        "seen": seen_without_hidden(c.seen, hidden),
                    }
                    for c in o.criteria
                ],
            }
            for o in steps.options
        ],
    )
