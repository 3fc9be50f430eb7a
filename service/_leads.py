"""``/api/v1/processes/{process}/leads``: start, read, change and list leads."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from leadflow.definitions import LeadflowError
from leadflow.engine import BatchResult, Engine, Instance
from leadflow.engine.access import Actor, hidden_fields, require
from leadflow.engine.reports import stage_titles
from leadflow.service._deps import Caller, EngineDep, Writes
from leadflow.service._problems import Problem, fields_of, status_of
from leadflow.service._schemas import (
    ActivityIn,
    AssignIn,
    BatchFireIn,
    BatchOut,
    BatchStartIn,
    FireIn,
    HistoryOut,
    LeadOut,
    LeadPage,
    NextStepsOut,
    PassIn,
    PatchIn,
    SnoozeIn,
    StartIn,
    etag_of,
    history_out,
    lead_location,
    lead_out,
    next_steps_out,
)
from leadflow.service._scope import visible_owners

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/processes/{process}/leads", tags=["leads"])


def _answer(response: Response, instance: Instance, engine: Engine, actor: Actor) -> LeadOut:
    response.headers["ETag"] = etag_of(instance)
    definition = engine.definition(instance.process, instance.definition_version)
    return lead_out(instance, hidden_fields(actor.role, definition))


def _readable(engine: Engine, actor: Actor, instance: Instance) -> frozenset[str]:
    """:class:`AccessDenied` unless ``actor`` may read the lead; else the fields hidden from it."""
    definition = engine.definition(instance.process, instance.definition_version)
    require(actor, "read", instance, definition)
    return hidden_fields(actor.role, definition)


@router.post("", status_code=201, response_model=LeadOut)
def start_lead(
    process: str, body: StartIn, engine: EngineDep, writes: Writes, response: Response
) -> LeadOut:
    """Start a lead in the latest version of the process (201 and the lead)."""
    idempotency = writes.idempotency
    instance = engine.start(
        process, body.lead_id, body.data, body.owner, actor=writes.actor, idempotency=idempotency
    )
    response.headers["Location"] = lead_location(process, instance.lead_id)
    return _answer(response, instance, engine, writes.actor)


@router.get("", response_model=LeadPage)
def list_leads(
    process: str,
    engine: EngineDep,
    actor: Caller,
    stage: str | None = None,
    owner: str | None = None,
    team: str | None = None,
    state: Literal["open", "closed", "all"] = "all",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> LeadPage:
    """Leads the caller may read, in start order, a page at a time (``next_cursor``)."""
    definition = engine.definition(process)
    if stage is not None and stage not in definition.stages:
        _check_stage(engine, process, stage)
    owners, unassigned = visible_owners(actor, definition, owner, team)
    closed = {"open": False, "closed": True, "all": None}[state]
    page = engine.leads(
        process,
        stage=stage,
        owners=owners,
        unassigned=unassigned,
        closed=closed,
        after=_after(cursor),
        limit=limit + 1,
    )
    more = len(page) > limit
    page = page[:limit]
    next_cursor = _cursor(page[-1][0]) if more and page else None
    hidden = hidden_fields(actor.role, definition)
    return LeadPage(items=[lead_out(i, hidden) for _, i in page], next_cursor=next_cursor)


@router.post("/{lead_id:path}/fire", response_model=LeadOut)
def fire(
    process: str,
    lead_id: str,
    body: FireIn,
    engine: EngineDep,
    writes: Writes,
    response: Response,
) -> LeadOut:
    """Fire a trigger: 409 ``guard_failed`` with the unmet criteria, 409 ``invalid_transition``
    with the allowed triggers, 422 naming a bad field."""
    instance = engine.fire(
        process,
        lead_id,
        body.trigger,
        body.data,
        **writes.options,
    )
    return _answer(response, instance, engine, writes.actor)


@router.post("/{lead_id:path}/activities", status_code=201, response_model=LeadOut)
def record_activity(
    process: str,
    lead_id: str,
    body: ActivityIn,
    engine: EngineDep,
    writes: Writes,
    response: Response,
) -> LeadOut:
    """Record an activity (a call, an email, a playbook item done)."""
    instance = engine.record(
        process,
        lead_id,
        body.type,
        body.data,
        **writes.options,
    )
    return _answer(response, instance, engine, writes.actor)


@router.patch("/{lead_id:path}", response_model=LeadOut)
def update_lead(
    process: str,
    lead_id: str,
    body: PatchIn,
    engine: EngineDep,
    writes: Writes,
    response: Response,
) -> LeadOut:
    """Change field values (``null`` unsets one)."""
    instance = engine.update(
        process,
        lead_id,
        body.data,
        **writes.options,
    )
    return _answer(response, instance, engine, writes.actor)


@router.post("/{lead_id:path}/assign", response_model=LeadOut)
def assign(
    process: str,
    lead_id: str,
    body: AssignIn,
    engine: EngineDep,
    writes: Writes,
    response: Response,
) -> LeadOut:
    """Give the lead to an owner (``null`` unassigns)."""
    instance = engine.assign(
        process,
        lead_id,
        body.owner,
        **writes.options,
    )
    return _answer(response, instance, engine, writes.actor)


@router.post("/{lead_id:path}/pass", response_model=LeadOut)
def pass_lead(
    process: str,
    lead_id: str,
    body: PassIn,
    engine: EngineDep,
    writes: Writes,
    response: Response,
) -> LeadOut:
    """Pass the lead on with a reason: the routing rules give it to someone else (never back
    to the caller's owner; queued when nobody is available)."""
    instance = engine.pass_lead(
        process,
        lead_id,
        body.reason,
        **writes.options,
    )
    return _answer(response, instance, engine, writes.actor)


@router.post("/{lead_id:path}/slas/{policy}/snooze", response_model=LeadOut)
def snooze_sla(
    process: str,
    lead_id: str,
    policy: str,
    body: SnoozeIn,
    engine: EngineDep,
    writes: Writes,
    response: Response,
) -> LeadOut:
    """Snooze the lead's running SLA clock ``policy`` by ``by``, with a reason: 409
    ``snooze_refused`` (not allowed by the SLA, over its maximum, no running clock), 403 for a
    role the SLA's rule does not list, 422 for a bad duration."""
    instance = engine.snooze_sla(
        process,
        lead_id,
        policy,
        body.by,
        body.reason,
        **writes.options,
    )
    return _answer(response, instance, engine, writes.actor)


@router.get("/{lead_id:path}/history", response_model=list[HistoryOut])
def history(process: str, lead_id: str, engine: EngineDep, actor: Caller) -> list[HistoryOut]:
    """Every change of the lead, oldest first."""
    hidden = _readable(engine, actor, engine.get(process, lead_id))
    return [history_out(e, hidden) for e in engine.history(process, lead_id)]


@router.get("/{lead_id:path}/next-steps", response_model=NextStepsOut)
def next_steps(process: str, lead_id: str, engine: EngineDep, actor: Caller) -> NextStepsOut:
    """The stage's playbook and every allowed trigger with its criteria evaluated."""
    hidden = _readable(engine, actor, engine.get(process, lead_id))
    return next_steps_out(engine.next_steps(process, lead_id), hidden)


@router.get("/{lead_id:path}/slas")
def slas(process: str, lead_id: str, engine: EngineDep, actor: Caller) -> list[dict[str, Any]]:
    """Each SLA clock of the lead: state, due time, elapsed and target, the marks fired."""
    _readable(engine, actor, engine.get(process, lead_id))
    return [s.as_dict() for s in engine.slas(process, lead_id)]


# declared after the routes below a lead, so that ``/{lead_id:path}`` (a lead id may hold a
# ``/``, sent as ``%2F``) does not take their paths
@router.get("/{lead_id:path}", response_model=LeadOut)
def get_lead(
    process: str, lead_id: str, engine: EngineDep, actor: Caller, response: Response
) -> LeadOut:
    """One lead (its ``ETag`` header is the lead's version)."""
    instance = engine.get(process, lead_id)
    _readable(engine, actor, instance)
    return _answer(response, instance, engine, actor)


@router.post(":batch-start", response_model=BatchOut)
def batch_start(process: str, body: BatchStartIn, engine: EngineDep, actor: Caller) -> BatchOut:
    """Start many leads; each item succeeds or fails on its own (``access_denied`` too: the
    engine checks the caller's rules on each item in the batch's transaction)."""
    definition = engine.definition(process)
    require(actor, "start", None, definition)
    items = [
        {"lead_id": i.lead_id, "data": i.data, "owner": i.owner, "actor": actor} for i in body.items
    ]
    return _batch(engine.start_many(process, items), hidden_fields(actor.role, definition))


@router.post(":batch-fire", response_model=BatchOut)
def batch_fire(process: str, body: BatchFireIn, engine: EngineDep, actor: Caller) -> BatchOut:
    """Fire many triggers; items the caller may not fire fail with ``access_denied`` (checked by
    the engine on each lead as the batch's transaction reads it)."""
    definition = engine.definition(process)
    items = [
        {"lead_id": i.lead_id, "trigger": i.trigger, "data": i.data, "actor": actor}
        for i in body.items
    ]
    return _batch(engine.fire_many(process, items), hidden_fields(actor.role, definition))


def _batch(result: BatchResult, hidden: frozenset[str]) -> BatchOut:
    return BatchOut(
        succeeded=[lead_out(i, hidden) for i in result.succeeded],
        failed=[_failure(f.lead_id, f.error, f.index) for f in result.failed],
    )


def _failure(lead_id: str, exc: BaseException, index: int) -> dict[str, object]:
    if isinstance(exc, LeadflowError):
        code = str(getattr(exc, "code", "error")).replace("-", "_")
        return {
            "index": index,
            "lead_id": lead_id,
            "status": status_of(exc),
            "code": code,
            "detail": str(exc),
            **fields_of(exc),
        }
    return {
        "index": index,
        "lead_id": lead_id,
        "status": 500,
        "code": "internal",
        "detail": "the server failed; the error is in its log",
    }


def _check_stage(engine: Engine, process: str, stage: str) -> None:
    """422 unless ``stage`` is a stage of some deployed version of ``process`` (a filter on a
    stage that cannot exist, such as a stage's title, must not answer "no leads")."""
    known = stage_titles(engine, process)
    if stage not in known:
        raise Problem(
            422,
            "invalid_request",
            f"stage '{stage}' is not a stage of {process} (stages: {', '.join(known)})",
            issues=[{"field": "query.stage", "message": "not a stage of this process"}],
        )


def _cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def _after(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind == "id" and value.isdigit():
            return int(value)
    except (ValueError, UnicodeDecodeError):
        pass
    raise Problem(422, "invalid_request", "cursor is not one this API gave out (next_cursor)")
