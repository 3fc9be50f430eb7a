"""Whole-definition checks of how SLA clocks pick their target and when they start again.

They run on every load after :mod:`._sla_checks` (whose helpers they use): a target rule's
``when`` compiles against the declared fields, its ``match`` names declared fields with values
of their type.
"""

from __future__ import annotations

from collections.abc import Iterator

from ._checks import Finding, Path
from ._model import FieldType, ProcessDefinition
from ._sla_checks import ALL_CHECKS, _cel, _field, _team
from ._sla_clock_model import TargetRule
from .suggest import allowed, did_you_mean

__all__ = [
    "CLOCK_CHECKS",
    "check_handoffs",
    "check_rearm_events",
    "check_target_rules",
    "run_all_checks",
]

_TYPES: dict[FieldType, tuple[type, ...]] = {
    FieldType.STRING: (str,),
    FieldType.ENUM: (str,),
    FieldType.INTEGER: (int,),
    FieldType.NUMBER: (int, float),
    FieldType.BOOLEAN: (bool,),
}


def _match_values(
    d: ProcessDefinition, path: Path, owner: str, name: str, values: tuple[object, ...]
) -> Iterator[Finding]:
    spec = d.fields.get(name)
    if not values:
        yield Finding(path, f"{owner}: match '{name}' lists no value", "empty-match")
    if spec is None:
        return
    kinds = _TYPES.get(spec.type)
    if kinds is None:
        yield Finding(
            path,
            f"{owner}: field '{name}' is {spec.type.value}; match compares string, enum, "
            "integer, number and boolean fields (use 'when' with CEL for the others)",
            "match-field-type",
        )
        return
    for value in values:
        wrong = isinstance(value, bool) != (spec.type is FieldType.BOOLEAN)
        if wrong or not isinstance(value, kinds):
            yield Finding(
                path,
                f"{owner}: match '{name}' value {value!r} is not a {spec.type.value}",
                "match-value-type",
            )
        elif spec.values is not None and value not in spec.values:
            yield Finding(
                path,
                f"{owner}: match '{name}' value {value!r} is not one of the field's values "
                f"({allowed(spec.values)})",
                "match-value-type",
            )


def _rule(
    d: ProcessDefinition, base: Path, sid: str, k: int, rule: TargetRule
) -> Iterator[Finding]:
    owner = f"SLA '{sid}' target rule '{rule.label(k)}'"
    path: Path = (*base, "targets", k)
    if rule.when is not None:
        yield from _cel(d, (*path, "when"), owner, rule.when, activities=False)
    for name, values in rule.match.items():
        where: Path = (*path, "match", name)
        yield from _field(d, where, owner, name)
        yield from _match_values(d, where, owner, name, values)


def check_target_rules(d: ProcessDefinition) -> Iterator[Finding]:
    """Target rules' conditions compile and their matches name declared fields and values."""
    for sid, sla in d.slas.items():
        for k, rule in enumerate(sla.targets):
            yield from _rule(d, ("slas", sid), sid, k, rule)


def _trigger(d: ProcessDefinition, path: Path, owner: str, name: str) -> Iterator[Finding]:
    triggers = {t.name for t in d.transitions}
    if name not in triggers:
        yield Finding(
            path,
            f"{owner}: unknown trigger '{name}'{did_you_mean(name, triggers)}",
            "unknown-trigger",
        )


def check_rearm_events(d: ProcessDefinition) -> Iterator[Finding]:
    """Re-arm and fulfilling triggers are triggers of the process."""
    for sid, sla in d.slas.items():
        for k, event in enumerate(sla.rearm.events if sla.rearm else ()):
            if event.trigger is not None:
                where: Path = ("slas", sid, "rearm", "events", k, "trigger")
                yield from _trigger(d, where, f"SLA '{sid}' rearm", event.trigger)
        if sla.fulfilled_by is not None and sla.fulfilled_by.trigger is not None:
            where = ("slas", sid, "fulfilled_by", "trigger")
            yield from _trigger(d, where, f"SLA '{sid}'", sla.fulfilled_by.trigger)


def check_handoffs(d: ProcessDefinition) -> Iterator[Finding]:
    """A hand-off names declared teams and triggers."""
    for sid, sla in d.slas.items():
        if sla.handoff is None:
            continue
        owner = f"SLA '{sid}' handoff"
        base: Path = ("slas", sid, "handoff")
        h = sla.handoff
        for key, names in (("from", h.from_), ("to", h.to)):
            for k, name in enumerate(names):
                yield from _team(
                    d, (*base, key, k) if len(names) > 1 else (*base, key), owner, name
                )
        for k, name in enumerate(h.triggers):
            where: Path = (*base, "triggers", k) if len(h.triggers) > 1 else (*base, "triggers")
            yield from _trigger(d, where, owner, name)


CLOCK_CHECKS = (check_target_rules, check_rearm_events, check_handoffs)
"""The checks of this module, run after :data:`._sla_checks.ALL_CHECKS`."""


def run_all_checks(d: ProcessDefinition) -> list[Finding]:
    """Run every check a load runs (:data:`._sla_checks.ALL_CHECKS`, then these)."""
    return [finding for check in (*ALL_CHECKS, *CLOCK_CHECKS) for finding in check(d)]
