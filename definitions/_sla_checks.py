"""Whole-definition checks of SLAs, calendars, teams, routing, schedules and subscriptions.

They run on every load with the structural checks: names resolve (stages, calendars, teams,
fields), CEL conditions compile against the declared fields, and what the worker will do later
(fire a trigger, set a field) can work at all.
"""

from __future__ import annotations

from collections.abc import Iterator

from ._access_checks import ACCESS_CHECKS
from ._cel_checks import check_constant_criteria
from ._checks import CHECKS, Finding, Path
from ._model import FieldType, ProcessDefinition
from .expressions import check_expression
from .suggest import allowed, did_you_mean

__all__ = ["ALL_CHECKS", "SLA_CHECKS", "run_all_checks"]


def _stage_refs(
    d: ProcessDefinition, path: Path, owner: str, names: tuple[str, ...]
) -> Iterator[Finding]:
    for j, name in enumerate(names):
        if name == "*" or name in d.stages:
            continue
        yield Finding(
            (*path, j) if len(names) > 1 else path,
            f"{owner}: unknown stage '{name}'{did_you_mean(name, d.stages)}",
            "unknown-stage",
        )


def _cel(
    d: ProcessDefinition, path: Path, owner: str, expr: str, *, activities: bool = True
) -> Iterator[Finding]:
    program, issues = check_expression(expr, d.fields, allow_unknown_fields=d.extra == "allow")
    for issue in issues:
        yield Finding(path, f"{owner}: {issue.message}", issue.code, offset=issue.offset)
    if not activities and program is not None and "activities" in program.variables():
        yield Finding(
            path,
            f"{owner}: SLA conditions read lead, stage, owner and now, not activities; count "
            "activities with fulfilled_by: {activity: {type: call, min: 1}}",
            "sla-condition-reads-activities",
        )


def _field(d: ProcessDefinition, path: Path, owner: str, name: str) -> Iterator[Finding]:
    if d.extra != "allow" and name not in d.fields:
        yield Finding(
            path, f"{owner}: unknown field '{name}'{did_you_mean(name, d.fields)}", "unknown-field"
        )


def _calendar(d: ProcessDefinition, path: Path, owner: str, name: str | None) -> Iterator[Finding]:
    if name is not None and name not in d.calendars:
        hint = did_you_mean(name, d.calendars) or (
            f" (calendars: {allowed(d.calendars)})"
            if d.calendars
            else " (declare it under calendars)"
        )
        yield Finding(path, f"{owner}: unknown calendar '{name}'{hint}", "unknown-calendar")


def _team(d: ProcessDefinition, path: Path, owner: str, name: str) -> Iterator[Finding]:
    if name not in d.teams:
        hint = did_you_mean(name, d.teams) or (
            f" (teams: {allowed(d.teams)})" if d.teams else " (declare it under teams)"
        )
        yield Finding(path, f"{owner}: unknown team '{name}'{hint}", "unknown-team")


def check_sla_policies(d: ProcessDefinition) -> Iterator[Finding]:
    """SLA stages, calendars, fields, triggers and conditions resolve."""
    for sid, sla in d.slas.items():
        base: Path = ("slas", sid)
        owner = f"SLA '{sid}'"
        yield from _stage_refs(d, (*base, "stages"), owner, sla.stages)
        yield from _stage_refs(d, (*base, "pause_in"), owner, sla.pause_in)
        both = sorted(set(sla.stages) & set(sla.pause_in))
        if both:
            yield Finding(
                (*base, "pause_in"),
                f"{owner}: {', '.join(both)} cannot be both a running and a paused stage",
                "sla-stage-conflict",
            )
        closed = [s for s in sla.stages if s in d.stages and d.stages[s].closed]
        if closed:
            yield Finding(
                (*base, "stages"),
                f"{owner}: closed stage {', '.join(closed)} cannot run an SLA clock",
                "sla-on-closed-stage",
            )
        if sla.business and sla.calendar is None:
            yield Finding(
                (*base, "target"),
                f"{owner}: '{sla.all_targets[0]}' counts business time; name the calendar to "
                "count in (calendar: ...)",
                "sla-needs-calendar",
            )
        yield from _calendar(d, (*base, "calendar"), owner, sla.calendar)
        if sla.pause_when is not None:
            yield from _cel(d, (*base, "pause_when"), owner, sla.pause_when, activities=False)
        if sla.applies_when is not None:
            yield from _cel(d, (*base, "applies_when"), owner, sla.applies_when, activities=False)
        if sla.fulfilled_by is not None:
            f = sla.fulfilled_by
            if f.field_set is not None:
                yield from _field(d, (*base, "fulfilled_by", "field_set"), owner, f.field_set)
            if f.cel is not None:
                yield from _cel(d, (*base, "fulfilled_by", "cel"), owner, f.cel, activities=False)
        for k, step in enumerate(sla.ladder):
            path: Path = (*base, "ladder", k)
            for name in step.set or {}:
                yield from _field(d, (*path, "set", name), owner, name)
            if step.reassign is not None and step.reassign.team is not None:
                yield from _team(d, (*path, "reassign"), owner, step.reassign.team)
            if step.reassign is not None and step.reassign.team is None and not d.routing:
                yield Finding(
                    (*path, "reassign"),
                    f"{owner}: 'reassign: true' routes by the routing rules, but there are none; "
                    "name a team (reassign: sdr) or add routing rules",
                    "reassign-without-routing",
                )
            if step.fire is not None:
                triggers = {t.name for t in d.transitions}
                if step.fire.trigger not in triggers:
                    yield Finding(
                        (*path, "fire"),
                        f"{owner}: unknown trigger '{step.fire.trigger}'"
                        f"{did_you_mean(step.fire.trigger, triggers)}",
                        "unknown-trigger",
                    )


def check_calendars(d: ProcessDefinition) -> Iterator[Finding]:
    """A calendar's ``timezone_field`` is a declared string field."""
    for name, cal in d.calendars.items():
        if cal.timezone_field is None:
            continue
        spec = d.fields.get(cal.timezone_field)
        owner = f"calendar '{name}'"
        if spec is None:
            yield from _field(d, ("calendars", name, "timezone_field"), owner, cal.timezone_field)
        elif spec.type.value not in ("string", "enum"):
            yield Finding(
                ("calendars", name, "timezone_field"),
                f"{owner}: field '{cal.timezone_field}' is {spec.type.value}; a timezone field "
                "must be a string or enum of IANA names",
                "timezone-field-type",
            )


def check_teams_and_routing(d: ProcessDefinition) -> Iterator[Finding]:
    """Team calendars exist; routing rules name teams and compile; schedules name teams."""
    for name, team in d.teams.items():
        owner = f"team '{name}'"
        yield from _calendar(d, ("teams", name, "calendar"), owner, team.calendar)
        for k, member in enumerate(team.members):
            yield from _calendar(
                d, ("teams", name, "members", k, "calendar"), owner, member.calendar
            )
    for i, rule in enumerate(d.routing):
        owner = f"routing rule {i + 1}"
        yield from _team(d, ("routing", i, "team"), owner, rule.team)
        if rule.when is not None:
            yield from _cel(d, ("routing", i, "when"), owner, rule.when)
    for i, again in enumerate(d.reroute):
        where: Path = ("reroute", i)
        owner = f"reroute rule {i + 1}"
        if not d.routing:
            yield Finding(
                where,
                f"{owner}: a lead is rerouted by the routing rules, but there are none; add "
                "routing: [{team: ...}]",
                "reroute-without-routing",
            )
        for k, name in enumerate(again.on):
            yield from _field(d, (*where, "on", k), owner, name)
        for k, stage in enumerate(again.stages):
            if stage != "*" and stage not in d.open_stages:
                hint = did_you_mean(stage, d.stages) or f" (open stages: {allowed(d.open_stages)})"
                yield Finding(
                    (*where, "stages", k),
                    f"{owner}: '{stage}' is not an open stage{hint}",
                    "unknown-stage",
                )
        if again.when is not None:
            yield from _cel(d, (*where, "when"), owner, again.when)
    yield from _account_match(d)
    for name, schedule in d.schedules.items():
        if schedule.release is not None:
            yield from _team(
                d, ("schedules", name, "release"), f"schedule '{name}'", schedule.release
            )


def _account_match(d: ProcessDefinition) -> Iterator[Finding]:
    """``match_account``: the fields it reads are declared strings; its ``when`` compiles."""
    spec = d.match_account
    if spec is None:
        return
    if not d.routing:
        yield Finding(
            ("match_account",),
            "match_account: leads that match no account are routed by the routing rules, but "
            "there are none; add routing: [{team: ...}]",
            "match-account-without-routing",
            key=True,
        )
    used = {"email_domain": "email_field", "company_name": "company_field"}
    for way in spec.by:
        key = used[way]
        name = getattr(spec, key)
        path: Path = ("match_account", key)
        owner = f"match_account (by {way})"
        if name not in d.fields:
            hint = did_you_mean(name, d.fields) or f" (fields: {allowed(d.fields)})"
            yield Finding(path, f"{owner}: unknown field '{name}'{hint}", "unknown-field")
        elif d.fields[name].type is not FieldType.STRING:
            yield Finding(
                path,
                f"{owner}: field '{name}' is {d.fields[name].type.value}; it must be a string",
                "match-account-field-type",
            )
    if spec.when is not None:
        yield from _cel(d, ("match_account", "when"), "match_account", spec.when)


def check_subscriptions(d: ProcessDefinition) -> Iterator[Finding]:
    """Subscription stage and field maps name declared stages and fields."""
    for name, sub in d.subscriptions.items():
        owner = f"subscription '{name}'"
        for stage in sub.stages:
            if stage not in d.stages:
                yield Finding(
                    ("subscriptions", name, "stages", stage),
                    f"{owner}: unknown stage '{stage}'{did_you_mean(stage, d.stages)}",
                    "unknown-stage",
                    key=True,
                )
        for field in sub.fields:
            if d.extra != "allow" and field not in d.fields:
                yield Finding(
                    ("subscriptions", name, "fields", field),
                    f"{owner}: unknown field '{field}'{did_you_mean(field, d.fields)}",
                    "unknown-field",
                    key=True,
                )


SLA_CHECKS = (check_sla_policies, check_calendars, check_teams_and_routing, check_subscriptions)
"""The checks of this module, run after the structural ones."""

ALL_CHECKS = CHECKS + SLA_CHECKS + ACCESS_CHECKS + (check_constant_criteria,)
"""Every check a load runs (the access checks are in :mod:`._access_checks`)."""


def run_all_checks(d: ProcessDefinition) -> list[Finding]:
    """Run every check, structural, SLA and access, and return all findings."""
    return [finding for check in ALL_CHECKS for finding in check(d)]
