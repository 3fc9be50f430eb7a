"""``/api/v1/outbox``: the delivery backlog and dead letters, and retrying them (``ops``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query

from leadflow.adapters import Outbox
from leadflow.engine.access import require
from leadflow.service._deps import Caller, EngineDep
from leadflow.service._schemas import RetryIn

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/outbox", tags=["outbox"])


@router.get("")
def outbox_status(
    engine: EngineDep,
    actor: Caller,
    status: str | None = "dead",
    adapter: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """Counts per adapter and the deliveries of one status (dead letters by default)."""
    require(actor, "outbox")
    outbox = Outbox(engine)
    backlog = outbox.status()
    return {
        "undispatched": backlog.undispatched,
        "adapters": [asdict(a) for a in backlog.adapters],
        "deliveries": [asdict(d) for d in outbox.list(status, adapter, None, limit)],
    }


@router.post("/retry")
def outbox_retry(body: RetryIn, engine: EngineDep, actor: Caller) -> dict[str, int]:
    """Make deliveries due now: ``ids``, or ``all_dead`` (optionally of one ``adapter``)."""
    require(actor, "outbox")
    count = Outbox(engine).retry(body.ids or None, all_dead=body.all_dead, adapter=body.adapter)
    return {"retried": count}
