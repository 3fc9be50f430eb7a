"""``/app/p/{process}``: the pipeline board, a column per open stage, filters in the URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from leadflow.definitions import ProcessDefinition
from leadflow.engine import Engine, reports
from leadflow.engine.access import Actor, explain_access, hidden_fields
from leadflow.service._deps import EngineDep
from leadflow.service._leads import listed_owners
from leadflow.service.web._auth import User, WebUser
from leadflow.service.web._render import render
from leadflow.service.web._views import BulkOutcome, FireOption, Refusal, fire_options, live

__all__ = ["PER_COLUMN", "board_page", "board_url", "router"]

router = APIRouter(prefix="/app/p", include_in_schema=False)

PER_COLUMN = 50
"""Cards per column and page; "More" pages a column on."""


def board_url(process: str, owner: str | None = None, team: str | None = None) -> str:
    """The board's URL with its filters (a link that can be shared)."""
    query = urlencode({k: v for k, v in (("owner", owner), ("team", team)) if v})
    return f"/app/p/{process}" + (f"?{query}" if query else "")


@router.get("/{process}", response_class=HTMLResponse)
def board(
    request: Request,
    process: str,
    engine: EngineDep,
    user: User,
    owner: str | None = None,
    team: str | None = None,
) -> HTMLResponse:
    """The board, filtered by ``owner`` and ``team``; ``after_<stage>`` pages a column."""
    after = {
        key.removeprefix("after_"): int(value)
        for key, value in request.query_params.items()
        if key.startswith("after_") and value.isdigit()
    }
    return board_page(request, engine, user, process, owner or None, team or None, after)


def board_page(
    request: Request,
    engine: Engine,
    user: WebUser,
    process: str,
    owner: str | None,
    team: str | None,
    after: dict[str, int] | None = None,
    refusal: Refusal | None = None,
    status: int = 200,
    *,
    bulk: BulkOutcome | None = None,
) -> HTMLResponse:
    """The board page (with a refused move shown on its card, or a bulk action's outcome)."""
    definition = engine.definition(process)
    owners, unassigned = listed_owners(user.actor, definition, owner, team)
    here = board_url(process, owner, team)
    changes = live(request, here)
    data = reports.board(
        engine,
        process,
        owners=owners,
        unassigned=unassigned,
        per_column=PER_COLUMN,
        after=after,
    )
    hidden = hidden_fields(user.actor.role, definition)
    options, may_assign = _card_options(engine, user.actor, definition, data)
    show_value = data.value_field is not None and data.value_field not in hidden
    context: dict[str, Any] = {
        "title": definition.title or process,
        "user": user,
        "process": process,
        "board": data,
        "show_value": show_value,
        "value_field": data.value_field,
        "options": options,
        "owner": owner or "",
        "team": team or "",
        "owner_choices": _owner_choices(definition),
        "team_choices": list(definition.teams),
        "now": engine.clock.now(),
        "refusal": refusal,
        "bulk": bulk,
        "may_assign": may_assign,
        "may_report": explain_access(user.actor, "reports", None, definition).allowed,
        "bulk_triggers": _bulk_triggers(definition, options),
        "more": {c.stage: _more(request, c.stage, c.next_cursor) for c in data.columns},
        "here": here,
        "live": changes,
    }
    return render(request, "board.html", context, status)


def _card_options(
    engine: Engine, actor: Actor, latest: ProcessDefinition, data: reports.Board
) -> tuple[dict[str, list[FireOption]], bool]:
    """Each card's triggers the person may fire, and whether they may assign any card."""
    definitions = {latest.version: latest}
    out = {}
    may_assign = False
    for column in data.columns:
        for card in column.cards:
            version = card.lead.definition_version
            if version not in definitions:
                definitions[version] = engine.definition(data.process, version)
            definition = definitions[version]
            out[card.lead.lead_id] = fire_options(actor, definition, card.lead, with_inputs=False)
            may_assign = (
                may_assign or explain_access(actor, "assign", card.lead, definition).allowed
            )
    return out, may_assign


def _bulk_triggers(
    definition: ProcessDefinition, options: dict[str, list[FireOption]]
) -> list[tuple[str, str]]:
    """(trigger, title) of every trigger the person may fire on at least one card shown."""
    names = {o.trigger for card in options.values() for o in card}
    titles = {t.name: t.title or t.name for t in definition.transitions}
    return [(name, titles.get(name, name)) for name in titles if name in names]


def _owner_choices(definition: ProcessDefinition) -> list[str]:
    ids = set()
    for team in definition.teams.values():
        ids |= {m.id for m in team.members}
        if team.lead:
            ids.add(team.lead)
    return sorted(ids)


def _more(request: Request, stage: str, cursor: int | None) -> str | None:
    if cursor is None:
        return None
    query = dict(request.query_params)
    query[f"after_{stage}"] = str(cursor)
    return f"{request.url.path}?{urlencode(query)}"
