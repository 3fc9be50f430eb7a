"""What the board and the lead page share: the triggers a person may fire on a lead, the
inputs a trigger needs, a refused move, a bulk action's outcome, and the live-update wiring of
a page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from leadflow.definitions import ProcessDefinition
from leadflow.engine import Instance
from leadflow.engine.access import Actor, explain_access

__all__ = [
    "BulkOutcome",
    "FieldInput",
    "FireOption",
    "Refusal",
    "coerce",
    "fire_options",
    "live",
    "owner_choices",
]


@dataclass(frozen=True, slots=True)
class FieldInput:
    """A field a trigger requires, as a form control."""

    name: str
    title: str
    kind: str
    """``select`` (with ``values``), ``number`` or ``text``."""
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FireOption:
    """A trigger the person may fire on the lead (criteria are checked when it fires)."""

    trigger: str
    title: str
    to: str
    inputs: tuple[FieldInput, ...] = ()


@dataclass(slots=True)
class BulkOutcome:
    """What a bulk action did: the leads it changed and those refused, with why."""

    action: str
    succeeded: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A move the engine refused, to show next to the lead."""

    lead_id: str
    trigger: str
    messages: list[str] = field(default_factory=list)


def fire_options(
    actor: Actor, definition: ProcessDefinition, lead: Instance, *, with_inputs: bool
) -> list[FireOption]:
    """The triggers out of the lead's stage that ``actor`` may fire; those that need field
    values only ``with_inputs`` (the board has no room for them), with their controls."""
    if lead.closed is not None and not with_inputs:
        return []
    options: dict[str, FireOption] = {}
    for t in definition.transitions:
        stage_ok = lead.stage in t.source or ("*" in t.source and lead.closed is None)
        if not stage_ok or t.name in options or (t.requires and not with_inputs):
            continue
        if not explain_access(actor, "fire", lead, definition, trigger=t.name).allowed:
            continue
        inputs = tuple(_input(definition, name) for name in t.requires)
        options[t.name] = FireOption(t.name, t.title or t.name, t.to, inputs)
    return list(options.values())


def _input(definition: ProcessDefinition, name: str) -> FieldInput:
    spec = definition.fields.get(name)
    title = (spec.title if spec else None) or name
    if spec is not None and spec.values:
        return FieldInput(name, title, "select", tuple(spec.values))
    if spec is not None and spec.type in ("integer", "number"):
        return FieldInput(name, title, "number")
    return FieldInput(name, title, "text")


def owner_choices(definition: ProcessDefinition) -> list[str]:
    """The owners a person may pick: the members and leads of the process's teams."""
    ids = set()
    for team in definition.teams.values():
        ids |= {m.id for m in team.members}
        if team.lead:
            ids.add(team.lead)
    return sorted(ids)


def coerce(definition: ProcessDefinition, form: dict[str, str]) -> dict[str, Any]:
    """The ``field.<name>`` entries of a form as lead data of the fields' types (a value that
    does not parse is passed on as text, for the engine to name the field it refuses)."""
    data: dict[str, Any] = {}
    for key, text in form.items():
        if not key.startswith("field.") or text == "":
            continue
        name = key.removeprefix("field.")
        spec = definition.fields.get(name)
        kind = spec.type if spec is not None else "string"
        value: Any = text
        try:
            if kind == "integer":
                value = int(text)
            elif kind == "number":
                value = float(text)
            elif kind == "boolean":
                value = text.lower() in ("1", "true", "yes", "on")
        except ValueError:
            value = text
        data[name] = value
    return data


def live(request: Request, reload_url: str, url: str = "/app/changes") -> dict[str, Any]:
    """What a page needs to poll ``url`` for changes and reload itself at ``reload_url``; call
    it before reading the page's data."""
    counter = request.app.state.changes
    return {"url": url, "change": counter.current(fresh=True), "reload": reload_url}
