"""``/healthz`` (the process answers) and ``/readyz`` (the database answers, schema at head)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from leadflow.definitions import LeadflowError
from leadflow.engine.store import head
from leadflow.service._deps import EngineDep
from leadflow.service._problems import Problem

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive (no database access)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(engine: EngineDep) -> dict[str, Any]:
    """Ready to serve: the database answers and its schema is at the shipped head (503 else)."""
    try:
        revision = engine.store.revision()
    except LeadflowError as exc:
        raise Problem(503, "not_ready", f"the database does not answer: {exc}") from exc
    expected = head()
    if revision != expected:
        raise Problem(
            503,
            "not_ready",
            f"the schema is at {revision or 'nothing'}, not {expected}: run leadflow db upgrade",
        )
    return {"status": "ready", "schema": revision}
