"""``/app/p/{process}/leads/{lead_id}``: what happened to a lead and what is next."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from leadflow.definitions import ProcessDefinition
from leadflow.engine import Engine, Instance
from leadflow.engine.access import explain_access, hidden_fields, require
from leadflow.service._deps import EngineDep
from leadflow.service._schemas import history_out, next_steps_out
from leadflow.service.web._auth import User, WebUser
from leadflow.service.web._playbook import PlaybookTemplates, RenderedTemplate
from leadflow.service.web._render import render
from leadflow.service.web._views import Refusal, fire_options, live, owner_choices

__all__ = ["lead_page", "lead_url", "router"]

router = APIRouter(prefix="/app/p", include_in_schema=False)


def lead_url(process: str, lead_id: str) -> str:
    """The lead page's URL."""
    return f"/app/p/{process}/leads/{quote(lead_id, safe='')}"


@router.get("/{process}/leads/{lead_id:path}", response_class=HTMLResponse)
def lead(
    request: Request, process: str, lead_id: str, engine: EngineDep, user: User
) -> HTMLResponse:
    """The lead page."""
    return lead_page(request, engine, user, process, lead_id)


def lead_page(
    request: Request,
    engine: Engine,
    user: WebUser,
    process: str,
    lead_id: str,
    refusal: Refusal | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The lead page (with a refused move shown at its buttons)."""
    actor = user.actor
    changes = live(request, lead_url(process, lead_id))
    instance = engine.get(process, lead_id)
    definition = engine.definition(process, instance.definition_version)
    require(actor, "read", instance, definition)
    hidden = hidden_fields(actor.role, definition)
    steps = next_steps_out(engine.next_steps(process, lead_id), hidden)
    history = [history_out(e, hidden) for e in engine.history(process, lead_id)]
    visited = {e.to_stage for e in history if e.to_stage}
    options = fire_options(actor, definition, instance, with_inputs=True)
    allowed = {o.trigger for o in options}
    by_trigger = {t["trigger"]: t for t in steps.triggers}
    next_stages = {by_trigger[t]["to"] for t in allowed if t in by_trigger}
    exit_criteria: dict[str, dict[str, Any]] = {}
    for t in steps.triggers:
        for c in t["criteria"]:
            if c["id"] not in exit_criteria and _is_exit(definition, instance.stage, c["id"]):
                exit_criteria[c["id"]] = c
    may_record = explain_access(actor, "record", instance, definition).allowed
    may_assign = explain_access(actor, "assign", instance, definition).allowed
    slas = engine.slas(process, lead_id)
    compiled = engine.runtime.compiled(process, instance.definition_version)
    context: dict[str, Any] = {
        "title": f"{lead_id} · {definition.title or process}",
        "user": user,
        "process": process,
        "lead": instance,
        "stage_title": definition.stages[instance.stage].title or instance.stage,
        "fields": [
            (name, spec.title or name, instance.data[name])
            for name, spec in definition.fields.items()
            if name not in hidden and name in instance.data
        ],
        "path": [
            {
                "name": name,
                "title": stage.title or name,
                "state": "current"
                if name == instance.stage
                else "next"
                if name in next_stages
                else "done"
                if name in visited
                else "later",
            }
            for name, stage in definition.stages.items()
        ],
        "exit_criteria": list(exit_criteria.values()),
        "options": options,
        "guards": {
            t["trigger"]: [c for c in t["criteria"] if c["id"] not in exit_criteria]
            for t in steps.triggers
        },
        "ready": {t["trigger"]: t["ready"] for t in steps.triggers},
        "playbook": steps.playbook,
        "scripts": _scripts(request, definition, instance, hidden),
        "slas": [(s, _local(s.due_at, _zone(definition, s.policy, instance))) for s in slas],
        "activity_types": compiled.activity_types if may_record else (),
        "assignable": owner_choices(definition) if may_assign else [],
        "may_assign": may_assign,
        "history": list(reversed(history)),
        "now": engine.clock.now(),
        "refusal": refusal,
        "here": lead_url(process, lead_id),
        "board": f"/app/p/{process}",
        "live": changes,
    }
    return render(request, "lead.html", context, status)


def _scripts(
    request: Request, definition: ProcessDefinition, lead: Instance, hidden: frozenset[str]
) -> dict[str, RenderedTemplate]:
    """Each playbook item's template (by item id) rendered with the fields the role reads."""
    templates: PlaybookTemplates = request.app.state.playbook
    fields = {k: v for k, v in lead.data.items() if k not in hidden}
    fields |= {
        "lead_id": lead.lead_id,
        "owner": lead.owner,
        "rep_name": lead.owner,
        "stage": lead.stage,
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    playbook = definition.stages[lead.stage].playbook
    return {p.id: templates.render(p.template, fields, hidden) for p in playbook if p.template}


def _is_exit(definition: ProcessDefinition, stage: str, criterion: str) -> bool:
    return any(c.id == criterion for c in definition.stages[stage].exit_criteria)


def _zone(definition: ProcessDefinition, policy: str, lead: Instance) -> ZoneInfo | None:
    """The time zone the SLA counts in for this lead (its own, when the calendar reads one
    from a field), or None for a policy without a calendar."""
    spec = definition.slas.get(policy)
    calendar = definition.calendars.get(spec.calendar or "") if spec is not None else None
    if calendar is None:
        return None
    name = lead.data.get(calendar.timezone_field or "") or calendar.timezone
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(calendar.timezone)


def _local(when: datetime | None, zone: ZoneInfo | None) -> str | None:
    if when is None or zone is None:
        return None
    return f"{when.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"
