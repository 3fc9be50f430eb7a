"""Lint rules over re-arming and hand-off SLA clocks: re-arm events that can never start a
cycle, hand-offs whose receiving team's action is not declared or whose pair is unknown."""

from __future__ import annotations

from collections.abc import Iterator

from ._lint_rules_base import Issue, rule
from ._model import ProcessDefinition
from ._sla_model import SlaPolicy
from .suggest import allowed

__all__ = [
    "RULES",
    "handoff_trigger_ambiguous",
    "handoff_without_action",
    "rearm_trigger_unusable",
    "rearm_without_effect",
]


def _clock_stages(d: ProcessDefinition, sla: SlaPolicy) -> set[str]:
    """The stages a clock of ``sla`` runs or pauses in (``*``: every open stage)."""
    names = {*sla.stages, *sla.pause_in}
    return set(d.open_stages) if "*" in names else {n for n in names if n in d.stages}


@rule(
    "LF308",
    "sla-rearm-trigger-unusable",
    "warning",
    "A re-arm trigger is never allowed in the SLA's stages, or always leaves them",
)
def rearm_trigger_unusable(d: ProcessDefinition) -> Iterator[Issue]:
    """A re-arm trigger starts a new cycle only when it is fired on a lead in the SLA's stages
    and leaves it there: a trigger not allowed from any of them never re-arms, and one that
    always moves the lead out of them ends the clock instead."""
    for sid, sla in d.slas.items():
        stages = _clock_stages(d, sla)
        for k, event in enumerate(sla.rearm.events if sla.rearm else ()):
            if event.trigger is None:
                continue
            moves = [
                t
                for t in d.transitions
                if t.name == event.trigger and set(d.source_stages(t)) & stages
            ]
            if moves and any(t.to in stages for t in moves):
                continue
            why = (
                "always moves the lead out of them"
                if moves
                else f"is not allowed from any of them ({allowed(sorted(stages))})"
            )
            yield Issue(
                ("slas", sid, "rearm", "events", k, "trigger"),
                f"SLA '{sid}': re-arm trigger '{event.trigger}' never starts a cycle: it {why}; "
                "re-arm on a trigger that stays in the SLA's stages, or on an activity",
            )


@rule(
    "LF309",
    "sla-rearm-without-effect",
    "warning",
    "A re-arming SLA keeps running cycles and nothing ever ends one",
)
def rearm_without_effect(d: ProcessDefinition) -> Iterator[Issue]:
    """With ``running: keep`` a re-arm event starts a cycle only after the last one ended; an
    SLA without ``fulfilled_by`` ends a cycle only when the lead leaves its stages, so no event
    ever re-arms it."""
    for sid, sla in d.slas.items():
        if sla.rearm is not None and sla.rearm.running == "keep" and sla.fulfilled_by is None:
            yield Issue(
                ("slas", sid, "rearm", "running"),
                f"SLA '{sid}': with running: keep and no fulfilled_by, a cycle never ends in "
                "the SLA's stages, so no event re-arms it; add fulfilled_by, or use running: "
                "restart",
            )


@rule(
    "LF310",
    "sla-handoff-without-action",
    "warning",
    "A hand-off SLA does not say what the receiving team must do",
)
def handoff_without_action(d: ProcessDefinition) -> Iterator[Issue]:
    """A hand-off clock runs until the receiving team acts, which ``fulfilled_by`` declares
    (an activity, a trigger, a field set); without it the clock only ends when the lead leaves
    the SLA's stages, and the report times that instead."""
    for sid, sla in d.slas.items():
        if sla.handoff is not None and sla.fulfilled_by is None:
            yield Issue(
                ("slas", sid, "handoff"),
                f"SLA '{sid}': the hand-off has no fulfilled_by, so nothing the receiving team "
                "does ends it; add fulfilled_by: {activity: {type: call}} or {trigger: accept}",
                key=True,
            )


@rule(
    "LF311",
    "sla-handoff-trigger-ambiguous",
    "warning",
    "A hand-off transition names several teams to hand off from or to",
)
def handoff_trigger_ambiguous(d: ProcessDefinition) -> Iterator[Issue]:
    """A transition declared as a hand-off takes its pair from the owners' teams; when the
    owner is in none of several ``from`` (or ``to``) teams, the pair is unknown and the
    hand-off is not timed. With one team on a side, that team is the pair's."""
    for sid, sla in d.slas.items():
        h = sla.handoff
        if h is None or not h.triggers or (len(h.from_) <= 1 and len(h.to) == 1):
            continue
        side = "from" if len(h.from_) > 1 else "to"
        yield Issue(
            ("slas", sid, "handoff", side),
            f"SLA '{sid}': hand-off triggers {allowed(list(h.triggers))} with several '{side}' "
            "teams are not timed when the owner is in none of them; name one team, or a "
            "separate hand-off SLA per pair",
        )


RULES = (
    rearm_trigger_unusable,
    rearm_without_effect,
    handoff_without_action,
    handoff_trigger_ambiguous,
)
"""The re-arming and hand-off rules, in code order."""
