"""``/api/v1/leads`` (start a lead where the journeys send it) and ``/api/v1/journeys``."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from leadflow.engine.access import hidden_fields
from leadflow.service._deps import Caller, EngineDep, Writes
from leadflow.service._schemas import LeadOut, StartIn, etag_of, lead_location, lead_out

__all__ = ["JourneyRuleOut", "JourneysOut", "router"]

router = APIRouter(prefix="/api/v1", tags=["journeys"])


class JourneyRuleOut(BaseModel):
    """One journey rule: leads whose data satisfy ``when`` start in ``process``."""

    when: str | None
    """A CEL expression over ``lead``; null: every lead (the last rule only)."""
    process: str


class JourneysOut(BaseModel):
    """The journey rules, in the order they are tried (empty: no journeys are set)."""

    journeys: list[JourneyRuleOut]


@router.post("/leads", status_code=201, response_model=LeadOut)
def start_by_journey(
    body: StartIn, engine: EngineDep, writes: Writes, response: Response
) -> LeadOut:
    """Start a lead in the process of the first journey rule its data matches (201 and the
    lead; its ``process`` says where it went); 404 ``no_journey`` when no rule matches."""
    instance = engine.start_lead(
        body.lead_id, body.data, body.owner, actor=writes.actor, idempotency=writes.idempotency
    )
    process = instance.process
    response.headers["Location"] = lead_location(process, instance.lead_id)
    response.headers["ETag"] = etag_of(instance)
    definition = engine.definition(process, instance.definition_version)
    return lead_out(instance, hidden_fields(writes.actor.role, definition))


@router.get("/journeys", response_model=JourneysOut)
def get_journeys(engine: EngineDep, actor: Caller) -> JourneysOut:
    """The journey rules ``POST /api/v1/leads`` tries, in order (any token)."""
    journeys = engine.journeys()
    rules = () if journeys is None else journeys.rules
    return JourneysOut(journeys=[JourneyRuleOut(when=r.when, process=r.process) for r in rules])
