"""Journeys documents: valid ones load into frozen models; every mistake is a located problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from leadflow.definitions import (
    DefinitionError,
    JourneyRule,
    Journeys,
    Problem,
    check_journeys,
    load_journeys,
)

VALID = """\
journeys:
  - {when: 'lead.segment == "hospital"', process: hospital-journey}
  - when: lead.segment == "school" && lead.score >= 10
    process: school-journey
  - {process: inbound-lead}   # the default
"""


def problems(text: str) -> tuple[Problem, ...]:
    """The problems loading ``text`` as journeys.yaml reports."""
    with pytest.raises(DefinitionError) as info:
        load_journeys(text, file="journeys.yaml")
    return info.value.problems


def only(text: str) -> Problem:
    """The one problem loading ``text`` reports."""
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def test_a_valid_document_loads_in_order() -> None:
    """Rules keep their order; the last one may leave out ``when``."""
    journeys = load_journeys(VALID)
    assert [r.process for r in journeys.rules] == [
        "hospital-journey",
        "school-journey",
        "inbound-lead",
    ]
    assert journeys.rules[0].when == 'lead.segment == "hospital"'
    assert journeys.rules[-1].when is None


def test_a_file_loads_and_problems_name_it(tmp_path: Path) -> None:
    """A path (or a one-line string naming a file) is read; its problems carry its name."""
    good = tmp_path / "journeys.yaml"
    good.write_text(VALID)
    assert load_journeys(good) == load_journeys(str(good)) == load_journeys(VALID)
    bad = tmp_path / "bad.yaml"
    bad.write_text("journeys:\n  - {process: a}\n  - {proces: b}\n")
    with pytest.raises(DefinitionError) as info:
        load_journeys(bad)
    assert str(info.value.problems[0]).startswith(f"{bad}:3:")


def test_models_are_frozen_and_documented() -> None:
    """The models cannot be changed after loading, and every field has a docstring."""
    journeys = load_journeys(VALID)
    with pytest.raises(ValidationError):
        journeys.rules[0].process = "other"  # type: ignore[misc]
    for model in (JourneyRule, Journeys):
        assert all(f.description for f in model.model_fields.values()), model


def test_a_missing_file_is_a_problem() -> None:
    """A one-line name of no file is reported as such, not parsed as YAML."""
    assert only("no-such-journeys.yaml").code == "unreadable-file"


def test_no_rules_is_a_problem() -> None:
    """An empty list of rules is located at the list."""
    problem = only("journeys: []\n")
    assert (problem.code, problem.line, problem.column) == ("no-journey-rules", 1, 11)


def test_a_default_before_the_end_is_a_problem() -> None:
    """A rule without ``when`` that is not last is located at that rule."""
    problem = only("journeys:\n  - {process: a}\n  - {when: 'lead.x == 1', process: b}\n")
    assert (problem.code, problem.line, problem.column) == ("default-not-last", 2, 5)
    assert "journey rule 1" in problem.message
    assert "last" in problem.message


def test_a_cel_syntax_error_is_located_inside_the_expression() -> None:
    """The column points into the ``when`` text where CEL failed."""
    problem = only("journeys:\n  - {when: 'lead.segment ==', process: a}\n")
    assert problem.code == "cel-syntax"
    assert (problem.line, problem.column) == (2, 28)


def test_only_lead_may_be_read() -> None:
    """``stage``, ``owner``, ``now`` or unknown names are refused where they are written."""
    found = problems(
        "journeys:\n"
        "  - {when: 'stage == \"new\"', process: a}\n"
        "  - {when: 'lead.x == 1 && foo', process: b}\n"
    )
    assert [(p.code, p.line, p.column) for p in found] == [
        ("cel-unknown-variable", 2, 13),
        ("cel-unknown-variable", 3, 28),
    ]
    assert all("reads only lead" in p.message for p in found)


def test_unknown_keys_and_missing_keys_are_located() -> None:
    """A misspelt key gets a suggestion and the allowed keys; a missing one names itself."""
    found = problems("journeys:\n  - {wen: 'lead.x == 1', process: a}\n  - {when: 'true'}\n")
    codes = {(p.code, p.line) for p in found}
    assert codes == {("unknown-key", 2), ("missing-key", 3)}
    unknown = next(p for p in found if p.code == "unknown-key")
    assert "did you mean 'when'" in unknown.message
    assert "allowed: when, process" in unknown.message
    missing = next(p for p in found if p.code == "missing-key")
    assert "journey rule 2: missing required key 'process'" in missing.message


def test_a_bad_process_name_and_bad_types_are_located() -> None:
    """Process names follow the definitions' rule; values of the wrong type say what is wanted."""
    found = problems("journeys:\n  - {when: true, process: Hospital Journey}\n  - inbound\n")
    by_code = {p.code: p for p in found}
    assert by_code["invalid-name"].line == 2
    assert "not a valid process name" in by_code["invalid-name"].message
    messages = [p.message for p in found if p.code == "invalid-value"]
    assert any("expected text" in m and "quote" in m for m in messages)
    assert any("journey rule 2: expected a mapping" in m for m in messages)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("- a\n- b\n", "not-a-mapping"),
        ("journeys: [\n", "yaml-syntax"),
        ("rules: []\n", "unknown-key"),
    ],
)
def test_documents_of_the_wrong_shape(text: str, code: str) -> None:
    """Not a mapping, broken YAML or the wrong top-level key: a problem of its own code."""
    assert code in {p.code for p in problems(text)}


def test_models_built_in_python_are_checked_too() -> None:
    """check_journeys runs the same checks on a model built without YAML."""
    good = Journeys(rules=(JourneyRule(when="lead.score > 1", process="a"),))
    assert check_journeys(good) is good
    bad = Journeys(rules=(JourneyRule(process="a"), JourneyRule(when="stage", process="b")))
    with pytest.raises(DefinitionError) as info:
        check_journeys(bad)
    assert {p.code for p in info.value.problems} == {"default-not-last", "cel-unknown-variable"}


def test_the_documented_example_loads_and_its_problems_are_the_shown_ones() -> None:
    """The YAML in docs/definition-language.md's journeys section loads; its error example
    (the edits the text describes) prints exactly the documented lines."""
    docs = Path(__file__).parents[2] / "docs" / "definition-language.md"
    text = docs.read_text(encoding="utf-8")
    start = text.index("## Journeys")
    section = text[start : text.index("\n## ", start + 1)]
    example = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)[0]
    assert [r.process for r in load_journeys(example).rules][-1] == "inbound-lead"
    shown = re.findall(r"```text\n(.*?)```", section, flags=re.S)[0].splitlines()
    lines = example.splitlines()
    lines[1] = "  - {when: 'stage == \"new\"', process: hospital-journey}"
    lines[2] = "  - {process: school-journey}"
    assert [str(p) for p in problems("\n".join(lines) + "\n")] == shown
