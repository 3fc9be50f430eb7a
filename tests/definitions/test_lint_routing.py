"""Lint rules of routing options: catch-up that can never owe a turn (LF406) and a catch-up
limit without catch-up (LF407), located at the key."""

from __future__ import annotations

import pytest

from leadflow.definitions import DefinitionError, diff_definitions, lint_source, load_definition

BASE = """process: demo
version: 1
teams:
{teams}
routing:
  - {{team: sdr}}
schedules:
  weekly: {{cron: "0 18 * * sun", release: held}}
stages:
  new: {{initial: true}}
  won: {{closed: won}}
transitions:
  - {{name: win, from: new, to: won}}
"""
HELD = "  held: {members: [cy, dan]}"


@pytest.mark.parametrize(
    ("team", "why"),
    [
        ("  sdr: {members: [ana], catch_up: true}", "1 member(s): nobody else"),
        ("  sdr: {members: [ana, ben], strategy: least_loaded, catch_up: true}", "least_loaded"),
    ],
)
def test_catch_up_that_never_owes_a_turn_is_flagged_at_its_key(team: str, why: str) -> None:
    """A one-member or least-loaded team's catch_up is LF406, at teams.sdr.catch_up."""
    result = lint_source(BASE.format(teams=f"{team}\n{HELD}"), file="demo.yaml")
    [finding] = result.findings
    assert (finding.code, finding.line) == ("LF406", 4)
    assert why in finding.message
    assert finding.column == team.index("catch_up") + 1


def test_a_released_team_with_catch_up_is_flagged() -> None:
    """A team only a scheduled release hands leads to owes no turns: LF406 names the release."""
    teams = "  sdr: {members: [ana, ben]}\n  held: {members: [cy, dan], catch_up: true}"
    [finding] = lint_source(BASE.format(teams=teams)).findings
    assert finding.code == "LF406"
    assert "scheduled release" in finding.message


def test_a_limit_without_catch_up_is_flagged_and_a_working_one_is_clean() -> None:
    """catch_up_limit alone is LF407; with catch_up: true in a rotation nothing is found."""
    alone = "  sdr: {members: [ana, ben], catch_up_limit: 2}\n" + HELD
    [finding] = lint_source(BASE.format(teams=alone)).findings
    assert finding.code == "LF407"
    assert "catch_up_limit 2 does nothing" in finding.message
    fine = "  sdr: {members: [ana, ben], catch_up: true, catch_up_limit: 2}\n" + HELD
    assert lint_source(BASE.format(teams=fine)).findings == []


MATCHING = """process: demo
version: 1
fields:
  email: {{type: string, required: true}}
  company: {{type: string}}
  size: {{type: integer}}
teams:
  sdr: {{members: [ana, ben]}}
match_account: {spec}
{routing}stages:
  new: {{initial: true}}
  won: {{closed: won}}
transitions:
  - {{name: win, from: new, to: won}}
"""
ROUTED = "routing:\n  - {team: sdr}\n"


@pytest.mark.parametrize(
    ("spec", "routing", "where", "message"),
    [
        ("{by: company_name, company_field: firm}", ROUTED, "9:50", "unknown field 'firm'"),
        ("{by: email_domain, email_field: size}", ROUTED, "9:48", "field 'size' is integer"),
        ("{by: email_domain}", "", "9:1", "there are none; add routing"),
        (
            "{when: 'lead.sizes > 3'}",
            ROUTED,
            "9:29",
            "match_account: CEL expression reads lead.sizes",
        ),
        ("{by: [email_domain, email_domain]}", ROUTED, "9:", "listed twice: email_domain"),
    ],
)
def test_match_account_mistakes_are_load_errors_at_their_place(
    spec: str, routing: str, where: str, message: str
) -> None:
    """Fields that are not declared strings, no routing rules to fall back on, a bad condition
    and a repeated way are refused with file:line:col."""
    with pytest.raises(DefinitionError) as caught:
        load_definition(MATCHING.format(spec=spec, routing=routing), file="m.yaml")
    text = str(caught.value)
    assert f"m.yaml:{where}" in text
    assert message in text


def test_match_account_fields_count_as_used() -> None:
    """The fields match_account reads are not LF402 unused; a sound spec is clean."""
    text = MATCHING.format(spec="{by: [email_domain, company_name], fuzzy: 0.9}", routing=ROUTED)
    codes = {f.code for f in lint_source(text).findings}
    assert codes == {"LF402"}  # size only
    assert [f.message for f in lint_source(text).findings if "company" in f.message] == []


def test_a_match_account_change_is_in_the_diff() -> None:
    """Adding match_account, or changing its fuzzy, is one match-account-changed entry."""
    before = load_definition(MATCHING.format(spec="{by: email_domain}", routing=ROUTED))
    after = load_definition(
        MATCHING.format(spec="{by: [email_domain, company_name], fuzzy: 0.9}", routing=ROUTED)
    )
    [change] = diff_definitions(before, after)
    assert change.kind == "match-account-changed"
    assert change.message == (
        "match_account: by email_domain, fuzzy 1, accounts default -> "
        "by email_domain, company_name, fuzzy 0.9, accounts default"
    )
