"""The event envelope: every change becomes one CloudEvents 1.0 (JSON) event in the outbox.

Event types (``type``), one per kind of change:

===================================  ==========================================================
``leadflow.lead.started``            a lead started in a process
``leadflow.lead.stage_changed``      a transition between open stages (or a reopen)
``leadflow.lead.closed_won``         a transition into a ``closed: won`` stage
``leadflow.lead.closed_lost``        a transition into a ``closed: lost`` stage
``leadflow.lead.updated``            lead data changed (``data.changes``: field -> [old, new])
``leadflow.lead.activity_recorded``  a call, email, meeting or playbook item was recorded
``leadflow.lead.assigned``           the owner changed (``data.previous_owner``)
===================================  ==========================================================
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

__all__ = ["EVENT_TYPES", "envelope"]

EVENT_TYPES: tuple[str, ...] = (
    "leadflow.lead.started",
    "leadflow.lead.stage_changed",
    "leadflow.lead.closed_won",
    "leadflow.lead.closed_lost",
    "leadflow.lead.updated",
    "leadflow.lead.activity_recorded",
    "leadflow.lead.assigned",
)


def envelope(
    source: str, event_type: str, process: str, lead_id: str, at: datetime, data: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """(event id, CloudEvents structured-mode JSON object) for one change."""
    event_id = str(uuid.uuid4())
    return event_id, {
        "specversion": "1.0",
        "id": event_id,
        "source": f"{source}/{process}",
        "type": event_type,
        "subject": lead_id,
        "time": at.isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }
