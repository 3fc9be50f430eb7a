"""Lint rules, suppressions and positions, beyond the documented examples (test_lint_docs.py)."""

from __future__ import annotations

import re
from pathlib import Path

import cel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.definitions import DefinitionError, library_path, load_definition
from leadflow.definitions._lint import RULES, LintFinding, find_rule, lint, lint_source
from leadflow.definitions._lint_model import LintSettings, Suppression
from leadflow.definitions._lint_rules_cel import never_holds
from leadflow.definitions._lint_rules_celparse import parse
from leadflow.definitions._model import FieldSpec, FieldType

DEFINITIONS = Path(__file__).parent
LINT_DIR = DEFINITIONS / "lint"


def codes(findings: list[LintFinding]) -> list[str]:
    """The codes of ``findings``, in their order."""
    return [f.code for f in findings]


def guarded(cel_text: str, fields: str = "score: {type: integer, min: 0, max: 100}") -> str:
    """A small clean process whose `win` transition has the guard ``cel_text``, plus a way out."""
    return f"""
process: demo
version: 1
fields:
  {fields}
stages:
  new: {{initial: true}}
  won: {{closed: won}}
transitions:
  - name: win
    from: new
    to: won
    guard: [{{id: g, cel: '{cel_text}', message: m}}]
  - {{name: skip, from: new, to: won}}
"""


# -- the registry ------------------------------------------------------------------------------


def test_rule_codes_and_names_are_unique_and_well_formed() -> None:
    """Every rule has a unique LFnnn code, a unique kebab-case name, a title and a docstring."""
    assert len({r.code for r in RULES}) == len(RULES)
    assert len({r.name for r in RULES}) == len(RULES)
    for r in RULES:
        assert re.fullmatch(r"LF\d{3}", r.code)
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", r.name)
        assert r.severity in ("error", "warning", "info")
        assert r.title
        assert r.doc
    assert [r.code for r in RULES] == sorted(r.code for r in RULES)


def test_find_rule_by_code_or_name_in_any_case() -> None:
    """A rule is found by its code in any case or by its name; anything else gives None."""
    assert find_rule("LF205") is find_rule("lf205") is find_rule("lost-without-reason")
    assert find_rule("LF999") is None
    assert find_rule("lost-reason") is None


# -- clean definitions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["b2b-opportunity", "buyer-journey", "inbound-lead", "social-selling"]
)
def test_shipped_processes_have_no_warnings(name: str) -> None:
    """The shipped library processes lint without errors or warnings (info at most)."""
    result = lint_source(library_path(name))
    assert [str(f) for f in result.findings if f.severity != "info"] == []


def test_lint_without_source_has_no_position() -> None:
    """A definition linted without its source gives findings with a path but no file or line."""
    definition = load_definition(guarded('lead.score == "5"'))
    findings = lint(definition)
    assert codes(findings) == ["LF101"]
    assert findings[0].file is None
    assert findings[0].line is None
    assert findings[0].path == ("transitions", 0, "guard", 0, "cel")
    assert str(findings[0]).startswith("LF101 [error] transition 'win' guard 'g'")


def test_cel_finding_points_at_the_literal() -> None:
    """A CEL finding's line and column point at the offending literal inside the expression."""
    text = guarded('lead.score >= 1 && lead.score == "5"')
    (finding,) = lint_source(text, file="p.yaml").findings
    line = text.splitlines()[finding.line - 1]
    assert finding.file == "p.yaml"
    assert line[finding.column - 1 :].startswith('"5"')


def test_as_dict_has_the_doc_anchor() -> None:
    """A finding's JSON form names its rule, severity, position and documentation anchor."""
    (finding,) = lint_source(guarded('lead.score == "5"'), file="p.yaml").findings
    data = finding.as_dict()
    assert data["code"] == "LF101"
    assert data["name"] == "cel-type-mismatch"
    assert data["doc"] == "docs/lint.md#lf101-cel-type-mismatch"
    assert (data["file"], data["severity"]) == ("p.yaml", "error")


# -- CEL rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "fields", "expected"),
    [
        ("lead.score >= 60", "score: {type: integer}", []),
        ("lead.score >= 60.5", "score: {type: integer}", []),
        ("lead.budget > 1000", "budget: {type: number}", []),
        ('lead.score == "60"', "score: {type: integer}", ["LF101"]),
        ('"60" == lead.score', "score: {type: integer}", ["LF101"]),
        ("lead.name == 5", "name: {type: string}", ["LF101"]),
        ('lead.vip == "true"', "vip: {type: boolean}", ["LF101"]),
        ('lead.on < "2024-01-01"', "on: {type: date}", ["LF101"]),
        ('lead.on < timestamp("2024-01-01T00:00:00Z")', "on: {type: date}", []),
        ('lead.seg in ["smb", "ent"]', "seg: {type: enum, values: [smb, ent]}", []),
        ('lead.seg in ["smb", "mid"]', "seg: {type: enum, values: [smb, ent]}", ["LF102"]),
        ('lead.seg != "SMB"', "seg: {type: enum, values: [smb, ent]}", ["LF102"]),
        ('"vip" in lead.tags', "tags: {type: list, items: string}", []),
        ("3 in lead.tags", "tags: {type: list, items: string}", ["LF101"]),
        ("size(lead.name) > 3", "name: {type: string}", []),
        ('lead.name.startsWith("A")', "name: {type: string}", []),
        ("lead.score + 1 > 5", "score: {type: integer}", []),
        ("has(lead.score) && lead.score == null", "score: {type: integer}", []),
    ],
)
def test_type_and_enum_checks(expression: str, fields: str, expected: list[str]) -> None:
    """Comparisons of a field with a literal are checked against its type and enum values;
    anything else (calls, arithmetic, null) is left alone."""
    result = lint_source(guarded(expression.replace("'", "''"), fields))
    assert codes(result.findings) == expected, [str(f) for f in result.findings]


def test_not_equal_across_types_says_always_true() -> None:
    """``!=`` against another type is reported as always true, ordering as failing."""
    (ne,) = lint_source(guarded('lead.score != "5"')).findings
    (lt,) = lint_source(guarded('lead.score < "5"')).findings
    assert "always true" in ne.message
    assert "evaluating it fails" in lt.message


def test_unknown_fields_with_extra_allow_are_left_alone() -> None:
    """Fields not declared (``extra: allow``) have no type to check against."""
    text = guarded('lead.other == "x" && lead.other > 3').replace(
        "version: 1", "version: 1\nextra: allow"
    )
    assert codes(lint_source(text).findings) == ["LF402"]  # score itself is unused


@pytest.mark.parametrize(
    ("expression", "never"),
    [
        ("lead.score > 100", True),
        ("lead.score < 0", True),
        ("lead.score >= 100", False),
        ("lead.score > 5 && lead.score < 6", True),
        ("lead.score >= 5 && lead.score <= 5", False),
        ("lead.score == 5 && lead.score == 6", True),
        ("lead.score in [101, 102]", True),
        ("lead.score in [5, 101] && lead.score != 5", True),
        ("lead.score > 200 || lead.score < -1", True),
        ("lead.score > 200 || lead.score < 1", False),
        ("(lead.score > 50 && lead.score < 40) || false", True),
        ("!(lead.score > 200)", False),
        ("lead.score > 50 ? true : false", False),
    ],
)
def test_never_holds_on_an_integer_field(expression: str, never: bool) -> None:
    """Conjunctions and alternatives of comparisons are decided against the field's bounds."""
    fields = {"score": FieldSpec(type=FieldType.INTEGER, min=0, max=100)}
    assert bool(never_holds(expression, fields)) is never


def test_never_holds_on_number_and_text_fields() -> None:
    """Number fields keep strict bounds exact; text equalities contradict; unparsed text is open."""
    number = {"x": FieldSpec(type=FieldType.NUMBER)}
    assert never_holds("lead.x > 5 && lead.x < 5.5", number) is None
    assert never_holds("lead.x > 5 && lead.x < 5", number)
    text = {"s": FieldSpec(type=FieldType.STRING)}
    assert never_holds('lead.s == "a" && lead.s == "b"', text)
    assert never_holds('lead.s == "a" && lead.s != "a"', text)
    assert never_holds("lead.s == @", text) is None


_OPS = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(_OPS, st.integers(-6, 6)), min_size=1, max_size=4),
    st.one_of(st.none(), st.integers(-4, 0)),
    st.one_of(st.none(), st.integers(0, 4)),
)
def test_never_holds_is_exact_for_integer_conjunctions(
    comparisons: list[tuple[str, int]], low: int | None, high: int | None
) -> None:
    """For a conjunction of integer comparisons, lint says "never" exactly when no integer within
    the field's bounds satisfies it under CEL itself."""
    expression = " && ".join(f"lead.n {op} {value}" for op, value in comparisons)
    spec = FieldSpec(type=FieldType.INTEGER, min=low, max=high)
    program = cel.compile(expression)
    lo = low if low is not None else -20
    hi = high if high is not None else 20
    satisfiable = any(program.execute({"lead": {"n": v}}) for v in range(lo, hi + 1))
    assert bool(never_holds(expression, {"n": spec})) is (not satisfiable), expression


def test_parser_gives_up_on_syntax_it_does_not_know() -> None:
    """Text the small parser cannot read gives None (lint then stays silent about it)."""
    assert parse("lead.a == 1 1") is None
    assert parse("lead.a == `x`") is None
    assert parse('lead["a b"] == 1') is not None


# -- stage and transition rules ----------------------------------------------------------------


def test_shadowed_transition_from_star_names_the_stages() -> None:
    """A later same-trigger transition needing more than an earlier unguarded one is reported
    with the stages it is shadowed in; a guard on the earlier one clears it."""
    findings = lint_source(LINT_DIR / "shadowed.yaml").findings
    (finding,) = [f for f in findings if f.code == "LF201"]
    assert "never taken from new, working" in finding.message
    assert finding.line == 20


def test_backward_transitions_skip_exit_criteria_when_comparing() -> None:
    """A backward transition, which skips exit criteria, shadows a later forward one with the
    same trigger; the reverse order is fine when the stage has exit criteria."""
    text = """
process: demo
version: 1
fields:
  note: {type: string}
stages:
  new: {initial: true}
  working:
    exit_criteria: [{id: noted, field_set: note, message: Write a note}]
  won: {closed: won}
transitions:
  - {name: start, from: new, to: working}
  - {name: move, from: working, to: new, backward: true}
  - {name: move, from: working, to: won}
"""
    assert codes(lint_source(text).findings) == ["LF201"]
    swapped = text.replace(
        "  - {name: move, from: working, to: new, backward: true}\n", ""
    ).replace(
        "  - {name: move, from: working, to: won}\n",
        "  - {name: move, from: working, to: won}\n"
        "  - {name: move, from: working, to: new, backward: true}\n",
    )
    assert lint_source(swapped).findings == []


def test_probability_rules_ignore_lost_stages() -> None:
    """A lost stage at 0% does not count as a fall, and needs no probability rise."""
    text = (DEFINITIONS / "lint" / "probabilities.yaml").read_text()
    findings = lint_source(text).findings
    assert codes(findings) == ["LF204"]
    assert (
        "stage 'negotiation' has probability 30%, below the 60% of 'proposal'"
        in findings[0].message
    )


SIDE_STAGE = """
process: rhythm
version: 1
fields:
  lost_reason: {type: enum, values: [no_fit]}
stages:
  new: {initial: true, probability: 10}
  qualified: {probability: 40}
  won: {closed: won, probability: 100}
  lost: {closed: lost, probability: 0}
  nurture: {probability: 5}
transitions:
  - {name: qualify, from: new, to: qualified}
  - {name: win, from: qualified, to: won}
  - {name: lose, from: "*", to: lost, requires: [lost_reason]}
  - {name: park, from: [new, qualified], to: nurture}
  - {name: wake, from: nurture, to: new, backward: true}
"""


def test_a_side_stage_listed_after_the_won_stage_is_not_on_the_main_path() -> None:
    """The layout LF204's advice describes (a low-probability side stage after the won stage)
    passes; listed before the won stage, it is a fall along the main path."""
    assert "LF204" not in codes(lint_source(SIDE_STAGE).findings)
    moved = SIDE_STAGE.replace("  nurture: {probability: 5}\n", "").replace(
        "  won: {closed: won", "  nurture: {probability: 5}\n  won: {closed: won"
    )
    findings = [f for f in lint_source(moved).findings if f.code == "LF204"]
    assert len(findings) == 1
    assert "list side stages after the won stage" in findings[0].message


# -- SLA rules ---------------------------------------------------------------------------------


def test_sla_on_every_open_stage_checks_each() -> None:
    """An SLA on ``*`` checks the fired trigger against every open stage."""
    findings = lint_source(LINT_DIR / "sla-star.yaml").findings
    assert codes(findings) == ["LF301"]
    assert "not allowed from contacted" in findings[0].message


def test_speed_fixture_reports_its_unmapped_stage() -> None:
    """The SLA fixture maps every stage but 'waiting' for HubSpot: LF401 names it."""
    findings = lint_source(DEFINITIONS / "sla" / "speed.yaml").findings
    warnings = [f for f in findings if f.severity != "info"]
    assert codes(warnings) == ["LF401"]
    assert "but not waiting" in warnings[0].message


# -- suppressions ------------------------------------------------------------------------------


def test_suppression_by_name_silences_the_code() -> None:
    """A suppression naming the rule by its name silences its findings."""
    text = guarded('lead.score == "5"').replace(
        "stages:", "lint:\n  ignore:\n    - {code: cel-type-mismatch, reason: legacy}\nstages:", 1
    )
    assert lint_source(text).findings == []


def test_settings_argument_applies_like_the_section() -> None:
    """``lint(definition, settings=...)`` applies suppressions given in Python."""
    definition = load_definition(guarded('lead.score == "5"'))
    quiet = LintSettings(ignore=(Suppression(code="LF101", reason="known"),))
    assert lint(definition, settings=quiet) == []
    bare = LintSettings(ignore=(Suppression(code="LF101", reason="  "),))
    assert codes(lint(definition, settings=bare)) == ["LF001"]


def test_bad_lint_section_is_a_located_load_error() -> None:
    """A malformed lint section refuses the file with a located problem, changing nothing."""
    text = guarded("lead.score > 1").replace(
        "stages:", "lint:\n  ignore:\n    - {cod: LF101}\nstages:", 1
    )
    with pytest.raises(DefinitionError) as info:
        lint_source(text, file="p.yaml")
    messages = [str(p) for p in info.value.problems]
    # the typo explains the missing key, so the loader reports the typo alone
    assert messages == [
        "p.yaml:8:8: lint.ignore.0: unknown key 'cod' (did you mean 'code'?) "
        "(allowed: code, reason)",
    ]


def test_definition_that_does_not_load_raises() -> None:
    """lint_source refuses what load_definition refuses, with the same problems."""
    path = DEFINITIONS / "invalid" / "unknown-field.yaml"
    with pytest.raises(DefinitionError) as linted:
        lint_source(path)
    with pytest.raises(DefinitionError) as loaded:
        load_definition(path)
    assert linted.value.problems == loaded.value.problems


def test_missing_file_is_unreadable() -> None:
    """A path that names no file is reported as such."""
    with pytest.raises(DefinitionError) as info:
        lint_source("no-such-file.yaml")
    assert info.value.problems[0].code == "unreadable-file"
