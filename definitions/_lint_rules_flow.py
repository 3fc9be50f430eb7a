"""Lint rules over stages and transitions: shadowed transitions, stuck stages, probabilities."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

from ._durations import format_duration
from ._lint_rules_base import Issue, rule
from ._lint_rules_cel import criterion_never_holds
from ._model import Criterion, ProcessDefinition, Transition
from .suggest import allowed

__all__ = [
    "ROTTING_AT_LEAST",
    "RULES",
    "falling_forecast_category",
    "falling_probability",
    "lost_without_reason",
    "rotting_on_closed_stage",
    "rotting_too_short",
    "shadowed_transition",
    "stage_cannot_be_left",
    "stage_without_probability",
    "won_unreachable",
]


def _skips_exit(d: ProcessDefinition, t: Transition) -> bool:
    """Whether leaving by ``t`` ignores the exit criteria (backward, or into closed-lost)."""
    target = d.stages.get(t.to)
    return t.backward or (target is not None and target.closed == "lost")


def _criteria(d: ProcessDefinition, t: Transition, stage: str) -> tuple[Criterion, ...]:
    """Every criterion leaving ``stage`` by ``t`` must meet, in the order the engine checks."""
    exits = () if _skips_exit(d, t) else d.stages[stage].exit_criteria
    return (*exits, *t.guard)


def _canonical(c: Criterion) -> str:
    return json.dumps(c.model_dump(mode="json", exclude={"id", "message"}), sort_keys=True)


@rule(
    "LF201",
    "shadowed-transition",
    "warning",
    "A transition is never chosen: an earlier one with the same trigger always wins",
)
def shadowed_transition(d: ProcessDefinition) -> Iterator[Issue]:
    """When one trigger leads from a stage to different stages, the engine takes the first
    transition (in definition order) whose criteria hold. A later transition that needs
    everything an earlier one needs (no guard that tells them apart) is never taken."""
    for j, later in enumerate(d.transitions):
        shadows: dict[str, list[str]] = {}
        for i, earlier in enumerate(d.transitions[:j]):
            if earlier.name != later.name or earlier.to == later.to:
                continue
            for stage in d.source_stages(earlier):
                if stage not in d.source_stages(later):
                    continue
                needs = {_canonical(c) for c in _criteria(d, earlier, stage)}
                if needs <= {_canonical(c) for c in _criteria(d, later, stage)}:
                    shadows.setdefault(f"'{earlier.to}' (transitions[{i}])", []).append(stage)
        for what, stages in shadows.items():
            yield Issue(
                ("transitions", j, "name"),
                f"transition '{later.name}' to '{later.to}' is never taken from "
                f"{allowed(stages)}: the '{later.name}' transition to {what} comes first and "
                "needs nothing this one does not; add a guard that tells them apart, or use "
                "another trigger name",
            )


def _blocked(d: ProcessDefinition, t: Transition, stage: str) -> str | None:
    for c in _criteria(d, t, stage):
        reason = criterion_never_holds(c, d.fields)
        if reason:
            return f"'{t.name}' needs criterion '{c.id}' ({reason})"
    return None


@rule(
    "LF202",
    "stage-cannot-be-left",
    "error",
    "Every way out of a stage needs a condition that can never hold",
)
def stage_cannot_be_left(d: ProcessDefinition) -> Iterator[Issue]:
    """A lead that enters such a stage stays there for good: each transition out of it (or the
    stage's own exit criteria) has a CEL criterion that can never be met."""
    for stage in d.open_stages:
        ways = [t for t in d.transitions if stage in d.source_stages(t)]
        reasons = [_blocked(d, t, stage) for t in ways]
        if ways and all(reasons):
            yield Issue(
                ("stages", stage),
                f"stage '{stage}': no lead can ever leave it: "
                + "; ".join(r for r in reasons if r)
                + "; fix the condition or add a way out",
                key=True,
            )


@rule("LF203", "won-unreachable", "warning", "No lead can reach a won stage")
def won_unreachable(d: ProcessDefinition) -> Iterator[Issue]:
    """Every path from the initial stage to a closed-won stage has a transition whose criteria
    can never be met, so the process can only lose leads."""
    won = [name for name, s in d.stages.items() if s.closed == "won"]
    if not won:
        return
    seen = {d.initial_stage}
    todo = [d.initial_stage]
    while todo:
        stage = todo.pop()
        for t in d.transitions:
            if t.to in seen or stage not in d.source_stages(t) or _blocked(d, t, stage):
                continue
            seen.add(t.to)
            todo.append(t.to)
    if not seen & set(won):
        yield Issue(
            ("stages", won[0]),
            f"no lead can reach {allowed(won)}: every path to it has a criterion that can never "
            "be met (see the LF103 findings); fix those conditions",
            key=True,
        )


@rule("LF204", "falling-probability", "warning", "Win probability falls along the main path")
def falling_probability(d: ProcessDefinition) -> Iterator[Issue]:
    """Stages are listed main path first, ending at the first closed-won stage; a stage further
    along it (closed-lost stages aside) with a lower probability than an earlier one makes the
    weighted pipeline shrink as deals advance: usually a typo or stages in the wrong order.
    Side stages (nurture, on hold) listed after the won stage are not on the main path."""
    best: tuple[str, int] | None = None
    for name, stage in d.stages.items():
        if stage.closed == "lost" or stage.probability is None:
            continue
        if best is not None and stage.probability < best[1]:
            yield Issue(
                ("stages", name, "probability"),
                f"stage '{name}' has probability {stage.probability}%, below the {best[1]}% of "
                f"'{best[0]}' before it; probabilities should rise along the main path "
                "(fix the number, or list side stages after the won stage)",
            )
        elif best is None or stage.probability > best[1]:
            best = (name, stage.probability)
        if stage.closed == "won":
            return  # the main path ends here: what follows are side stages


_RANK = {"pipeline": 0, "best_case": 1, "commit": 2}


@rule(
    "LF208",
    "falling-forecast-category",
    "warning",
    "Forecast category falls along the main path",
)
def falling_forecast_category(d: ProcessDefinition) -> Iterator[Issue]:
    """Along the main path (stages listed first, up to the first closed-won one), a stage whose
    forecast category (given or derived from its probability) is below an earlier one's, such
    as ``pipeline`` after ``commit``, moves deals back out of the committed forecast as they
    advance: usually a ``forecast_category`` set on the wrong stage. Between two derived
    categories the fall is a fall of probability, which LF204 reports."""
    best: tuple[str, str, bool] | None = None
    for name, stage in d.stages.items():
        if stage.closed == "won":
            return
        if stage.closed:
            continue
        category, given = stage.category, stage.forecast_category is not None
        if best is not None and _RANK[category] < _RANK[best[1]] and (given or best[2]):
            yield Issue(
                ("stages", name, "forecast_category" if given else "probability"),
                f"stage '{name}' is in forecast category {category}, below {best[1]} of "
                f"'{best[0]}' before it; categories should rise along the main path "
                "(pipeline, best_case, commit)",
            )
        elif best is None or _RANK[category] > _RANK[best[1]]:
            best = (name, category, given)


@rule(
    "LF205", "lost-without-reason", "warning", "A transition closes leads as lost without a reason"
)
def lost_without_reason(d: ProcessDefinition) -> Iterator[Issue]:
    """Loss reports need a reason per lost lead: every transition into a closed-lost stage should
    ``require`` a field (an enum of reasons such as ``lost_reason``) in the event's data."""
    for i, t in enumerate(d.transitions):
        target = d.stages.get(t.to)
        if target is not None and target.closed == "lost" and not t.requires:
            yield Issue(
                ("transitions", i, "name"),
                f"transition '{t.name}' closes leads as lost (stage '{t.to}') without a reason; "
                "add requires: [lost_reason] with an enum field of reasons",
            )


@rule(
    "LF206",
    "stage-without-probability",
    "warning",
    "Some stages have a probability and this one has none",
)
def stage_without_probability(d: ProcessDefinition) -> Iterator[Issue]:
    """Once any stage has a ``probability``, forecasts weigh leads by it; a stage without one
    drops its leads from the weighted pipeline."""
    given = [name for name, s in d.stages.items() if s.probability is not None]
    if not given:
        return
    for name, stage in d.stages.items():
        if stage.probability is None:
            yield Issue(
                ("stages", name),
                f"stage '{name}' has no probability while other stages have one "
                f"({allowed(given)}); give it one (0 for a lost stage) so forecasts count "
                "its leads",
                key=True,
            )


@rule("LF209", "rotting-on-closed-stage", "warning", "A closed stage has a rotting threshold")
def rotting_on_closed_stage(d: ProcessDefinition) -> Iterator[Issue]:
    """``rotting_after`` marks idle leads on the board, which shows open stages only: on a
    closed (won or lost) stage it has no effect, and was probably meant for the stage before."""
    for name, stage in d.stages.items():
        if stage.closed and stage.rotting_after is not None:
            yield Issue(
                ("stages", name, "rotting_after"),
                f"stage '{name}' is closed ({stage.closed}): its rotting_after has no effect; "
                "remove it or move it to an open stage",
            )


ROTTING_AT_LEAST = timedelta(hours=1)
"""LF210: a shorter ``rotting_after`` marks nearly every lead as rotting."""


@rule("LF210", "rotting-too-short", "warning", "A stage's rotting threshold is under an hour")
def rotting_too_short(d: ProcessDefinition) -> Iterator[Issue]:
    """A lead rots when nothing happened to it for ``rotting_after``; under an hour nearly
    every card on the board is marked, and the badge stops meaning anything (``5m`` written
    for ``5d``)."""
    for name, stage in d.stages.items():
        after = stage.rotting_after
        if not stage.closed and after is not None and after < ROTTING_AT_LEAST:
            yield Issue(
                ("stages", name, "rotting_after"),
                f"stage '{name}' marks leads as rotting after {format_duration(after)}; "
                "write hours or days (4h, 5d): under an hour nearly every lead rots",
            )


RULES = (
    shadowed_transition,
    stage_cannot_be_left,
    won_unreachable,
    falling_probability,
    lost_without_reason,
    stage_without_probability,
    falling_forecast_category,
    rotting_on_closed_stage,
    rotting_too_short,
)
"""The stage and transition rules, in code order."""
