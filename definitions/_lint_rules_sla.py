"""Lint rules over SLAs, teams, calendars, subscriptions and fields: things declared but unused,
and SLA actions that cannot do what they say."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from ._lint_rules_base import Issue, cel_sites, criterion_sites, rule
from ._model import FieldSetCriterion, ProcessDefinition, Transition
from ._sla_model import SlaPolicy
from ._spans import Span
from .expressions import field_references
from .suggest import allowed

__all__ = [
    "RULES",
    "business_days_as_hours",
    "sla_fire_missing_data",
    "sla_fire_not_allowed",
    "sla_mark_after_close",
    "subscription_missing_stages",
    "unused_calendar",
    "unused_field",
    "unused_team",
]

STAGE_EVENTS = frozenset(
    {
        "*",
        "leadflow.lead.started",
        "leadflow.lead.stage_changed",
        "leadflow.lead.closed_won",
        "leadflow.lead.closed_lost",
    }
)
"""Subscription event types that carry the lead's new stage (``*``: all of them)."""


def _running(d: ProcessDefinition, sla: SlaPolicy) -> list[str]:
    """The stages the SLA's clock runs in, ``*`` expanded to every open stage."""
    out: list[str] = []
    for name in sla.stages:
        for stage in d.open_stages if name == "*" else (name,):
            if stage in d.stages and stage not in out:
                out.append(stage)
    return out


def _fired(d: ProcessDefinition, trigger: str, stage: str) -> list[Transition]:
    return [t for t in d.transitions if t.name == trigger and stage in d.source_stages(t)]


def _fires(d: ProcessDefinition) -> Iterator[tuple[str, SlaPolicy, int, str]]:
    """(SLA id, SLA, ladder index, trigger) of every ladder mark that fires a trigger."""
    for sid, sla in d.slas.items():
        for k, step in enumerate(sla.ladder):
            if step.fire is not None:
                yield sid, sla, k, step.fire.trigger


@rule(
    "LF301", "sla-fire-not-allowed", "error", "An SLA mark fires a trigger its stages do not allow"
)
def sla_fire_not_allowed(d: ProcessDefinition) -> Iterator[Issue]:
    """An SLA ladder mark that fires a trigger runs while the lead is in one of the SLA's stages;
    from a stage the trigger is not allowed in, the fire fails every time the mark is reached."""
    for sid, sla, k, trigger in _fires(d):
        refused = [s for s in _running(d, sla) if not _fired(d, trigger, s)]
        if refused:
            yield Issue(
                ("slas", sid, "ladder", k, "fire"),
                f"SLA '{sid}' mark '{sla.ladder[k].at}' fires '{trigger}', which is not allowed "
                f"from {allowed(refused)}; allow '{trigger}' from there, or narrow the SLA's "
                "stages",
            )


@rule(
    "LF302",
    "sla-fire-missing-data",
    "warning",
    "An SLA mark fires a trigger without the data it requires",
)
def sla_fire_missing_data(d: ProcessDefinition) -> Iterator[Issue]:
    """A transition's ``requires`` fields must be in the event's data; a fire from an SLA
    mark carries only its ``data``, so a missing field makes the fire fail."""
    for sid, sla, k, trigger in _fires(d):
        step = sla.ladder[k]
        assert step.fire is not None
        missing: list[str] = []
        for stage in _running(d, sla):
            for t in _fired(d, trigger, stage):
                missing += [f for f in t.requires if f not in step.fire.data and f not in missing]
        if missing:
            yield Issue(
                ("slas", sid, "ladder", k, "fire"),
                f"SLA '{sid}' mark '{step.at}' fires '{trigger}' without {allowed(missing)}, "
                f"which the transition requires; add it: fire: {{trigger: {trigger}, data: "
                f"{{{missing[0]}: ...}}}}",
            )


@rule(
    "LF303",
    "sla-mark-after-close",
    "warning",
    "An SLA mark comes after a mark that closes the lead",
)
def sla_mark_after_close(d: ProcessDefinition) -> Iterator[Issue]:
    """A mark that fires a trigger taking the lead to a closed stage stops the clock (when the
    fire succeeds): the marks after it on the ladder are never reached."""
    for sid, sla, k, trigger in _fires(d):
        targets = [t.to for s in _running(d, sla) for t in _fired(d, trigger, s)]
        closes = bool(targets) and all(d.stages[to].closed for to in targets if to in d.stages)
        if closes and k + 1 < len(sla.ladder):
            later = ", ".join(f"'{s.at}'" for s in sla.ladder[k + 1 :])
            yield Issue(
                ("slas", sid, "ladder", k + 1),
                f"SLA '{sid}': mark {later} comes after mark '{sla.ladder[k].at}', which fires "
                f"'{trigger}' and closes the lead; move it before, or remove it",
            )


@rule(
    "LF304",
    "business-days-as-hours",
    "warning",
    "An SLA amount in whole days of open hours, probably meant as business days",
)
def business_days_as_hours(d: ProcessDefinition) -> Iterator[Issue]:
    """``1d business`` is 24 open hours, about three working days with 8-hour days; people who
    write it almost always mean the next working day, which is ``1 business day``."""
    for sid, sla in d.slas.items():
        spans: list[tuple[tuple[str | int, ...], Span]] = []
        if sla.target is not None:
            spans.append((("slas", sid, "target"), sla.target))
        spans += [
            (("slas", sid, "targets", k, "target"), r.target) for k, r in enumerate(sla.targets)
        ]
        spans += [(("slas", sid, "ladder", k, "at"), s.at) for k, s in enumerate(sla.ladder)]
        if sla.tasks is not None:
            spans += [(("slas", sid, "tasks", "at", k), o) for k, o in enumerate(sla.tasks.at)]
        for path, span in spans:
            amount = span.amount
            if not span.business or amount is None or not amount or amount % timedelta(days=1):
                continue
            days = amount // timedelta(days=1)
            plural = "" if days == 1 else "s"
            yield Issue(
                path,
                f"SLA '{sid}': '{span}' is {days * 24} open hours, not {days} working "
                f"day{plural}; write '{days} business day{plural}' for the working day{plural} "
                f"after, or '{days * 24}h business' if you mean the hours",
            )


@rule(
    "LF401", "subscription-missing-stages", "warning", "A subscription maps some stages but not all"
)
def subscription_missing_stages(d: ProcessDefinition) -> Iterator[Issue]:
    """A subscription that maps stages onto the CRM's and receives stage events must map every
    stage: a lead entering an unmapped one reaches the CRM without a stage id."""
    for name, sub in d.subscriptions.items():
        if not sub.stages or not set(sub.events) & STAGE_EVENTS:
            continue
        missing = [s for s in d.stages if s not in sub.stages]
        if missing:
            yield Issue(
                ("subscriptions", name, "stages"),
                f"subscription '{name}' maps stages {allowed(list(sub.stages))} but not "
                f"{allowed(missing)}; map them too, or leads entering them reach the CRM "
                "without a stage id",
            )


def _used_fields(d: ProcessDefinition) -> set[str]:
    used = {r.name for site in cel_sites(d) for r in field_references(site.expression)}
    for site in criterion_sites(d):
        if isinstance(site.criterion, FieldSetCriterion):
            used.add(site.criterion.field_set)
    if d.match_account is not None:
        used.update((d.match_account.email_field, d.match_account.company_field))
    for t in d.transitions:
        used.update(t.requires, t.clears)
    for sla in d.slas.values():
        for target in sla.targets:
            used.update(target.match)
        if sla.fulfilled_by is not None and sla.fulfilled_by.field_set is not None:
            used.add(sla.fulfilled_by.field_set)
        for step in sla.ladder:
            used.update(step.set or {})
            if step.fire is not None:
                used.update(step.fire.data)
    used.update(c.timezone_field for c in d.calendars.values() if c.timezone_field)
    for sub in d.subscriptions.values():
        used.update(sub.fields)
    access = d.access
    if access.team_field is not None:
        used.add(access.team_field)
    for spec in access.roles.values():
        used.update(spec.hidden)
        if spec.update != "*":
            used.update(spec.update)
    return used


@rule("LF402", "unused-field", "info", "An optional field nothing in the process reads or sets")
def unused_field(d: ProcessDefinition) -> Iterator[Issue]:
    """An optional field that no criterion, transition, SLA, routing rule, calendar,
    subscription or access rule mentions: left over from an edit, or data only your own
    systems use."""
    used = _used_fields(d)
    for name, spec in d.fields.items():
        if not spec.required and name not in used:
            yield Issue(
                ("fields", name),
                f"field '{name}' is declared but nothing in the process reads or sets it; "
                "remove it, or ignore LF402 when only your own systems use it",
                key=True,
            )


@rule("LF403", "unused-team", "warning", "A team no routing rule, reassignment or schedule uses")
def unused_team(d: ProcessDefinition) -> Iterator[Issue]:
    """A team that no routing rule sends leads to, no SLA mark reassigns to and no schedule
    releases never gets a lead."""
    used = {r.team for r in d.routing} | {s.release for s in d.schedules.values() if s.release}
    for sla in d.slas.values():
        used.update(s.reassign.team for s in sla.ladder if s.reassign and s.reassign.team)
    for name in d.teams:
        if name not in used:
            yield Issue(
                ("teams", name),
                f"team '{name}' never gets a lead: no routing rule, SLA reassignment or schedule "
                "names it; route to it, or remove it",
                key=True,
            )


@rule("LF404", "unused-calendar", "warning", "A calendar no SLA, team or member counts in")
def unused_calendar(d: ProcessDefinition) -> Iterator[Issue]:
    """A calendar that no SLA, team or team member names has no effect."""
    used = {s.calendar for s in d.slas.values()}
    for team in d.teams.values():
        used.add(team.calendar)
        used.update(m.calendar for m in team.members)
    for name in d.calendars:
        if name not in used:
            yield Issue(
                ("calendars", name),
                f"calendar '{name}' is not used by any SLA, team or member; name it where "
                "business hours should count (calendar: " + name + "), or remove it",
                key=True,
            )


RULES = (
    sla_fire_not_allowed,
    sla_fire_missing_data,
    sla_mark_after_close,
    business_days_as_hours,
    subscription_missing_stages,
    unused_field,
    unused_team,
    unused_calendar,
)
"""The SLA, team, calendar, subscription and field rules, in code order."""
