"""CEL expressions: which lead fields they read, and what check_expression reports about them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leadflow.definitions.expressions import (
    CEL_VARIABLES,
    CelIssue,
    FieldReference,
    accessed_keys,
    check_expression,
    compile_expression,
    field_references,
)

FIELDS = {"score", "segment", "budget", "tags"}


def refs(expression: str) -> list[tuple[str, int]]:
    return [(r.name, r.offset) for r in field_references(expression)]


# -- field_references ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("lead.score", [("score", 5)]),
        ("lead . score", [("score", 7)]),
        ('lead["score"]', [("score", 5)]),
        ("lead['score']", [("score", 5)]),
        ('lead[r"score"]', [("score", 5)]),
        ("has(lead.score)", [("score", 9)]),
        ("!has(lead.budget) || lead.budget > 0", [("budget", 10), ("budget", 26)]),
        ("lead.score > 1 && lead.segment == 'smb'", [("score", 5), ("segment", 23)]),
        ("size(lead.tags) > 0 && lead.tags[0] == 'a'", [("tags", 10), ("tags", 28)]),
        ("lead.score.value", [("score", 5)]),
    ],
)
def test_field_references_finds_dot_index_and_has(
    expression: str, expected: list[tuple[str, int]]
) -> None:
    """``lead.x``, ``lead["x"]`` and ``has(lead.x)`` are found, in order, with their offsets."""
    assert refs(expression) == expected
    assert all(isinstance(r, FieldReference) for r in field_references(expression))


@pytest.mark.parametrize(
    "expression",
    [
        '"lead.a" == lead.score',
        "'lead.a' == lead.score",
        '"""lead.a""" == lead.score',
        "'''lead.a ' \" ''' == lead.score",
        'r"lead.a\\" == lead.score',
        "R'lead.a' == lead.score",
        'b"lead.a" == b"" && lead.score > 0',
        '"it\\"s lead.a" == lead.score',
        "'it\\'s lead.a' == lead.score",
        '"""a "quoted" lead.a""" == lead.score',
    ],
)
def test_field_references_ignores_string_literals(expression: str) -> None:
    """``lead.x`` inside single, double, triple-quoted, raw or bytes literals is not a reference."""
    assert [r.name for r in field_references(expression)] == ["score"]
    compile_expression(expression)  # each case is valid CEL


@pytest.mark.parametrize(
    "expression",
    ["other.lead.score", "a.b.lead.score", "mylead.score", "leads.score", "lead", "lead[x]"],
)
def test_field_references_ignores_other_leads_and_dynamic_keys(expression: str) -> None:
    """``other.lead.x``, look-alike names and non-literal keys are not field references."""
    assert field_references(expression) == []


def test_field_references_skips_keys_with_escapes() -> None:
    """A key literal with escapes is not guessed at (no false field name is reported)."""
    assert field_references('lead["a\\nb"] == 1') == []


# -- check_expression ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "offset"),
    [
        ("lead.score >= = 60", 14),
        ("lead.score >=", 13),
        ("(lead.score", 11),
        ("lead.score > 1 &&& lead.budget", 17),
    ],
)
def test_syntax_error_has_an_offset(expression: str, offset: int) -> None:
    """A syntax error is one cel-syntax issue at the 0-based offset CEL points at."""
    program, issues = check_expression(expression, FIELDS)
    assert program is None
    assert [(i.code, i.offset) for i in issues] == [("cel-syntax", offset)]
    assert issues[0].message.startswith("CEL syntax error: ")
    with pytest.raises(ValueError, match="Syntax error"):
        compile_expression(expression)


def test_syntax_error_on_a_later_line_counts_the_lines_before_it() -> None:
    """The offset of a syntax error on line 2 of an expression includes line 1."""
    expression = "lead.score > 1 &&\n  = 1"
    _, issues = check_expression(expression, FIELDS)
    assert [(i.code, i.offset) for i in issues] == [("cel-syntax", expression.index("="))]


def test_unknown_variable_is_reported_with_its_offset() -> None:
    """A variable that is not lead/activities/stage/owner/now is reported where it is used."""
    program, issues = check_expression("lead.score >= threshold", FIELDS)
    assert program is None
    assert issues == [
        CelIssue(
            "unknown variable 'threshold' in CEL expression "
            "(available: lead, activities, stage, owner, team, now)",
            "cel-unknown-variable",
            14,
        )
    ]


def test_unknown_variable_offset_is_not_a_field_of_the_same_name() -> None:
    """The offset of unknown variable ``score`` is the variable, not ``lead.score`` after it."""
    _, issues = check_expression("score > 1 && lead.score > 1", FIELDS)
    assert [(i.code, i.offset) for i in issues] == [("cel-unknown-variable", 0)]


@pytest.mark.parametrize(
    "expression",
    [
        'lead.tags.exists(t, t == "vip")',
        'lead.tags.all(t, t != "")',
        'lead.tags.exists_one(t, t == "vip")',
        'lead.tags.filter(t, t.startsWith("v")).size() > 0',
        'lead.tags.map(t, t + "!").size() > 0',
    ],
)
def test_macro_loop_variables_are_not_unknown_variables(expression: str) -> None:
    """The variable a comprehension macro binds (``t`` in ``exists(t, ...)``) is accepted."""
    program, issues = check_expression(expression, FIELDS)
    assert issues == []
    assert program.execute({"lead": {"tags": ["vip", "x"]}}) is True


@pytest.mark.parametrize(
    ("expression", "name", "offset", "hint"),
    [
        ("lead.scor >= 60", "scor", 5, " (did you mean 'score'?)"),
        ('lead["scor"] >= 60', "scor", 5, " (did you mean 'score'?)"),
        ("has(lead.budgt)", "budgt", 9, " (did you mean 'budget'?)"),
        ("lead.score > 1 && lead.zzz == 2", "zzz", 23, ""),
    ],
)
def test_unknown_field_is_reported_with_a_suggestion(
    expression: str, name: str, offset: int, hint: str
) -> None:
    """A lead field that is not declared is reported at its name, with a did-you-mean."""
    program, issues = check_expression(expression, FIELDS)
    assert program is None
    assert issues == [
        CelIssue(
            f"CEL expression reads lead.{name}, which is not a declared field{hint}",
            "cel-unknown-field",
            offset,
        )
    ]


def test_unknown_fields_are_accepted_when_allowed() -> None:
    """With allow_unknown_fields, undeclared lead fields are fine but unknown variables are not."""
    program, issues = check_expression("lead.scor >= 60", FIELDS, allow_unknown_fields=True)
    assert issues == []
    assert program is not None
    _, issues = check_expression("x > lead.scor", FIELDS, allow_unknown_fields=True)
    assert [i.code for i in issues] == ["cel-unknown-variable"]


def test_fields_may_be_a_mapping() -> None:
    """``fields`` may be the definition's field mapping as well as a set of names."""
    program, issues = check_expression("lead.score > 1", {"score": object()})
    assert issues == []
    assert program is not None


def test_several_issues_are_all_reported() -> None:
    """An unknown variable and two unknown fields give three issues."""
    _, issues = check_expression("x > 1 && lead.a > 1 && lead.b > 1", FIELDS)
    assert sorted(i.code for i in issues) == [
        "cel-unknown-field",
        "cel-unknown-field",
        "cel-unknown-variable",
    ]


@pytest.mark.parametrize(
    ("expression", "data", "expected"),
    [
        ("lead.score >= 60", {"lead": {"score": 60}}, True),
        ("lead.score >= 60", {"lead": {"score": 59}}, False),
        ('lead["segment"] in ["smb", "mid_market"]', {"lead": {"segment": "smb"}}, True),
        ("has(lead.budget)", {"lead": {}}, False),
        ("activities.call >= 2", {"activities": {"call": 3}}, True),
        ('stage == "new" && owner == null', {"stage": "new", "owner": None}, True),
        (
            'now > timestamp("2020-01-01T00:00:00Z")',
            {"now": datetime(2024, 1, 1, tzinfo=UTC)},
            True,
        ),
    ],
)
def test_valid_expression_returns_a_program_that_evaluates(
    expression: str, data: dict[str, object], expected: bool
) -> None:
    """A valid expression has no issues and its program evaluates over the CEL variables."""
    program, issues = check_expression(expression, FIELDS)
    assert issues == []
    assert program.execute(data) is expected


def test_cel_variables_are_the_documented_five() -> None:
    """Expressions may use exactly lead, activities, stage, owner and now."""
    assert list(CEL_VARIABLES) == ["lead", "activities", "stage", "owner", "team", "now"]
    assert all(CEL_VARIABLES.values())


@pytest.mark.parametrize(
    ("expression", "keys"),
    [
        ("lead.score >= 60", ("score",)),
        ('has(lead.budget) && lead["score"] > 1 && lead.score < 9', ("budget", "score")),
        ("lead.tags.exists(t, t == 'vip')", ("tags",)),
        ("size(lead) > 2", None),
        ("lead.exists(k, k == 'score')", None),
        ("'score' in lead", None),
        ("stage == 'new'", ()),
    ],
)
def test_accessed_keys_lists_keys_only_when_the_map_is_only_indexed(
    expression: str, keys: tuple[str, ...] | None
) -> None:
    """An expression that only reads keys of ``lead`` names them; any other use of the map
    gives None, so the engine then hands CEL the whole map."""
    assert accessed_keys(expression, "lead") == keys


@pytest.mark.parametrize(
    "expression",
    [
        "lead.score >= 60 && has(lead.budget)",
        "size(lead) == 3",
        "lead.exists(k, k == 'budget')",
        "'email' in lead && lead.score > 1",
    ],
)
def test_evaluating_with_the_accessed_keys_only_gives_the_same_result(expression: str) -> None:
    """Evaluating with only the accessed keys equals evaluating with the whole lead."""
    lead = {"score": 70, "budget": 10.5, "email": "a@b.c"}
    program = compile_expression(expression)
    keys = accessed_keys(expression, "lead")
    small = lead if keys is None else {k: lead[k] for k in keys if k in lead}
    assert program.execute({"lead": small}) == program.execute({"lead": lead})
