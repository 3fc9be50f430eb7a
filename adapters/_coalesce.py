"""Coalescing: a run of rapid updates to one lead goes to a CRM as one write.

``coalesce = true`` in an adapter's table (for adapters that write the lead's current state,
where only the latest values matter) lets the dispatcher fold the ``leadflow.lead.updated``
events that directly follow a lead's queue head, and are due, into the head's delivery: the
adapter receives one event, the last one (its id, time and seq), whose ``data.changes`` hold
each changed field's value before the first update and after the last, and whose CloudEvents
extension attribute ``leadflowcoalesced`` says how many events it stands for. All of them are
recorded with its outcome. Other event types are never folded, and the order of a lead's
events is kept.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from leadflow.adapters.base import Event

__all__ = ["COALESCED", "merge"]

COALESCED = frozenset({"leadflow.lead.updated"})
"""Event types that may be folded into one write."""


def merge(events: Sequence[Event]) -> Event:
    """One event standing for ``events`` (updates of one lead, in order)."""
    last = events[-1]
    if len(events) == 1:
        return last
    changes: dict[str, list[Any]] = {}
    for event in events:
        for name, pair in dict(event.data.get("changes") or {}).items():
            before = changes[name][0] if name in changes else pair[0]
            changes[name] = [before, pair[1]]
    data = {**last.data, "changes": changes}
    envelope = {**last.envelope, "data": data, "leadflowcoalesced": len(events)}
    raw = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
    return dataclasses.replace(last, envelope=envelope, raw=raw)
