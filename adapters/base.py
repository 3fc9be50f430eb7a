"""The adapter contract: what the outbox dispatcher hands an adapter, and what it gets back.

An adapter delivers leadflow events (CloudEvents 1.0, see :mod:`leadflow.engine` event types) to
one external system. The dispatcher owns ordering, retries, backoff and dead letters; an adapter
only turns a batch of events into API calls and classifies each outcome:

* ``Outcome.DELIVERED``: the system accepted the event (or had already seen its id);
* ``Outcome.RETRY``: a transient failure (timeout, 5xx, throttled); ``retry_after`` (seconds)
  carries the API's own throttling signal when it gave one (``Retry-After``, HubSpot's
  ``policyName`` window, Salesforce ``REQUEST_LIMIT_EXCEEDED``);
* ``Outcome.FAILED``: a permanent failure (validation error, unknown record, bad credentials
  that a token refresh did not fix). The dispatcher dead-letters it.

Adapters never put secrets into results, exceptions or logs: ``detail`` is shown to operators.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from leadflow.definitions import LeadflowError

__all__ = [
    "Adapter",
    "AdapterConfigError",
    "AdapterFactory",
    "Delivery",
    "Event",
    "Outcome",
    "Result",
    "SecretResolver",
    "Subscription",
]


class AdapterConfigError(LeadflowError, ValueError):
    """An adapter's deployment configuration is wrong (says which key and what is allowed)."""

    code = "adapter-config-invalid"


@dataclass(frozen=True, slots=True)
class Event:
    """One event from the outbox, as the CloudEvents envelope the engine wrote."""

    id: str
    """The CloudEvents ``id`` (a UUIDv7): stable across retries, the idempotency key."""
    type: str
    """``leadflow.lead.stage_changed`` and the other documented event types."""
    subject: str
    """The lead id."""
    time: datetime
    """When the change happened (aware UTC)."""
    seq: int
    """The lead's version after the change: events of one lead are ordered by it."""
    envelope: Mapping[str, Any]
    """The parsed CloudEvents JSON (``data`` holds process, stage, owner, changes, ...)."""
    raw: str
    """The envelope exactly as stored: send these bytes when the receiver wants CloudEvents."""
    lead: Mapping[str, Any] | None = None
    """The lead's data as it is when the event is delivered (not when it happened; None for
    process events). Use it for stable values such as the CRM record id a lead field holds."""

    @classmethod
    def from_json(cls, raw: str, seq: int) -> Event:
        """An :class:`Event` from the stored envelope text."""
        envelope = json.loads(raw)
        return cls(
            id=envelope["id"],
            type=envelope["type"],
            subject=envelope["subject"],
            time=datetime.fromisoformat(envelope["time"]),
            seq=seq,
            envelope=envelope,
            raw=raw,
        )

    @property
    def data(self) -> Mapping[str, Any]:
        """The envelope's ``data``."""
        data: Mapping[str, Any] = self.envelope.get("data", {})
        return data


@dataclass(frozen=True, slots=True)
class Subscription:
    """What a process definition asks one adapter to receive (``subscriptions:`` in YAML).

    ``stages`` maps leadflow stage names to the CRM's ids (a HubSpot ``dealstage``, a Pipedrive
    ``stage_id``); ``fields`` maps lead fields to CRM properties; ``options`` holds the rest of
    the subscription as written (adapter-specific keys such as ``object: deal``).
    """

    adapter: str
    """The adapter instance name, as configured in the deployment configuration."""
    events: frozenset[str] = frozenset({"*"})
    """Event types to deliver; ``*`` for all."""
    stages: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)

    def wants(self, event_type: str) -> bool:
        """Whether events of ``event_type`` go to this adapter."""
        return "*" in self.events or event_type in self.events


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event to deliver under one subscription; ``attempt`` counts from 1."""

    event: Event
    subscription: Subscription
    attempt: int = 1


class Outcome(enum.Enum):
    """How one delivery went."""

    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one delivery, in the order the deliveries were given."""

    outcome: Outcome
    detail: str = ""
    """What happened, for operators (status code, the API's error code and message); no secrets."""
    retry_after: float | None = None
    """Seconds the API asked us to wait before the next call (throttling), if it said."""
    status: int | None = None
    """The HTTP status of the response, when there was one."""

    @classmethod
    def delivered(cls, detail: str = "", status: int | None = None) -> Result:
        return cls(Outcome.DELIVERED, detail, None, status)

    @classmethod
    def retry(
        cls, detail: str, retry_after: float | None = None, status: int | None = None
    ) -> Result:
        return cls(Outcome.RETRY, detail, retry_after, status)

    @classmethod
    def failed(cls, detail: str, status: int | None = None) -> Result:
        return cls(Outcome.FAILED, detail, None, status)


@runtime_checkable
class Adapter(Protocol):
    """Delivers events to one external system. Implementations must be thread-safe:
    the dispatcher calls ``deliver`` from several threads at once (never with two events of the
    same lead in flight)."""

    name: str
    """The adapter instance name (``hubspot``, ``crm_webhook``)."""
    max_batch: int
    """The most deliveries one ``deliver`` call takes (1 when the API has no batch endpoint)."""

    def deliver(self, deliveries: Sequence[Delivery]) -> list[Result]:
        """Deliver ``deliveries``; one :class:`Result` each, in order. Must not raise for
        failures of the remote system (return RETRY or FAILED); an exception is treated as a
        RETRY of the whole batch."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


SecretResolver = Callable[[str], str]
"""Resolves a secret reference from the deployment configuration (``env:HUBSPOT_TOKEN``,
``file:/run/secrets/hubspot``) to its value; raises :class:`AdapterConfigError` naming the
reference (never the value) when it cannot."""

AdapterFactory = Callable[[str, Mapping[str, Any], SecretResolver], Adapter]
"""``factory(name, options, resolve_secret)`` builds a configured adapter instance; ``options`` is
the adapter's table from the deployment configuration (TOML) without ``type``. It raises
:class:`AdapterConfigError` for missing or invalid options."""
