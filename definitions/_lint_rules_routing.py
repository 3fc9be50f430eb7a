"""Lint rules over routing options that load but cannot do what they say: a team's catch-up
(``catch_up``, ``catch_up_limit``)."""

from __future__ import annotations

from collections.abc import Iterator

from ._lint_rules_base import Issue, rule
from ._model import ProcessDefinition

__all__ = ["RULES", "catch_up_limit_without_catch_up", "catch_up_without_effect"]


@rule("LF406", "catch-up-without-effect", "warning", "A team's catch_up can never owe a turn")
def catch_up_without_effect(d: ProcessDefinition) -> Iterator[Issue]:
    """``catch_up: true`` owes turns the rotation skips; it does nothing for a ``least_loaded``
    team (no rotation: the fewest open leads decide), a team of one member (nobody else takes
    the turn) or a team whose leads only a scheduled release hands out (a release walks the
    rotation without owed turns)."""
    released = {s.release for s in d.schedules.values() if s.release}
    for name, team in d.teams.items():
        if not team.catch_up:
            continue
        why = None
        if team.strategy == "least_loaded":
            why = "least_loaded picks by open leads, not by turns"
        elif len(team.members) < 2:
            why = f"it has {len(team.members)} member(s): nobody else can take a skipped turn"
        elif name in released:
            why = "its leads are handed out by a scheduled release, which owes no turns"
        if why:
            yield Issue(
                ("teams", name, "catch_up"),
                f"team '{name}': catch_up has no effect: {why}; remove it",
                key=True,
            )


@rule(
    "LF407",
    "catch-up-limit-without-catch-up",
    "warning",
    "A team sets catch_up_limit without catch_up: true",
)
def catch_up_limit_without_catch_up(d: ProcessDefinition) -> Iterator[Issue]:
    """``catch_up_limit`` caps the turns owed under ``catch_up: true``; without it nothing is
    owed, so the limit is a leftover or a forgotten ``catch_up: true``."""
    for name, team in d.teams.items():
        if team.catch_up_limit is not None and not team.catch_up:
            yield Issue(
                ("teams", name, "catch_up_limit"),
                f"team '{name}': catch_up_limit {team.catch_up_limit} does nothing without "
                "catch_up: true; add catch_up: true, or remove the limit",
                key=True,
            )


RULES = (catch_up_without_effect, catch_up_limit_without_catch_up)
"""The routing rules, in code order."""
