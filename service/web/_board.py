"""``/app/p/{process}``: the pipeline board, a column per open stage, filters in the URL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from leadflow.definitions import ProcessDefinition
from leadflow.engine import Engine, reports
from leadflow.engine.access import Actor, explain_access, hidden_fields
from leadflow.engine.store import SavedViews
from leadflow.service._deps import EngineDep
from leadflow.service._problems import Problem
from leadflow.service._scope import visible_owners
from leadflow.service.web._auth import User, WebUser
from leadflow.service.web._render import render
from leadflow.service.web._views import (
    BulkOutcome,
    FireOption,
    Refusal,
    fire_options,
    live,
    owner_choices,
)

__all__ = ["PER_COLUMN", "BoardView", "board_page", "filterable", "router"]

router = APIRouter(prefix="/app/p", include_in_schema=False)

PER_COLUMN = 50
"""Cards per column and page; "More" pages a column on."""


@dataclass(frozen=True, slots=True)
class BoardView:
    """The board's filters: an owner, a team, values of enum fields (``segment=smb``)."""

    owner: str | None = None
    team: str | None = None
    fields: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, definition: ProcessDefinition, query: Mapping[str, str]) -> BoardView:
        """The filters a query string names (other parameters are ignored)."""
        fields = tuple(
            (name, query[name])
            for name in filterable(definition)
            if query.get(name) and name not in ("owner", "team")
        )
        return cls(query.get("owner") or None, query.get("team") or None, fields)

    @property
    def query(self) -> str:
        """The filters as a query string (without ``?``)."""
        pairs = [("owner", self.owner), ("team", self.team), *self.fields]
        return urlencode([(k, v) for k, v in pairs if v])

    def url(self, process: str) -> str:
        """The board's URL with these filters: a link that can be shared."""
        return f"/app/p/{process}" + (f"?{self.query}" if self.query else "")


def filterable(definition: ProcessDefinition) -> list[str]:
    """The fields the board filters by: the enum fields."""
    return [name for name, spec in definition.fields.items() if spec.values]


@router.get("/{process}", response_class=HTMLResponse)
def board(request: Request, process: str, engine: EngineDep, user: User) -> HTMLResponse:
    """The board, filtered by ``owner``, ``team`` and enum fields (``segment=smb``);
    ``after_<stage>`` pages a column."""
    after = {
        key.removeprefix("after_"): int(value)
        for key, value in request.query_params.items()
        if key.startswith("after_") and value.isdigit()
    }
    view = BoardView.of(engine.definition(process), request.query_params)
    return board_page(request, engine, user, process, view, after)


def board_page(
    request: Request,
    engine: Engine,
    user: WebUser,
    process: str,
    view: BoardView,
    after: dict[str, int] | None = None,
    refusal: Refusal | None = None,
    status: int = 200,
    *,
    bulk: BulkOutcome | None = None,
) -> HTMLResponse:
    """The board page (with a refused move shown on its card, or a bulk action's outcome)."""
    definition = engine.definition(process)
    hidden = hidden_fields(user.actor.role, definition)
    if any(name in hidden for name, _ in view.fields):
        raise Problem(403, "access_denied", "The board cannot be filtered by a hidden field.")
    owners, unassigned = visible_owners(user.actor, definition, view.owner, view.team)
    here = view.url(process)
    changes = live(request, here)
    data = reports.board(
        engine,
        process,
        owners=owners,
        unassigned=unassigned,
        per_column=PER_COLUMN,
        after=after,
        fields=dict(view.fields),
        hidden=hidden,
    )
    options, may_assign = _card_options(engine, user.actor, definition, data)
    show_value = data.value_field is not None
    context: dict[str, Any] = {
        "title": definition.title or process,
        "user": user,
        "process": process,
        "board": data,
        "show_value": show_value,
        "value_field": data.value_field,
        "options": options,
        "owner": view.owner or "",
        "team": view.team or "",
        "view": view,
        "field_filters": [
            (name, definition.fields[name].title or name, definition.fields[name].values)
            for name in filterable(definition)
            if name not in hidden
        ],
        "chosen": dict(view.fields),
        "owner_choices": owner_choices(definition),
        "team_choices": list(definition.teams),
        "now": engine.clock.now(),
        # a card idle (no stage change, no activity) this long shows a "rotting" badge
        "rot_after": {name: stage.rots_after for name, stage in definition.stages.items()},
        "refusal": refusal,
        "bulk": bulk,
        "may_assign": may_assign,
        "may_report": explain_access(user.actor, "reports", None, definition).allowed,
        "bulk_triggers": _bulk_triggers(definition, options),
        "batch_triggers": _batch_triggers(user.actor, definition),
        "may_batch_assign": explain_access(user.actor, "assign", None, definition).allowed,
        "matching": sum(c.leads for c in data.columns),
        "saved_views": SavedViews(engine.store).visible(process, user.token_name),
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


def _batch_triggers(actor: Actor, definition: ProcessDefinition) -> list[tuple[str, str]]:
    """(trigger, title) of the triggers without required fields the person may fire at all
    (each lead of a batch is checked again when its turn comes)."""
    return [
        (t.name, t.title or t.name)
        for t in {t.name: t for t in definition.transitions}.values()
        if not t.requires
        and explain_access(actor, "fire", None, definition, trigger=t.name).allowed
    ]


def _more(request: Request, stage: str, cursor: int | None) -> str | None:
    if cursor is None:
        return None
    query = dict(request.query_params)
    query[f"after_{stage}"] = str(cursor)
    return f"{request.url.path}?{urlencode(query)}"
