"""``leadflow diff``: what changed between two versions of a definition, in sentences.

Each :class:`DefinitionChange` says what changed (``stage 'qualified': exit criterion
'budget_known' added: Record the budget``) and which stages of the OLD version hold the leads it
touches, so that the engine can count them (:mod:`leadflow.engine.migration._impact`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ._account_model import AccountMatch
from ._model import Criterion, ProcessDefinition, Stage, Transition

__all__ = ["DefinitionChange", "diff_definitions"]

_SHORT = 60


@dataclass(frozen=True, slots=True)
class DefinitionChange:
    """One difference between two definition versions."""

    kind: str
    """What changed, as ``<thing>-<added|removed|changed|renamed>`` (``exit-criterion-added``)."""
    subject: str
    """The thing that changed (``stage 'qualified'``, ``transition 'win' (qualified -> won)``)."""
    message: str
    """The whole sentence: the subject and what happened to it."""
    stages: tuple[str, ...] = ()
    """Stages of the OLD version whose leads the change touches."""
    criterion: str | None = None
    """For exit criterion and guard changes: the criterion's id."""
    transition: int | None = None
    """For guard changes: the index of the transition in NEW (OLD when it was removed)."""

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping of the change."""
        return {
            "kind": self.kind,
            "subject": self.subject,
            "message": self.message,
            "stages": list(self.stages),
            "criterion": self.criterion,
        }


_STAGE_KEYS = ("initial", "closed", "probability", "forecast_category", "title", "description")
"""Stage settings compared one by one (``stage-forecast-category-changed``)."""


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return value


def _shown(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"'{value}'"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= _SHORT else "a new value"


def _field_changes(old: Any, new: Any, skip: tuple[str, ...] = ()) -> list[str]:
    """``key: old -> new`` for every key of two model dumps that differs."""
    a, b = _dump(old) or {}, _dump(new) or {}
    out = []
    for key in dict.fromkeys([*a, *b]):
        if key in skip or a.get(key) == b.get(key):
            continue
        out.append(f"{key} {_shown(a.get(key))} -> {_shown(b.get(key))}")
    return out


def _open(d: ProcessDefinition, stages: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``stages`` of ``d`` with ``*`` expanded, keeping those that exist and are open."""
    out: list[str] = []
    for s in stages:
        for name in d.open_stages if s == "*" else (s,):
            if name in d.stages and d.stages[name].closed is None and name not in out:
                out.append(name)
    return tuple(out)


# -- stages ------------------------------------------------------------------------------------


def _without_docs(stage: Stage) -> dict[str, Any]:
    return stage.model_dump(mode="json", exclude={"title", "description"})


def _criteria_changes(
    subject: str,
    kind: str,
    old: tuple[Criterion, ...],
    new: tuple[Criterion, ...],
    stages: tuple[str, ...],
    transition: int | None = None,
) -> Iterator[DefinitionChange]:
    before = {c.id: c for c in old}
    after = {c.id: c for c in new}
    word = "exit criterion" if kind == "exit-criterion" else "guard"

    def change(what: str, cid: str, text: str) -> DefinitionChange:
        message = f"{subject}: {word} '{cid}' {what}{text}"
        return DefinitionChange(f"{kind}-{what}", subject, message, stages, cid, transition)

    for cid, c in after.items():
        if cid not in before:
            yield change("added", cid, f": {c.message}")
        elif before[cid] != c:
            yield change("changed", cid, ": " + "; ".join(_field_changes(before[cid], c, ("id",))))
    for cid, c in before.items():
        if cid not in after:
            yield change("removed", cid, f" ({c.message})")


def _renames(old: ProcessDefinition, new: ProcessDefinition) -> dict[str, str]:
    """Removed stage -> added stage with exactly the same settings (it looks renamed)."""
    removed = [s for s in old.stages if s not in new.stages]
    added = [s for s in new.stages if s not in old.stages]
    out: dict[str, str] = {}
    for r in removed:
        same = [a for a in added if a not in out.values()]
        same = [a for a in same if _without_docs(old.stages[r]) == _without_docs(new.stages[a])]
        if len(same) == 1:
            out[r] = same[0]
    return out


def _stage_changes(old: ProcessDefinition, new: ProcessDefinition) -> Iterator[DefinitionChange]:
    renames = _renames(old, new)
    for name, stage in old.stages.items():
        subject = f"stage '{name}'"
        if name in renames:
            yield DefinitionChange(
                "stage-renamed",
                subject,
                f"{subject} removed; stage '{renames[name]}' added with the same settings "
                "(renamed?)",
                (name,),
            )
            continue
        if name not in new.stages:
            yield DefinitionChange("stage-removed", subject, f"{subject} removed", (name,))
            continue
        after = new.stages[name]
        for key in _STAGE_KEYS:
            a, b = getattr(stage, key), getattr(after, key)
            if a != b:
                yield DefinitionChange(
                    f"stage-{key.replace('_', '-')}-changed",
                    subject,
                    f"{subject}: {key} {_shown(a)} -> {_shown(b)}",
                    (name,),
                )
        if stage.playbook != after.playbook:
            ids = [p.id for p in after.playbook]
            yield DefinitionChange(
                "stage-playbook-changed",
                subject,
                f"{subject}: playbook changed (now: {', '.join(ids) or 'none'})",
                (name,),
            )
        yield from _criteria_changes(
            subject, "exit-criterion", stage.exit_criteria, after.exit_criteria, (name,)
        )
    for name, stage in new.stages.items():
        if name not in old.stages and name not in renames.values():
            what = f" (closed {stage.closed})" if stage.closed else ""
            probability = f", probability {stage.probability}%" if stage.probability else ""
            yield DefinitionChange(
                "stage-added", f"stage '{name}'", f"stage '{name}' added{what}{probability}"
            )


# -- transitions -------------------------------------------------------------------------------


def _keyed(d: ProcessDefinition) -> dict[tuple[str, str, int], tuple[int, Transition]]:
    """Transitions by (trigger, target, n-th such): the identity that survives reordering."""
    seen: dict[tuple[str, str], int] = {}
    out: dict[tuple[str, str, int], tuple[int, Transition]] = {}
    for i, t in enumerate(d.transitions):
        n = seen.get((t.name, t.to), 0)
        seen[(t.name, t.to)] = n + 1
        out[(t.name, t.to, n)] = (i, t)
    return out


def _label(d: ProcessDefinition, t: Transition) -> str:
    return f"transition '{t.name}' ({', '.join(t.sources)} -> {t.to})"


def _transition_changes(
    old: ProcessDefinition, new: ProcessDefinition
) -> Iterator[DefinitionChange]:
    before, after = _keyed(old), _keyed(new)
    for key, (_, t) in before.items():
        subject = _label(old, t)
        stages = _open(old, t.sources)
        if key not in after:
            yield DefinitionChange("transition-removed", subject, f"{subject} removed", stages)
            continue
        index, u = after[key]
        if set(t.sources) != set(u.sources):
            yield DefinitionChange(
                "transition-from-changed",
                subject,
                f"{subject}: from {', '.join(t.sources)} -> {', '.join(u.sources)}",
                tuple(dict.fromkeys(stages + _open(old, u.sources))),
            )
        for what in _field_changes(t, u, ("name", "to", "from", "guard")):
            yield DefinitionChange("transition-changed", subject, f"{subject}: {what}", stages)
        yield from _criteria_changes(subject, "guard", t.guard, u.guard, stages, index)
    for key, (_, u) in after.items():
        if key not in before:
            subject = _label(new, u)
            yield DefinitionChange(
                "transition-added", subject, f"{subject} added", _open(old, u.sources)
            )


# -- everything else ---------------------------------------------------------------------------


def _mapping_changes(
    kind: str, word: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> Iterator[DefinitionChange]:
    for name, value in old.items():
        subject = f"{word} '{name}'"
        if name not in new:
            yield DefinitionChange(f"{kind}-removed", subject, f"{subject} removed")
        elif new[name] != value:
            what = "; ".join(_field_changes(value, new[name]))
            yield DefinitionChange(f"{kind}-changed", subject, f"{subject}: {what}")
    for name in new:
        if name not in old:
            yield DefinitionChange(f"{kind}-added", f"{word} '{name}'", f"{word} '{name}' added")


def _with_stages(
    changes: Iterator[DefinitionChange], old: ProcessDefinition, new: ProcessDefinition
) -> Iterator[DefinitionChange]:
    """SLA changes touch the leads in the SLA's stages (old and new)."""
    for c in changes:
        sid = c.subject.split("'")[1]
        names: list[str] = []
        for d in (old, new):
            if sid in d.slas:
                names += d.slas[sid].stages
        yield DefinitionChange(c.kind, c.subject, c.message, _open(old, names))


def _access_changes(old: ProcessDefinition, new: ProcessDefinition) -> Iterator[DefinitionChange]:
    """The ``access:`` rules: roles one by one, the team field, the sharing rules."""
    a, b = old.access, new.access
    yield from _mapping_changes("access-role", "access role", a.roles, b.roles)
    if a.team_field != b.team_field:
        yield DefinitionChange(
            "access-team-field-changed",
            "access team_field",
            f"access team_field: {_shown(a.team_field)} -> {_shown(b.team_field)}",
        )
    if a.sharing != b.sharing:
        rules = [f"{r.role} {'/'.join(r.verbs)} when {r.when}" for r in b.sharing]
        yield DefinitionChange(
            "access-sharing-changed",
            "access sharing",
            f"access sharing rules changed (now: {'; '.join(rules) or 'none'})",
        )


def _account_match(spec: AccountMatch | None) -> str:
    if spec is None:
        return "none"
    when = f", when {spec.when}" if spec.when else ""
    return f"by {', '.join(spec.by)}, fuzzy {spec.fuzzy:g}, accounts {spec.accounts}{when}"


def diff_definitions(old: ProcessDefinition, new: ProcessDefinition) -> list[DefinitionChange]:
    """Every difference from ``old`` to ``new``: stages, transitions, fields, SLAs, teams, ..."""
    out: list[DefinitionChange] = []
    for key in ("process", "version", "title", "description", "extra"):
        a, b = getattr(old, key), getattr(new, key)
        if a != b:
            out.append(
                DefinitionChange(f"{key}-changed", key, f"{key}: {_shown(a)} -> {_shown(b)}")
            )
    out += _stage_changes(old, new)
    out += _transition_changes(old, new)
    fields = list(_mapping_changes("field", "field", old.fields, new.fields))
    everyone = old.open_stages
    for c in fields:
        spec = new.fields.get(c.subject.split("'")[1])
        touches = c.kind == "field-changed" or (c.kind == "field-added" and spec and spec.required)
        out.append(DefinitionChange(c.kind, c.subject, c.message, everyone if touches else ()))
    out += _with_stages(_mapping_changes("sla", "SLA", old.slas, new.slas), old, new)
    out += _mapping_changes("calendar", "calendar", old.calendars, new.calendars)
    out += _mapping_changes("team", "team", old.teams, new.teams)
    out += _mapping_changes("schedule", "schedule", old.schedules, new.schedules)
    out += _mapping_changes("subscription", "subscription", old.subscriptions, new.subscriptions)
    out += _access_changes(old, new)
    if old.match_account != new.match_account:
        shown = f"{_account_match(old.match_account)} -> {_account_match(new.match_account)}"
        out.append(
            DefinitionChange("match-account-changed", "match_account", f"match_account: {shown}")
        )
    if old.routing != new.routing:
        rules = [f"{r.team}" + (f" when {r.when}" if r.when else "") for r in new.routing]
        out.append(
            DefinitionChange(
                "routing-changed", "routing", f"routing rules changed (now: {'; '.join(rules)})"
            )
        )
    return out
