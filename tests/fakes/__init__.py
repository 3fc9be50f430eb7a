"""Local fakes of the CRM APIs the adapters call, and helpers to build the events they get.

``from fakes.hubspot import FakeHubSpot`` (tests/ is on ``sys.path``). Each fake runs a
``ThreadingHTTPServer`` on 127.0.0.1:0 in a thread (``with FakeHubSpot() as hs: hs.url``),
records every request (``hs.requests``, ``hs.calls("PATCH")``) and can be scripted
(``fail_next``, ``stall_next``, ``rate_limit``; Salesforce ``expire_tokens``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from leadflow.adapters.base import AdapterConfigError, Delivery, Event, Subscription

__all__ = ["delivery", "make_event", "resolver"]

WHEN = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def make_event(
    short_type: str,
    lead_id: str = "L-1",
    seq: int = 2,
    *,
    stage: str = "contacted",
    owner: str | None = None,
    at: datetime = WHEN,
    ident: str | None = None,
    **data: Any,
) -> Event:
    """An event shaped like the engine's envelope (``short_type`` without ``leadflow.lead.``);
    ``data`` adds or overrides keys of the envelope's ``data``."""
    body: dict[str, Any] = {
        "process": "inbound-lead",
        "definition_version": 1,
        "lead_id": lead_id,
        "seq": seq,
        "stage": stage,
        "owner": owner,
        "actor": "sdr@example.com",
        **data,
    }
    envelope = {
        "specversion": "1.0",
        "id": ident or f"0194a1b2-0000-7000-8000-{seq:012d}",
        "source": "leadflow/inbound-lead",
        "type": f"leadflow.lead.{short_type}",
        "subject": lead_id,
        "time": at.isoformat(),
        "datacontenttype": "application/json",
        "data": body,
    }
    return Event.from_json(json.dumps(envelope), seq)


def delivery(
    event: Event,
    adapter: str = "crm",
    *,
    stages: Mapping[str, str] | None = None,
    fields: Mapping[str, str] | None = None,
    **options: Any,
) -> Delivery:
    """One delivery of ``event`` under a subscription with these maps and options."""
    return Delivery(
        event,
        Subscription(
            adapter, stages=dict(stages or {}), fields=dict(fields or {}), options=options
        ),
    )


def resolver(secrets: Mapping[str, str]) -> Any:
    """A SecretResolver over a fixed table (``{"env:HUBSPOT_TOKEN": "pat-..."}``)."""

    def resolve(ref: str) -> str:
        if ref not in secrets:
            raise AdapterConfigError(f"secret {ref} is not set")
        return secrets[ref]

    return resolve
