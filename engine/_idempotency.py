"""Idempotent writes: a retried change returns the first answer instead of running twice.

A caller (the HTTP service for an ``Idempotency-Key`` header, or a Python host) passes an
:class:`Idempotency` to ``start``, ``fire``, ``update``, ``record`` or ``assign``. The engine
looks the key up in the change's own transaction; a first request stores the resulting lead in
``lf_idempotency`` in that same transaction, so the answer exists exactly when the change does: a
retry after a crash, or on another replica, finds it. A key reused for a different request
(another ``request_hash``) is refused with :class:`IdempotencyConflict`. Two requests racing with
one key: one commits; the other's write fails (on the lead's version, or on the key's primary
key), writes nothing, and returns the first answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadflow.definitions import LeadflowError
from leadflow.engine._types import Instance
from leadflow.engine.store import Store, Tx

__all__ = [
    "Idempotency",
    "IdempotencyConflict",
    "answered",
    "decode_instance",
    "encode_instance",
    "remember",
    "replayed",
]


@dataclass(frozen=True, slots=True)
class Idempotency:
    """One request's idempotency key."""

    key: str
    """The client's key (``Idempotency-Key``), unique per request it means."""
    request_hash: str
    """A digest of what the request asks (method, path, body): a reused key must ask the same."""
    scope: str = ""
    """Whose key it is (the service uses the token's name): keys of two callers never meet."""
    status: int = 200
    """A status to keep with the answer (the service answers a replay as it answered first)."""


class IdempotencyConflict(LeadflowError, ValueError):
    """An idempotency key was reused for a different request; nothing was done."""

    code = "idempotency-conflict"

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"idempotency key '{key}' was already used for a different request; "
            "use a new key for a new request (nothing was done)"
        )


def encode_instance(instance: Instance) -> str:
    """The instance as JSON (times in ISO 8601), as stored with an idempotency key."""
    doc: dict[str, Any] = {
        "process": instance.process,
        "lead_id": instance.lead_id,
        "stage": instance.stage,
        "owner": instance.owner,
        "data": instance.data,
        "closed": instance.closed,
        "version": instance.version,
        "definition_version": instance.definition_version,
        "probability": instance.probability,
        "created_at": instance.created_at.isoformat(),
        "updated_at": instance.updated_at.isoformat(),
        "stage_entered_at": instance.stage_entered_at.isoformat(),
    }
    return json.dumps(doc, separators=(",", ":"), default=str)


def decode_instance(body: str) -> Instance:
    """The instance :func:`encode_instance` stored."""
    doc = json.loads(body)
    for name in ("created_at", "updated_at", "stage_entered_at"):
        doc[name] = datetime.fromisoformat(doc[name])
    return Instance(**doc)


def replayed(tx: Tx, idempotency: Idempotency) -> Instance | None:
    """The first answer to this key, read in ``tx``; :class:`IdempotencyConflict` when the key
    answered a different request."""
    stored = tx.answer(idempotency.scope, idempotency.key)
    if stored is None:
        return None
    if stored.request_hash != idempotency.request_hash:
        raise IdempotencyConflict(idempotency.key)
    return decode_instance(stored.body)


def remember(tx: Tx, idempotency: Idempotency, instance: Instance) -> None:
    """Store the answer in the change's own transaction."""
    tx.save_answer(
        idempotency.scope,
        idempotency.key,
        idempotency.request_hash,
        idempotency.status,
        encode_instance(instance),
        instance.updated_at,
    )


def answered(store: Store, idempotency: Idempotency | None) -> Instance | None:
    """After a write failed on a unique key: the answer a concurrent request with the same
    idempotency key committed, if that is what happened."""
    if idempotency is None:
        return None
    with store.transaction(f"read idempotency key {idempotency.key}") as tx:
        return replayed(tx, idempotency)
