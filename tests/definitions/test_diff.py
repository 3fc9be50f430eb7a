"""Definition diffs in sentences: stages, criteria, transitions, fields, SLAs, teams,
subscriptions and routing (their impact on live leads: engine/migration/test_diff_impact.py)."""

from __future__ import annotations

from pathlib import Path

from reference_edits import SEGMENT_CRITERION, V1, edited

from leadflow.definitions import load_definition
from leadflow.definitions._diff import DefinitionChange, diff_definitions

DEFINITIONS = Path(__file__).parent


def messages(changes: list[DefinitionChange]) -> list[str]:
    """The sentences of ``changes`` without the version bump every edit has."""
    return [c.message for c in changes if c.kind != "version-changed"]


def test_identical_definitions_have_no_changes() -> None:
    """A definition compared with itself has no changes."""
    assert diff_definitions(V1, V1) == []


def test_versions_of_the_runtime_fixture() -> None:
    """The v2 runtime fixture differs by version, a probability and a guard's score."""
    v2 = load_definition(DEFINITIONS / "runtime" / "inbound-lead-v2.yaml")
    assert [c.message for c in diff_definitions(V1, v2)] == [
        "version: 1 -> 2",
        "stage 'qualified': probability 40 -> 50",
        "transition 'qualify' (contacted -> qualified): guard 'score_ok' changed: "
        "message 'Score must be at least 60' -> 'Score must be at least 80'; "
        "cel 'lead.score >= 60' -> 'lead.score >= 80'",
    ]


def test_exit_criteria_added_removed_changed() -> None:
    """Exit criteria are matched by id: added (with its message), removed, changed."""
    added = diff_definitions(V1, edited(SEGMENT_CRITERION))
    assert messages(added) == [
        "stage 'contacted': exit criterion 'segment_known' added: Record the segment"
    ]
    assert added[-1].stages == ("contacted",)
    assert added[-1].criterion == "segment_known"


BUDGET = "      - {id: budget_known, field_set: budget, message: Record the budget}\n"


def test_removed_criterion_and_changed_one() -> None:
    """A removed criterion names its message; a changed one names the keys that changed."""
    new = edited((BUDGET, BUDGET.replace("field_set: budget", "field_set: segment")))
    assert messages(diff_definitions(V1, new)) == [
        "stage 'contacted': exit criterion 'budget_known' changed: field_set 'budget' -> 'segment'"
    ]
    assert messages(diff_definitions(new, V1))[0].endswith("field_set 'segment' -> 'budget'")
    none = edited(("  contacted:\n    exit_criteria:\n" + BUDGET, "  contacted: {}\n"))
    assert messages(diff_definitions(V1, none)) == [
        "stage 'contacted': exit criterion 'budget_known' removed (Record the budget)"
    ]


def test_stages_added_removed_and_renamed() -> None:
    """A stage with the same settings under a new name looks renamed; others are added/removed."""
    renamed = edited(
        ("  qualified:\n", "  sales_ready:\n"),
        ("to: qualified", "to: sales_ready"),
        ("from: qualified", "from: sales_ready"),
    )
    assert messages(diff_definitions(V1, renamed)) == [
        "stage 'qualified' removed; stage 'sales_ready' added with the same settings (renamed?)",
        "transition 'qualify' (contacted -> qualified) removed",
        "transition 'win' (qualified -> won): from qualified -> sales_ready",
        "transition 'qualify' (contacted -> sales_ready) added",
    ]
    nurture = edited(
        (
            "  won: {closed: won, probability: 100}\n",
            "  won: {closed: won, probability: 100}\n  nurture: {probability: 5}\n",
        ),
        (
            "  - name: lose\n",
            "  - {name: park, from: new, to: nurture}\n"
            "  - {name: wake, from: nurture, to: new}\n"
            "  - name: lose\n",
        ),
    )
    changes = diff_definitions(V1, nurture)
    assert messages(changes)[0] == "stage 'nurture' added, probability 5%"
    assert "transition 'park' (new -> nurture) added" in messages(changes)
    (wake,) = [c for c in changes if "wake" in c.message]
    assert wake.stages == ()  # nurture holds no lead of the old version
    back = diff_definitions(nurture, V1)
    assert "stage 'nurture' removed" in messages(back)


def test_transition_from_and_requires_changes() -> None:
    """A transition's sources, requires and flags are compared; its stages are the old sources."""
    new = edited(
        (
            '    from: "*"\n    to: lost\n    requires: [lost_reason]',
            "    from: [new, contacted]\n    to: lost\n    requires: [lost_reason, segment]",
        )
    )
    changes = [c for c in diff_definitions(V1, new) if c.kind != "version-changed"]
    assert [c.message for c in changes] == [
        "transition 'lose' (* -> lost): from * -> new, contacted",
        'transition \'lose\' (* -> lost): requires ["lost_reason"] -> ["lost_reason", "segment"]',
    ]
    assert changes[0].stages == ("new", "contacted", "qualified")
    assert changes[1].stages == ("new", "contacted", "qualified")


def test_fields_slas_teams_subscriptions_routing() -> None:
    """Field, SLA, team, subscription and routing changes each get a sentence."""
    old = load_definition(DEFINITIONS / "sla" / "speed.yaml")
    text = (DEFINITIONS / "sla" / "speed.yaml").read_text()
    text = text.replace("version: 1", "version: 2")
    text = text.replace("target: 5m business", "target: 10m business")
    text = text.replace("members: [dave]", "members: [dave, erin]")
    text = text.replace(
        "  priority: {type: string}\n", "  priority: {type: string, required: true}\n"
    )
    text = text.replace("won: closedwon, ", "won: closedwon, waiting: appointmentscheduled, ")
    text = text.replace("lead.score >= 90', team: fast", "lead.score >= 95', team: fast")
    new = load_definition(text)
    found = messages(diff_definitions(old, new))
    assert found == [
        "field 'priority': required nothing -> true",
        "SLA 'speed_to_call': target '5m business' -> '10m business'",
        'team \'fast\': members [{"id": "dave"}] -> [{"id": "dave"}, {"id": "erin"}]',
        "subscription 'hubspot': stages a new value -> a new value",
        "routing rules changed (now: fast when has(lead.score) && lead.score >= 95; sdr)",
    ]
    sla = next(c for c in diff_definitions(old, new) if c.kind == "sla-changed")
    assert sla.stages == ("new",)
    field = next(c for c in diff_definitions(old, new) if c.kind == "field-changed")
    assert field.stages == old.open_stages


def test_access_rules_are_compared() -> None:
    """Roles of ``access:`` are matched by name (added, removed, changed field by field), and
    the team field and sharing rules changing are each one sentence."""
    text = (DEFINITIONS / "access" / "partner-leads.yaml").read_text(encoding="utf-8")
    old = load_definition(text, file="old.yaml")
    new = load_definition(
        text.replace("hidden: [budget]", "hidden: [budget, amount]")
        .replace("team_field: owning_team", "team_field: segment")
        .replace("verbs: [read]}", "verbs: [read, record]}")
        .replace("  sharing:", "    auditor: {like: viewer}\n  sharing:"),
        file="new.yaml",
    )
    assert messages(diff_definitions(old, new)) == [
        """access role 'partner': hidden ["budget"] -> ["budget", "amount"]""",
        "access role 'auditor' added",
        "access team_field: 'owning_team' -> 'segment'",
        'access sharing rules changed (now: rep read/record when lead.segment == "smb")',
    ]
    assert messages(diff_definitions(new, old))[1] == "access role 'auditor' removed"


def test_a_changed_forecast_category_is_a_change() -> None:
    """Setting a stage's ``forecast_category`` shows as a change of that stage."""
    new = V1.stages["new"].model_copy(update={"forecast_category": "commit"})
    committed = V1.model_copy(update={"stages": {**V1.stages, "new": new}})
    (change,) = diff_definitions(V1, committed)
    assert change.kind == "stage-forecast-category-changed"
    assert change.message == "stage 'new': forecast_category nothing -> 'commit'"
