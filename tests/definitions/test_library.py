"""The processes shipped in definitions/library/: they load, and keep their promised shape."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from leadflow.definitions import (
    ActivityCriterion,
    DefinitionError,
    FieldType,
    ProcessDefinition,
    load_definition,
)

ROOT = Path(__file__).parents[2]
LIBRARY = ROOT / "definitions" / "library"
REFERENCE = ROOT / "tests" / "definitions" / "reference.yaml"
SHIPPED = sorted(LIBRARY.glob("*.yaml"))

STAGES = {
    "inbound-lead": ["new", "contacted", "qualified", "won", "lost"],
    "b2b-opportunity": [
        "prospecting",
        "qualification",
        "needs_analysis",
        "proposal",
        "negotiation",
        "won",
        "lost",
    ],
    "social-selling": [
        "identification",
        "introductions",
        "listening",
        "free_trial",
        "community_involvement",
        "negotiation",
        "closing",
        "lost",
    ],
    "buyer-journey": [
        "search",
        "referencing",
        "evaluating_options",
        "free_trial",
        "best_practices",
        "vendor_negotiation",
        "purchase_decision",
        "lost",
    ],
}


def load(name: str) -> ProcessDefinition:
    return load_definition(LIBRARY / f"{name}.yaml")


def test_library_ships_the_four_processes() -> None:
    """The library folder holds exactly the four documented processes."""
    assert sorted(p.stem for p in SHIPPED) == sorted(STAGES)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_process_loads(path: Path) -> None:
    """Every shipped process loads without problems and its id matches its file name."""
    definition = load_definition(path)
    assert definition.process == path.stem


@pytest.mark.parametrize(("name", "stages"), STAGES.items())
def test_stage_list(name: str, stages: list[str]) -> None:
    """Each process has exactly the stages, in order, that its issue names."""
    assert list(load(name).stages) == stages


def test_inbound_lead_keeps_reference_triggers() -> None:
    """inbound-lead keeps every reference trigger with the same stages, requires and guards."""
    reference = load_definition(REFERENCE)
    library = load("inbound-lead")
    assert [t.name for t in reference.transitions] == ["contact", "qualify", "win", "lose"]
    for ref in reference.transitions:
        (ours,) = [t for t in library.transitions if t.name == ref.name]
        assert (ours.sources, ours.to, ours.requires) == (ref.sources, ref.to, ref.requires)
        assert set(ref.guard) <= set(ours.guard)
    for name, stage in reference.stages.items():
        assert set(stage.exit_criteria) <= set(library.stages[name].exit_criteria)


def test_inbound_lead_keeps_reference_fields() -> None:
    """inbound-lead keeps the reference fields' contract and adds no required field."""
    reference = load_definition(REFERENCE)
    library = load("inbound-lead")
    contract = ("type", "required", "min", "max", "values", "items", "pattern")
    for name, spec in reference.fields.items():
        ours = library.fields[name]
        assert [getattr(ours, k) for k in contract] == [getattr(spec, k) for k in contract]
    added = set(library.fields) - set(reference.fields)
    assert not [name for name in added if library.fields[name].required]


def test_inbound_lead_no_response_needs_five_calls_in_14_days() -> None:
    """Marking an inbound lead lost for no response needs 5 calls within 14 days."""
    (lose,) = [t for t in load("inbound-lead").transitions if t.name == "lose"]
    rules = [c for c in lose.guard if c.when and '"no_response"' in c.when]
    assert len(rules) == 1
    rule = rules[0]
    assert isinstance(rule, ActivityCriterion)
    assert (rule.activity.type, rule.activity.min) == ("call", 5)
    assert rule.activity.within == timedelta(days=14)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_playbook_templates_exist(path: Path) -> None:
    """Every playbook template a process references is a file under definitions/library/."""
    definition = load_definition(path)
    templates = [
        item.template
        for stage in definition.stages.values()
        for item in stage.playbook
        if item.template
    ]
    missing = [t for t in templates if not (LIBRARY / t).is_file()]
    assert templates
    assert not missing


def test_b2b_probabilities_never_fall_along_the_main_path() -> None:
    """b2b-opportunity's probabilities rise (or hold) from prospecting to won."""
    definition = load("b2b-opportunity")
    path = [name for name, stage in definition.stages.items() if stage.closed != "lost"]
    edges = {(s, t.to) for t in definition.transitions for s in definition.source_stages(t)}
    assert all(step in edges for step in pairwise(path))
    declared = [definition.stages[name].probability for name in path]
    probabilities = [p for p in declared if p is not None]
    assert probabilities == declared, "every stage on the main path declares a probability"
    assert probabilities == sorted(probabilities)
    assert probabilities[-1] == 100


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_closed_lost_needs_a_reason(path: Path) -> None:
    """Every transition into a closed-lost stage requires an enum reason field."""
    definition = load_definition(path)
    lost = {name for name, stage in definition.stages.items() if stage.closed == "lost"}
    into_lost = [t for t in definition.transitions if t.to in lost]
    assert into_lost
    for transition in into_lost:
        assert transition.requires, f"transition '{transition.name}' requires no reason"
        assert any(definition.fields[f].type is FieldType.ENUM for f in transition.requires)


# -- shipped processes by name -------------------------------------------------------------------


def test_load_definition_takes_a_shipped_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shipped process loads by name (string or Path) from a directory without it."""
    monkeypatch.chdir(tmp_path)
    assert load_definition("inbound-lead").process == "inbound-lead"
    assert load_definition(Path("b2b-opportunity")).process == "b2b-opportunity"


def test_a_local_file_wins_over_the_shipped_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file named like a shipped process in the working directory is the one loaded."""
    monkeypatch.chdir(tmp_path)
    text = REFERENCE.read_text(encoding="utf-8")
    (tmp_path / "inbound-lead").write_text(text, encoding="utf-8")
    assert load_definition("inbound-lead") == load_definition(text)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("inbound-lead.yaml", "no such file (the shipped process 'inbound-lead' is named "),
        ("inbound-led", "no such file (did you mean the shipped process 'inbound-lead'?)"),
        ("zzz", "no such file, nor a shipped process of that name (b2b-opportunity, "),
    ],
)
def test_a_missing_name_points_at_the_shipped_processes(
    source: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing file close to a shipped name says how that process is named."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DefinitionError) as info:
        load_definition(source)
    (problem,) = info.value.problems
    assert problem.code == "unreadable-file"
    assert problem.message.startswith(message)


@pytest.mark.parametrize("length", [254, 300, 5000])
def test_a_one_line_text_longer_than_a_file_name_is_a_definition_error(length: int) -> None:
    """A long line is neither a file nor a shipped name: the loader says what it is not,
    instead of the file system's ``OSError: File name too long``."""
    with pytest.raises(DefinitionError):
        load_definition("x" * length)
