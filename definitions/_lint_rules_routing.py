"""Lint rules over routing options that load but cannot do what they say, or match too much: a
team's catch-up (``catch_up``, ``catch_up_limit``) and the lead-to-account match
(``match_account``)."""

from __future__ import annotations

from collections.abc import Iterator

from ._lint_rules_base import Issue, rule
from ._model import ProcessDefinition

__all__ = [
    "LOOSE_FUZZY",
    "RULES",
    "catch_up_limit_without_catch_up",
    "catch_up_without_effect",
    "fuzzy_without_company_name",
    "loose_fuzzy_match",
]

LOOSE_FUZZY = 0.8
"""Below this similarity, unrelated companies match (``globex`` and ``globe`` score 0.91,
``acme`` and ``acne`` 0.75)."""


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


@rule("LF408", "loose-fuzzy-match", "warning", "match_account matches company names too loosely")
def loose_fuzzy_match(d: ProcessDefinition) -> Iterator[Issue]:
    """A ``fuzzy`` under 0.8 matches unrelated companies (``acme`` and ``acne`` score 0.75) and
    hands their leads to another account's owner."""
    spec = d.match_account
    if spec is not None and "company_name" in spec.by and spec.fuzzy < LOOSE_FUZZY:
        yield Issue(
            ("match_account", "fuzzy"),
            f"match_account: fuzzy {spec.fuzzy:g} matches unrelated company names (acme and "
            f"acne score 0.75); use {LOOSE_FUZZY:g} or more",
        )


@rule(
    "LF409",
    "fuzzy-without-company-name",
    "warning",
    "match_account sets fuzzy but does not match company names",
)
def fuzzy_without_company_name(d: ProcessDefinition) -> Iterator[Issue]:
    """``fuzzy`` is the least similarity of company names; with ``by`` not naming
    ``company_name`` it does nothing."""
    spec = d.match_account
    if spec is not None and "company_name" not in spec.by and spec.fuzzy < 1:
        yield Issue(
            ("match_account", "fuzzy"),
            f"match_account: fuzzy {spec.fuzzy:g} does nothing: by is "
            f"{', '.join(spec.by)}; add company_name to by, or remove fuzzy",
            key=True,
        )


RULES = (
    catch_up_without_effect,
    catch_up_limit_without_catch_up,
    loose_fuzzy_match,
    fuzzy_without_company_name,
)
"""The routing rules, in code order."""
