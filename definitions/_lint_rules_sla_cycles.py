"""Lint rules over re-arming SLA clocks: re-arm events that can never start a cycle."""

from __future__ import annotations

from collections.abc import Iterator

from ._lint_rules_base import Issue, rule
from ._model import ProcessDefinition
from ._sla_model import SlaPolicy
from .suggest import allowed

__all__ = ["RULES", "rearm_trigger_unusable", "rearm_without_effect"]


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


RULES = (rearm_trigger_unusable, rearm_without_effect)
"""The re-arming rules, in code order."""
