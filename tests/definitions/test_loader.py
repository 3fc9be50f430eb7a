"""Loading definitions: the reference loads as written; every class of mistake is reported with
its file, line, column, a stable code and a sentence naming what is wrong; garbage never raises
anything but DefinitionError.

Each fixture in tests/definitions/invalid/ holds one class of mistake (its first line says which).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from leadflow.definitions import (
    ActivityCriterion,
    CelCriterion,
    DefinitionError,
    FieldSetCriterion,
    FieldType,
    Problem,
    ProcessDefinition,
    library_path,
    load_definition,
)
from leadflow.definitions.yaml_source import MAX_BYTES

HERE = Path(__file__).parents[1]
REFERENCE = HERE / "definitions" / "reference.yaml"
INVALID = HERE / "definitions" / "invalid"
PYTHON_WORDS = ("tuple", "dictionary", "instance of")


def problems_of(name: str) -> tuple[Problem, ...]:
    """Load the fixture ``name``, expect a DefinitionError, return its problems."""
    path = INVALID / name
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    problems = info.value.problems
    assert problems, "a DefinitionError lists at least one problem"
    assert str(info.value).splitlines() == [
        f"{path}:{p.line}:{p.column}: {p.message}" for p in problems
    ]
    return problems


def only_problem(name: str) -> Problem:
    """The single problem the fixture ``name`` has."""
    problems = problems_of(name)
    assert len(problems) == 1, "\n".join(str(p) for p in problems)
    return problems[0]


def assert_problem(problem: Problem, code: str, line: int, column: int, *words: str) -> None:
    """``problem`` has this code and position, and its message contains every word."""
    assert (problem.code, problem.line, problem.column) == (code, line, column), str(problem)
    for word in words:
        assert word in problem.message, f"{word!r} not in {problem.message!r}"


def fixture_text(name: str) -> str:
    return (INVALID / name).read_text(encoding="utf-8")


# -- what loads ---------------------------------------------------------------------------------


def test_reference_loads_exactly_as_written() -> None:
    """The reference definition loads with its stages, fields, transitions and criteria intact."""
    d = load_definition(REFERENCE)
    assert (d.process, d.version, d.title, d.extra) == (
        "inbound-lead",
        1,
        "Inbound lead response",
        "forbid",
    )
    assert list(d.stages) == ["new", "contacted", "qualified", "won", "lost"]
    assert d.initial_stage == "new"
    assert [n for n, s in d.stages.items() if s.initial] == ["new"]
    assert {n: s.closed for n, s in d.stages.items()} == {
        "new": None,
        "contacted": None,
        "qualified": None,
        "won": "won",
        "lost": "lost",
    }
    assert {n: s.probability for n, s in d.stages.items()} == {
        "new": None,
        "contacted": None,
        "qualified": 40,
        "won": 100,
        "lost": 0,
    }
    assert d.open_stages == ("new", "contacted", "qualified")

    assert list(d.fields) == [
        "email",
        "score",
        "segment",
        "budget",
        "decision_maker",
        "lost_reason",
    ]
    assert d.fields["email"].type is FieldType.STRING
    assert d.fields["email"].required
    assert (d.fields["score"].type, d.fields["score"].min, d.fields["score"].max) == (
        FieldType.INTEGER,
        0,
        100,
    )
    assert d.fields["segment"].values == ("smb", "mid_market", "enterprise")

    (item,) = d.stages["new"].playbook
    assert (item.id, item.title, item.template, item.activity_type) == (
        "first_call",
        "Call the lead",
        "scripts/first-call.md",
        "first_call",
    )
    (budget,) = d.stages["contacted"].exit_criteria
    assert isinstance(budget, FieldSetCriterion)
    assert (budget.id, budget.field_set, budget.message) == (
        "budget_known",
        "budget",
        "Record the budget",
    )

    assert [(t.name, t.sources, d.source_stages(t), t.to) for t in d.transitions] == [
        ("contact", ("new",), ("new",), "contacted"),
        ("qualify", ("contacted",), ("contacted",), "qualified"),
        ("win", ("qualified",), ("qualified",), "won"),
        ("lose", ("*",), ("new", "contacted", "qualified"), "lost"),
    ]
    contact, qualify, win, lose = d.transitions
    (called,) = contact.guard
    assert isinstance(called, ActivityCriterion)
    assert (called.id, called.activity.type, called.activity.min, called.activity.within) == (
        "called",
        "call",
        1,
        None,
    )
    score_ok, dm_known = qualify.guard
    assert isinstance(score_ok, CelCriterion)
    assert (score_ok.id, score_ok.cel) == ("score_ok", "lead.score >= 60")
    assert isinstance(dm_known, FieldSetCriterion)
    assert (dm_known.id, dm_known.field_set) == ("dm_known", "decision_maker")
    assert win.guard == lose.guard == ()
    assert [t.requires for t in d.transitions] == [(), (), (), ("lost_reason",)]
    assert not any(t.reopen for t in d.transitions)
    assert d.triggers_from("qualified") == ("win", "lose")
    assert d.triggers_from("won") == ()


@pytest.mark.parametrize("indent", [None, 2], ids=["one-line", "indented"])
def test_json_text_is_accepted(indent: int | None) -> None:
    """JSON text of the reference's data loads to the same definition as the YAML file."""
    data = yaml.safe_load(REFERENCE.read_text(encoding="utf-8"))
    assert load_definition(json.dumps(data, indent=indent)) == load_definition(REFERENCE)


def test_path_and_path_string_both_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Path, an absolute path string and a relative path string all load the file."""
    by_path = load_definition(REFERENCE)
    by_string = load_definition(str(REFERENCE))
    monkeypatch.chdir(REFERENCE.parent)
    by_relative = load_definition(REFERENCE.name)
    assert by_path == by_string == by_relative
    assert isinstance(by_path, ProcessDefinition)


def test_problems_name_the_file() -> None:
    """Problems name the path loaded, the ``file`` argument, or ``<string>`` for bare text."""
    path = INVALID / "wrong-type.yaml"
    for source, file, expected in [
        (path, None, str(path)),
        (path, "custom.yaml", "custom.yaml"),
        (path.read_text(encoding="utf-8"), None, "<string>"),
        (path.read_text(encoding="utf-8"), "pasted.yaml", "pasted.yaml"),
    ]:
        with pytest.raises(DefinitionError) as info:
            load_definition(source, file=file)
        assert [p.file for p in info.value.problems] == [expected]
        assert str(info.value).startswith(f"{expected}:3:10: ")


def test_definition_is_frozen() -> None:
    """Assigning to a definition or to any of its parts raises."""
    d = load_definition(REFERENCE)
    with pytest.raises(ValidationError, match="frozen"):
        d.version = 2
    with pytest.raises(ValidationError, match="frozen"):
        d.stages["new"].initial = False
    with pytest.raises(ValidationError, match="frozen"):
        d.transitions[0].to = "won"
    with pytest.raises(ValidationError, match="frozen"):
        d.fields["score"].max = 5
    assert isinstance(d.transitions, tuple)
    assert isinstance(d.transitions[1].guard, tuple)


def test_definition_mappings_are_read_only() -> None:
    """The ``stages`` and ``fields`` mappings of a loaded definition cannot be changed either."""
    d = load_definition(REFERENCE)
    with pytest.raises(TypeError):
        d.stages["limbo"] = d.stages["new"]
    with pytest.raises(TypeError):
        del d.fields["score"]
    assert list(d.stages) == ["new", "contacted", "qualified", "won", "lost"]


# -- the text is not a readable document ---------------------------------------------------------


def test_missing_or_unreadable_file_is_a_definition_error(tmp_path: Path) -> None:
    """A missing file (Path or string) or a directory gives DefinitionError, never OSError."""
    missing = tmp_path / "nope.yaml"
    for source in (missing, str(missing), tmp_path):
        with pytest.raises(DefinitionError) as info:
            load_definition(source)
        (problem,) = info.value.problems
        assert_problem(problem, "unreadable-file", 1, 1)
        assert problem.file == str(source)


def test_yaml_syntax_error() -> None:
    """A YAML syntax error is reported where the parser stopped."""
    problem = only_problem("yaml-syntax.yaml")
    assert_problem(problem, "yaml-syntax", 4, 12, "YAML syntax error", "mapping values")


def test_duplicate_key() -> None:
    """A key repeated in one mapping is refused at the repeat, naming the first line."""
    problem = only_problem("duplicate-key.yaml")
    assert_problem(problem, "duplicate-key", 7, 3, "duplicate key 'new'", "first defined at line 5")


def test_alias_bomb_is_refused_quickly() -> None:
    """A 'billion laughs' document is refused after a bounded amount of work."""
    start = time.perf_counter()
    problem = only_problem("alias-bomb.yaml")
    assert time.perf_counter() - start < 2.0
    assert_problem(problem, "document-too-large", 2, 8, "more than 50000 nodes", "billion laughs")


def test_recursive_alias() -> None:
    """An alias inside the node it names is reported as a recursive alias, at the anchor."""
    problem = only_problem("recursive-alias.yaml")
    assert_problem(problem, "recursive-alias", 4, 9, "alias")
    assert "recursive" in problem.message.lower()


def test_document_over_the_size_limit() -> None:
    """Text over MAX_BYTES is refused before parsing, saying the size and the limit."""
    text = REFERENCE.read_text(encoding="utf-8") + "#" + "x" * MAX_BYTES + "\n"
    with pytest.raises(DefinitionError) as info:
        load_definition(text, file="big.yaml")
    (problem,) = info.value.problems
    assert_problem(problem, "document-too-large", 1, 1, f"{len(text)} bytes", f"{MAX_BYTES}")
    assert problem.file == "big.yaml"


def test_empty_document() -> None:
    """A file with nothing but a comment is reported as empty."""
    problem = only_problem("empty.yaml")
    assert_problem(problem, "empty-document", 1, 1, "empty")
    with pytest.raises(DefinitionError) as info:
        load_definition("")
    assert [p.code for p in info.value.problems] == ["empty-document"]


def test_not_a_mapping() -> None:
    """A document that is a list is refused, listing the keys a definition has."""
    problem = only_problem("not-a-mapping.yaml")
    assert_problem(problem, "not-a-mapping", 2, 1, "mapping", "process", "stages", "transitions")


def test_control_character_is_located_on_one_line() -> None:
    """A character YAML refuses (NUL) is reported at its line and column in a one-line message."""
    with pytest.raises(DefinitionError) as info:
        load_definition("process: demo\nversion: 1\ntitle: De\x00mo\n", file="nul.yaml")
    (problem,) = info.value.problems
    assert_problem(problem, "yaml-syntax", 3, 10, "character")
    assert "\n" not in problem.message


def test_file_not_utf8(tmp_path: Path) -> None:
    """A file that is not UTF-8 is refused at the line of the first bad byte."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"process: demo\nversion: 1\ntitle: D\xe9mo\n")
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    (problem,) = info.value.problems
    assert (problem.code, problem.line) == ("not-utf8", 3)
    assert "UTF-8" in problem.message


def test_lone_surrogates_in_text_are_a_definition_error() -> None:
    """Text with lone surrogates (say, from surrogateescape) is refused with DefinitionError."""
    text = b"process: d\xe9mo\nversion: 1\n".decode("utf-8", errors="surrogateescape")
    with pytest.raises(DefinitionError) as info:
        load_definition(text)
    assert info.value.problems
    assert all(p.line >= 1 and p.column >= 1 for p in info.value.problems)


def test_tag_that_does_not_fit_its_value() -> None:
    """An explicit tag whose value does not fit (``!!int one``) is a located YAML problem."""
    problem = only_problem("bad-tag.yaml")
    assert_problem(problem, "yaml-syntax", 3, 10)


def test_yaml_boolean_words_as_keys_keep_their_spelling() -> None:
    """Keys such as ``on`` and ``yes`` (booleans in YAML 1.1) stay names, not 'True'."""
    text = fixture_text("cel-unknown-field.yaml").replace(
        "  score: {type: integer}\n", "  on: {type: boolean}\n  yes: {type: boolean}\n"
    )
    text = text.replace('"lead.scor >= 60"', '"lead.on && lead.yes"')
    d = load_definition(text)
    assert list(d.fields) == ["on", "yes"]


# -- the data does not fit the models ------------------------------------------------------------


def test_unknown_top_level_key_with_did_you_mean() -> None:
    """An unknown top-level key is reported at the key, with a suggestion and the allowed keys."""
    problems = problems_of("unknown-top-level-key.yaml")
    (problem,) = [p for p in problems if p.code == "unknown-key"]
    assert_problem(
        problem,
        "unknown-key",
        4,
        1,
        "unknown key 'stagse'",
        "(did you mean 'stages'?)",
        "allowed: process, version",
    )


def test_missing_required_key() -> None:
    """A definition without transitions is reported as missing that key."""
    problem = only_problem("missing-transitions.yaml")
    assert_problem(problem, "missing-key", 2, 1, "missing required key 'transitions'")


def test_wrong_type() -> None:
    """A word where an integer belongs is reported at the value, quoting it."""
    problem = only_problem("wrong-type.yaml")
    assert_problem(problem, "invalid-value", 3, 10, "'version'", "integer", "'one'")


def test_boolean_is_not_an_integer() -> None:
    """``version: yes`` (a YAML boolean) is refused, not read as version 1."""
    problem = only_problem("boolean-version.yaml")
    assert_problem(problem, "invalid-value", 3, 10, "'version'", "integer")


def test_values_of_the_wrong_kind_are_named_in_yaml_words() -> None:
    """A word where a mapping or list belongs is reported in YAML words, naming the key once."""
    field, stage, guard = problems_of("wrong-container.yaml")
    assert_problem(field, "invalid-value", 5, 11, "field 'budget'", "mapping")
    assert_problem(stage, "invalid-value", 7, 8, "stage 'new'", "mapping")
    assert_problem(guard, "invalid-value", 15, 12, "transition 'win'", "'guard'", "list")
    for problem in (field, stage, guard):
        assert not [w for w in PYTHON_WORDS if w in problem.message], problem.message
    assert field.message.count("'budget'") == 1, field.message
    assert stage.message.count("'new'") == 1, stage.message


def test_invalid_stage_name() -> None:
    """Stage names with a dash or a space are refused at the key."""
    dash, space = problems_of("invalid-stage-name.yaml")
    assert_problem(dash, "invalid-name", 6, 3, "'follow-up' is not a valid name", "a letter")
    assert_problem(space, "invalid-name", 7, 3, "'next step' is not a valid name")


def test_unknown_key_inside_a_stage() -> None:
    """An unknown key in a stage is reported at the key, with a suggestion and the allowed keys."""
    problem = only_problem("unknown-stage-key.yaml")
    assert_problem(
        problem,
        "unknown-key",
        7,
        5,
        "stage 'new'",
        "unknown key 'probabilty'",
        "(did you mean 'probability'?)",
        "allowed: initial, closed, probability",
        "exit_criteria",
    )


def test_probability_out_of_range() -> None:
    """A probability above 100 is reported at the value, with the bound and the value."""
    problem = only_problem("probability-out-of-range.yaml")
    assert_problem(
        problem, "invalid-value", 7, 18, "stage 'qualified'", "'probability'", "100", "140"
    )


def test_enum_field_without_values() -> None:
    """An enum field without values is reported at the field."""
    problem = only_problem("enum-without-values.yaml")
    assert_problem(problem, "invalid-value", 5, 12, "field 'segment'", "needs 'values'")


def test_min_above_max() -> None:
    """A field whose min is above its max is reported at the field, with both bounds."""
    problem = only_problem("min-above-max.yaml")
    assert_problem(problem, "invalid-value", 5, 10, "field 'score'", "'min' (100)", "'max' (0)")


def test_bounds_must_be_finite_numbers() -> None:
    """``min: .nan`` and ``max: .inf`` are refused on the field's line."""
    problems = problems_of("non-finite-bound.yaml")
    assert all((p.code, p.line) == ("invalid-value", 5) for p in problems), problems
    assert "field 'score'" in problems[0].message


def test_criterion_with_no_kind_or_two_kinds() -> None:
    """A criterion with no kind key, or with two, is reported at the criterion."""
    none, two = problems_of("criterion-kind.yaml")
    words = ("exactly one of field_set, activity, cel, checklist",)
    assert_problem(none, "criterion-kind", 10, 9, "exit criterion 'nothing'", *words)
    assert_problem(two, "criterion-kind", 11, 9, "exit criterion 'both'", *words)


def test_duplicate_criterion_ids() -> None:
    """Two criteria of one transition with the same id are reported at the second id."""
    problem = only_problem("duplicate-criterion-id.yaml")
    assert_problem(problem, "duplicate-id", 18, 14, "transition 'win'", "'check'", "twice")


def test_bad_duration() -> None:
    """``within: 14 days`` is reported at the value, with examples of durations."""
    problem = only_problem("bad-duration.yaml")
    assert_problem(
        problem, "invalid-value", 13, 53, "guard 'called'", "'within'", "'14 days'", "14d"
    )


def test_duration_in_shorthand_is_parsed() -> None:
    """``within: 14d`` loads as fourteen days (the counterpart of the bad-duration fixture)."""
    text = fixture_text("bad-duration.yaml").replace("within: 14 days", "within: 14d")
    (called,) = load_definition(text).transitions[0].guard
    assert isinstance(called, ActivityCriterion)
    assert called.activity.within == timedelta(days=14)


def test_duration_too_long() -> None:
    """A duration too long to represent is a located problem, not an OverflowError."""
    problem = only_problem("huge-duration.yaml")
    assert_problem(problem, "invalid-value", 13, 53, "'within'")


def test_mistake_in_the_only_transition_is_one_problem() -> None:
    """A mistake in the only transition does not add 'transitions has no items' to it."""
    problem = only_problem("only-transition-invalid.yaml")
    assert_problem(problem, "unknown-key", 8, 37, "unknown key 'titel'", "(did you mean 'title'?)")


# -- the structure does not hold together --------------------------------------------------------


def test_unknown_stage_in_to_with_did_you_mean() -> None:
    """A misspelt ``to`` is one problem, the issue's own sentence, with no knock-on problems."""
    problem = only_problem("unknown-stage-to.yaml")
    assert_problem(problem, "unknown-stage", 12, 9)
    assert (
        problem.message
        == "transition 'qualify': unknown stage 'qualifed' (did you mean 'qualified'?)"
    )


def test_unknown_stage_in_from_with_did_you_mean() -> None:
    """A misspelt stage in a ``from`` list is reported at that list item, with a suggestion."""
    problem = only_problem("unknown-stage-from.yaml")
    assert_problem(problem, "unknown-stage", 12, 17)
    assert (
        problem.message == "transition 'win': unknown stage 'qualifed' (did you mean 'qualified'?)"
    )


def test_no_initial_stage() -> None:
    """A definition without an initial stage is reported at ``stages``, listing candidates."""
    problem = only_problem("no-initial-stage.yaml")
    assert_problem(problem, "no-initial-stage", 4, 1, "initial: true", "one of: new")


def test_two_initial_stages() -> None:
    """A second initial stage is reported at its ``initial`` value, naming the first."""
    problem = only_problem("two-initial-stages.yaml")
    assert_problem(problem, "several-initial-stages", 6, 22, "stage 'inbound'", "'new' already is")


def test_no_closed_stage() -> None:
    """A definition without a closed stage is reported at ``stages``."""
    problem = only_problem("no-closed-stage.yaml")
    assert_problem(problem, "no-closed-stage", 4, 1, "no stage is closed", "closed: won")


def test_transition_out_of_a_closed_stage_and_the_reopen_escape() -> None:
    """Leaving a closed stage is refused at ``from``; ``reopen: true`` allows it."""
    problem = only_problem("exit-from-closed-stage.yaml")
    assert_problem(
        problem,
        "exit-from-closed-stage",
        12,
        11,
        "transition 'retry'",
        "closed stage 'lost'",
        "reopen: true",
    )
    reopened = load_definition(fixture_text("exit-from-closed-stage.yaml") + "    reopen: true\n")
    assert reopened.transitions[-1].reopen
    assert reopened.triggers_from("lost") == ("retry",)


def test_reopen_without_a_closed_stage() -> None:
    """``reopen: true`` on a transition that leaves no closed stage is reported at ``reopen``."""
    problem = only_problem("reopen-without-closed-stage.yaml")
    assert_problem(problem, "reopen-without-closed-stage", 11, 13, "transition 'win'", "reopen")


def test_unreachable_stage() -> None:
    """A stage no transition leads into is reported at its key."""
    problem = only_problem("unreachable-stage.yaml")
    assert_problem(problem, "unreachable-stage", 6, 3, "stage 'nurture' cannot be reached", "'new'")


def test_dead_end_stage() -> None:
    """An open stage from which no closed stage can be reached is reported at its key."""
    problem = only_problem("dead-end-stage.yaml")
    assert_problem(problem, "dead-end-stage", 6, 3, "stage 'stuck' is a dead end", "(won)")


def test_unknown_field_in_field_set_and_requires() -> None:
    """Undeclared fields in ``field_set`` and ``requires`` are reported, unless extra: allow."""
    field_set, requires = problems_of("unknown-field.yaml")
    assert_problem(
        field_set,
        "unknown-field",
        11,
        39,
        "criterion 'budget_known'",
        "unknown field 'budgett'",
        "(did you mean 'budget'?)",
    )
    assert_problem(
        requires,
        "unknown-field",
        16,
        50,
        "transition 'lose'",
        "unknown field 'lost_reasn'",
        "(did you mean 'lost_reason'?)",
    )
    allowed = fixture_text("unknown-field.yaml").replace(
        "version: 1\n", "version: 1\nextra: allow\n"
    )
    d = load_definition(allowed)
    assert d.extra == "allow"
    assert d.transitions[1].requires == ("lost_reasn",)


def test_checklist_item_not_in_the_playbook() -> None:
    """A checklist item missing from the stage's playbook is reported at the item."""
    problem = only_problem("unknown-checklist-item.yaml")
    assert_problem(
        problem,
        "unknown-playbook-item",
        15,
        34,
        "'first_cal' is not a playbook item of stage 'new'",
        "(did you mean 'first_call'?)",
    )


def test_cel_syntax_error_points_inside_the_expression() -> None:
    """A CEL syntax error's column is the offending character inside the quoted expression."""
    problem = only_problem("cel-syntax.yaml")
    assert_problem(problem, "cel-syntax", 14, 44, "criterion 'score_ok'", "CEL syntax error")
    assert problem.message.lower().count("syntax error") == 1, problem.message


def test_cel_unknown_variable() -> None:
    """A CEL variable that does not exist is reported at it, listing the variables."""
    problem = only_problem("cel-unknown-variable.yaml")
    assert_problem(
        problem,
        "cel-unknown-variable",
        14,
        44,
        "unknown variable 'threshold'",
        "lead, activities, stage, owner, team, now",
    )


def test_cel_unknown_field() -> None:
    """``lead.scor`` is reported at ``scor`` with a suggestion; extra: allow accepts it."""
    problem = only_problem("cel-unknown-field.yaml")
    assert_problem(problem, "cel-unknown-field", 14, 35, "lead.scor", "(did you mean 'score'?)")
    allowed = fixture_text("cel-unknown-field.yaml").replace(
        "version: 1\n", "version: 1\nextra: allow\n"
    )
    assert load_definition(allowed).extra == "allow"


def test_cel_problems_in_a_block_scalar_point_at_their_line() -> None:
    """Problems on the second line of a ``|`` expression are located on that source line."""
    field, syntax = problems_of("cel-block-scalar.yaml")
    assert_problem(field, "cel-unknown-field", 18, 18, "lead.scor")
    assert_problem(syntax, "cel-syntax", 23, 13, "criterion 'score_max'")


def test_cel_problems_after_escaped_quotes_point_at_the_source() -> None:
    """Columns inside quoted expressions count the escapes as written in the file."""
    single, double = problems_of("cel-escaped-quotes.yaml")
    assert_problem(single, "cel-unknown-field", 15, 60, "criterion 'single'", "lead.scor")
    assert_problem(double, "cel-unknown-field", 16, 60, "criterion 'double'", "lead.scor")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "three-model-mistakes.yaml",
            [("invalid-value", 3, 10), ("invalid-value", 6, 28), ("unknown-key", 10, 43)],
        ),
        (
            "three-check-mistakes.yaml",
            [
                ("several-initial-stages", 8, 24),
                ("unknown-field", 11, 58),
                ("cel-unknown-field", 16, 35),
            ],
        ),
    ],
)
def test_all_problems_are_reported_at_once(name: str, expected: list[tuple[str, int, int]]) -> None:
    """Three independent mistakes give three problems, sorted by line."""
    problems = problems_of(name)
    assert [(p.code, p.line, p.column) for p in problems] == expected


# -- garbage never raises anything but DefinitionError ---------------------------------------------


def assert_loads_or_reports(text: str) -> None:
    """``text`` loads, or raises DefinitionError with located problems; nothing else escapes."""
    try:
        result: ProcessDefinition | tuple[Problem, ...] = load_definition(text)
    except DefinitionError as exc:
        result = exc.problems
    if isinstance(result, ProcessDefinition):
        return
    assert result, "a DefinitionError lists at least one problem"
    assert all(p.line >= 1 and p.column >= 1 for p in result), result


GARBAGE = settings(max_examples=200, deadline=None, database=None)
REFERENCE_TEXT = REFERENCE.read_text(encoding="utf-8")
KEYS = [
    "process",
    "version",
    "title",
    "extra",
    "fields",
    "stages",
    "transitions",
    "type",
    "values",
    "min",
    "max",
    "initial",
    "closed",
    "probability",
    "playbook",
    "exit_criteria",
    "id",
    "message",
    "when",
    "field_set",
    "activity",
    "within",
    "cel",
    "checklist",
    "name",
    "from",
    "to",
    "guard",
    "requires",
    "reopen",
    "new",
    "won",
    "lost",
    "score",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-5, 200)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(
        [*KEYS, "*", "inbound-lead", "enum", "integer", "14d", "lead.score > 1", "lead.scor"]
    )
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=40,
)


@st.composite
def mutated_reference(draw: st.DrawFn) -> str:
    """The reference with one to three random edits: delete, duplicate, indent, swap."""
    text = REFERENCE_TEXT
    for _ in range(draw(st.integers(1, 3))):
        lines = text.splitlines(keepends=True)
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["delete", "duplicate", "indent", "swap"]))
        if edit == "delete":
            del lines[i]
        elif edit == "duplicate":
            lines.insert(i, lines[i])
        elif edit == "indent":
            shift = draw(st.sampled_from([-4, -2, -1, 1, 2, 4]))
            line = lines[i]
            indent = len(line) - len(line.lstrip(" "))
            lines[i] = " " * max(indent + shift, 0) + line.lstrip(" ")
        text = "".join(lines)
        if edit == "swap" and len(text) >= 2:
            a, b = draw(st.integers(0, len(text) - 1)), draw(st.integers(0, len(text) - 1))
            chars = list(text)
            chars[a], chars[b] = chars[b], chars[a]
            text = "".join(chars)
    return text


@GARBAGE
@given(st.text())
def test_garbage_text_never_raises_anything_but_definition_error(text: str) -> None:
    """hypothesis-generated garbage never raises anything but DefinitionError: arbitrary text."""
    assert_loads_or_reports(text)


@GARBAGE
@given(st.binary())
def test_garbage_bytes_never_raise_anything_but_definition_error(data: bytes) -> None:
    """hypothesis-generated garbage never raises anything but DefinitionError: decoded bytes."""
    assert_loads_or_reports(data.decode("utf-8", errors="replace"))


@GARBAGE
@given(DOCUMENTS)
def test_garbage_yaml_never_raises_anything_but_definition_error(document: object) -> None:
    """hypothesis-generated garbage never raises anything but DefinitionError: YAML documents."""
    assert_loads_or_reports(yaml.safe_dump(document))
    assert_loads_or_reports(json.dumps(document))


@GARBAGE
@given(mutated_reference())
def test_mutated_reference_never_raises_anything_but_definition_error(text: str) -> None:
    """hypothesis-generated garbage never raises anything but DefinitionError: edited reference."""
    assert_loads_or_reports(text)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("process: x\nfields:\n\temail: {type: string}\n", "indent with spaces"),
        ("process: x\ntransitions:\n  - {name: lose, from: *, to: lost}\n", 'write "*" in quotes'),
        ("process: x\ntransitions:\n  - name: lose\n    from: *\n", 'write "*" in quotes'),
        ("process: x\ntitle: Call: now\n", "must be in quotes"),
    ],
)
def test_common_yaml_mistakes_get_a_plain_hint(text: str, hint: str) -> None:
    """Tabs, a bare ``*`` and an unquoted ``: `` inside a value come with a hint in words."""
    with pytest.raises(DefinitionError) as info:
        load_definition(text, file="p.yaml")
    (problem,) = info.value.problems
    assert problem.code == "yaml-syntax"
    assert hint in problem.message


# -- whole numbers within what storage holds ------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        pytest.param(
            "version: 1",
            "version: 99999999999",
            "definition: 'version'",
            "must be at most 2147483647, got 99999999999",
            id="version",
        ),
        pytest.param(
            "activity: {type: call, min: 1}",
            "activity: {type: call, min: 10000000000000000000000000000000000000000}",
            "'min'",
            "must be at most 2147483647",
            id="activity-min",
        ),
    ],
)
def test_whole_numbers_beyond_storage_are_located_problems(
    old: str, new: str, where: str, message: str
) -> None:
    """A version or count larger than a storage integer is a located problem, not a deploy crash."""
    text = REFERENCE.read_text(encoding="utf-8")
    assert old in text
    with pytest.raises(DefinitionError) as info:
        load_definition(text.replace(old, new, 1), file="big.yaml")
    (problem,) = info.value.problems
    assert problem.file == "big.yaml"
    assert problem.line > 1
    assert where in problem.message
    assert message in problem.message


# -- every mistake at once -------------------------------------------------------------------------

ONE_PASS = """\
process: one-pass
version: 1
fields:
  email: {type: string, required: true, mni: 3}
  score: {type: integer, min: 0, max: 100}
  score: {type: integer}
  budget: {type: number}
  budget: {type: number}
stages:
  new:
    initial: true
    exit_criteria:
      - {id: x, field_is_set: email, message: m}
      - {id: y, field_set: email, cel: "true", message: m}
  contacted: {}
  won: {closed: won}
transitions:
  - {name: contact, from: new, to: contacted}
  - {name: win, from: contacted, to: wonn}
"""


def test_schema_and_structural_problems_come_in_one_pass() -> None:
    """An unknown key no longer hides the file's other problems: every duplicate key, the
    unknown criterion word and the unknown stage are reported together, in file order."""
    with pytest.raises(DefinitionError) as info:
        load_definition(ONE_PASS, file="one.yaml")
    found = [(p.line, p.column, p.code) for p in info.value.problems]
    assert found == [
        (4, 41, "unknown-key"),
        (6, 3, "duplicate-key"),
        (8, 3, "duplicate-key"),
        (13, 17, "criterion-kind"),
        (14, 9, "criterion-kind"),
        (19, 38, "unknown-stage"),
    ]
    messages = [p.message for p in info.value.problems]
    assert "unknown key 'mni' (did you mean 'min'?)" in messages[0]
    assert messages[3] == (
        "stage 'new' exit criterion 'x': unknown key 'field_is_set' (did you mean 'field_set'?); "
        "a criterion needs exactly one of field_set, activity, cel, checklist (plus id and message)"
    )
    assert messages[4].startswith("stage 'new' exit criterion 'y': has 'field_set' and 'cel'; ")
    assert "unknown stage 'wonn' (did you mean 'won'?)" in messages[5]


def test_every_duplicate_key_is_reported_by_the_parser() -> None:
    """``parse_document`` raises with every duplicate key, not only the first."""
    from leadflow.definitions.yaml_source import SourceError, parse_document

    with pytest.raises(SourceError) as info:
        parse_document("a: 1\na: 2\nb: 1\nb: 2\nb: 3\n", "dup.yaml")
    assert [(p.line, p.code) for p in info.value.problems] == [
        (2, "duplicate-key"),
        (4, "duplicate-key"),
        (5, "duplicate-key"),
    ]


# -- CEL type mismatches that make a criterion constant ---------------------------------------


@pytest.mark.parametrize(
    ("expression", "always"),
    [
        ('lead.score >= "sixty"', "never"),
        ('lead.score == "60"', "never"),
        ('lead.score != "60"', "always"),
        ('!(lead.score == "60")', "always"),
        ('has(lead.budget) && lead.score >= "sixty"', "never"),
        ('lead.score != "60" || lead.score > 5', "always"),
    ],
)
def test_a_type_mismatch_that_makes_a_criterion_constant_is_a_load_error(
    expression: str, always: str
) -> None:
    """``lead.score >= "sixty"`` used to validate, deploy and never be met: it does not load,
    and the problem points at the literal."""
    text = REFERENCE.read_text(encoding="utf-8")
    edited = text.replace("lead.score >= 60", expression.replace('"', '\\"'), 1)
    with pytest.raises(DefinitionError) as info:
        load_definition(edited, file="r.yaml")
    (problem,) = info.value.problems
    assert problem.code == "cel-type-constant"
    assert problem.message.startswith("transition 'qualify' guard 'score_ok': lead.score is an ")
    assert problem.message.endswith(f"; the criterion would {always} be met")
    line = edited.splitlines()[problem.line - 1]
    assert line[problem.column - 1 :].startswith('\\"')  # the literal, escaped in YAML


@pytest.mark.parametrize(
    "expression", ['lead.score == "60" || lead.score > 5', 'lead.score != "5" && lead.score > 5']
)
def test_a_mismatch_that_leaves_the_criterion_live_stays_lint(expression: str) -> None:
    """A mismatch inside an ``||`` with a live part (or a true ``!=`` and-ed) loads; LF101
    reports it."""
    text = REFERENCE.read_text(encoding="utf-8")
    load_definition(text.replace("lead.score >= 60", expression.replace('"', '\\"'), 1))


# -- forecast categories ------------------------------------------------------------------------


def test_forecast_category_defaults_from_probability() -> None:
    """Without ``forecast_category``: closed stages are closed, probability 80+ commit, 50+ best
    case, the rest (no probability too) pipeline."""
    stages = load_definition("b2b-opportunity").stages
    assert {n: s.category for n, s in stages.items()} == {
        "prospecting": "pipeline",
        "qualification": "pipeline",
        "needs_analysis": "pipeline",
        "proposal": "best_case",
        "negotiation": "commit",
        "won": "closed",
        "lost": "closed",
    }
    assert all(s.forecast_category is None for s in stages.values())


def located_problems(path: Path, text: str) -> list[tuple[int | None, str]]:
    """The (line, message) of each problem loading ``text`` from ``path`` finds, by line."""
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    return sorted(((p.line, p.message) for p in info.value.problems), key=lambda x: x[0] or 0)


def test_forecast_category_mistakes_are_located(tmp_path: Path) -> None:
    """An unknown category, a closed stage in another category and an open stage marked closed
    are each reported at their place, all at once; a given category beats the probability."""
    text = library_path("b2b-opportunity").read_text(encoding="utf-8")
    text = text.replace(
        "    probability: 10\n", "    probability: 10\n    forecast_category: commit\n"
    )
    text = text.replace(
        "    probability: 60\n", "    probability: 60\n    forecast_category: best_cse\n"
    )
    text = text.replace(
        "    probability: 80\n", "    probability: 80\n    forecast_category: closed\n"
    )
    text = text.replace("{closed: lost, ", "{closed: lost, forecast_category: pipeline, ")
    path = tmp_path / "categories.yaml"
    found = located_problems(path, text)
    assert len(found) == 3, found
    assert "'best_cse' is not allowed for 'forecast_category'" in found[0][1]
    assert "'best_case'" in found[0][1]
    assert "stage 'negotiation'" in found[1][1]
    assert "'closed' is for closed stages" in found[1][1]
    assert "stage 'lost'" in found[2][1]
    assert "a closed stage is in the 'closed' category, not 'pipeline'" in found[2][1]
    good = text.replace("    forecast_category: best_cse\n", "").replace(
        "    forecast_category: closed\n", ""
    )
    path.write_text(good.replace("forecast_category: pipeline, ", ""), encoding="utf-8")
    assert load_definition(path).stages["prospecting"].category == "commit"


# -- rotting thresholds -------------------------------------------------------------------------


def test_rotting_after_defaults_to_14_days_and_bad_values_are_located(tmp_path: Path) -> None:
    """``rotting_after`` is a stage's own threshold (14 days when absent); a zero or unreadable
    duration fails to load at its line, naming the units allowed."""
    text = library_path("b2b-opportunity").read_text(encoding="utf-8")
    stages = load_definition(text).stages
    assert stages["prospecting"].rots_after == timedelta(days=14)
    given = text.replace("    probability: 10\n", "    probability: 10\n    rotting_after: 3d\n")
    assert load_definition(given).stages["prospecting"].rots_after == timedelta(days=3)
    bad = text.replace("    probability: 10\n", "    probability: 10\n    rotting_after: 0d\n")
    bad = bad.replace("    probability: 60\n", "    probability: 60\n    rotting_after: soon\n")
    found = located_problems(tmp_path / "rotting.yaml", bad)
    assert len(found) == 2, found
    lines = bad.splitlines()
    assert "rotting_after: 0d" in lines[found[0][0] - 1]
    assert "longer than zero" in found[0][1]
    assert "rotting_after: soon" in lines[found[1][0] - 1]
    assert "14d" in found[1][1]
