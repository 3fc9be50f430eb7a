"""Definition diffs in sentences, and the live leads each change touches (``diff_impact``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from leadflow.definitions import ProcessDefinition, load_definition
from leadflow.definitions._diff import DefinitionChange, diff_definitions
from leadflow.engine import Engine
from leadflow.engine.migration._impact import diff_impact
from leadflow.engine.testing import ManualClock

DEFINITIONS = Path(__file__).parent / "definitions"
REFERENCE_TEXT = (DEFINITIONS / "reference.yaml").read_text()
PROCESS = "inbound-lead"


def edited(*replacements: tuple[str, str]) -> ProcessDefinition:
    """The reference definition as version 2 with each ``(old, new)`` text replaced once."""
    text = REFERENCE_TEXT.replace("version: 1", "version: 2", 1)
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return load_definition(text)


def messages(changes: list[DefinitionChange]) -> list[str]:
    """The sentences of ``changes`` without the version bump every edit has."""
    return [c.message for c in changes if c.kind != "version-changed"]


V1 = load_definition(REFERENCE_TEXT)
SEGMENT_CRITERION = (
    "      - {id: budget_known, field_set: budget, message: Record the budget}\n",
    "      - {id: budget_known, field_set: budget, message: Record the budget}\n"
    "      - {id: segment_known, field_set: segment, message: Record the segment}\n",
)
STRICTER_SCORE = ("lead.score >= 60", "lead.score >= 80")


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


# -- impact on live leads ----------------------------------------------------------------------


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine with the reference process and five leads: new, two contacted, qualified, lost."""
    eng = Engine(db_url, clock=ManualClock(), create=True)
    eng.deploy(V1)
    eng.start(PROCESS, "l-new", {"email": "a@x.io"})
    for lead, data in (
        ("l-ready", {"segment": "smb", "score": 90}),
        ("l-open", {"score": 70}),
        ("l-qualified", {"score": 95, "decision_maker": "Ana"}),
    ):
        eng.start(PROCESS, lead, {"email": f"{lead}@x.io", **data})
        eng.record(PROCESS, lead, "call")
        eng.fire(PROCESS, lead, "contact")
    eng.update(PROCESS, "l-qualified", {"budget": 1000})
    eng.fire(PROCESS, "l-qualified", "qualify")
    eng.start(PROCESS, "l-lost", {"email": "l@x.io"})
    eng.fire(PROCESS, "l-lost", "lose", {"lost_reason": "no_budget"})
    yield eng
    eng.close()


def test_impact_counts_open_leads_per_touched_stage(engine: Engine) -> None:
    """Each change counts the open leads of the old version in its stages; criterion changes
    also count the leads that do not meet the new criterion now."""
    new = edited(SEGMENT_CRITERION, STRICTER_SCORE, ("    probability: 40", "    probability: 45"))
    impact = diff_impact(engine, V1, new)
    assert impact.by_stage == {"new": 1, "contacted": 2, "qualified": 1}
    assert impact.open_leads == 4
    by_kind = {c.change.kind: c for c in impact.changes}
    assert (by_kind["exit-criterion-added"].leads, by_kind["exit-criterion-added"].unmet) == (2, 1)
    assert (by_kind["guard-changed"].leads, by_kind["guard-changed"].unmet) == (2, 1)
    assert (
        by_kind["stage-probability-changed"].leads,
        by_kind["stage-probability-changed"].unmet,
    ) == (1, None)
    assert by_kind["version-changed"].leads == 0
    data = impact.as_dict()
    assert (data["changes"][1]["criterion"], data["changes"][1]["unmet"]) == ("segment_known", 1)


def test_impact_of_a_version_without_leads(engine: Engine) -> None:
    """Leads of another version are not counted: a diff from v2 finds no live leads."""
    v2 = edited(SEGMENT_CRITERION)
    v3 = edited(SEGMENT_CRITERION, STRICTER_SCORE, ("version: 2", "version: 3"))
    impact = diff_impact(engine, v2, v3)
    assert impact.open_leads == 0
    assert all(c.leads == 0 and c.unmet in (None, 0) for c in impact.changes)
