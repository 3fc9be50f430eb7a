"""The ``access:`` section of the definition language: models, load checks, lint rules, schema
and the documented example."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from leadflow.definitions import (
    ACCESS_VERBS,
    BUILTIN_ROLES,
    AccessSpec,
    DefinitionError,
    ProcessDefinition,
    RoleRule,
    SharingRule,
    json_schema,
    load_definition,
)
from leadflow.definitions._lint import lint_source

HERE = Path(__file__).parent
EXAMPLE = HERE / "access" / "partner-leads.yaml"
DOCS = HERE.parents[1] / "docs" / "definition-language.md"
LINES = EXAMPLE.read_text(encoding="utf-8").splitlines()

BASE = """\
process: demo
version: 1
fields:
  budget: {type: number}
  amount: {type: number}
  segment: {type: enum, values: [smb, enterprise]}
stages:
  new: {initial: true}
  contacted: {exit_criteria: [{id: priced, field_set: amount, message: Set the amount}]}
  won: {closed: won}
transitions:
  - {name: contact, from: new, to: contacted}
  - {name: win, from: contacted, to: won, guard: [{id: sized, cel: "lead.budget > 0 && \
      lead.segment != 'smb'", message: Size the deal}]}
"""


def edited(edits: dict[int, str]) -> str:
    """The example process with the given 1-based lines replaced."""
    lines = list(LINES)
    for number, text in edits.items():
        lines[number - 1] = text
    return "\n".join(lines) + "\n"


def problems(text: str) -> list[str]:
    """Every problem loading ``text`` reports, as ``file:line:col: message``."""
    with pytest.raises(DefinitionError) as info:
        load_definition(text, file="process.yaml")
    return [str(p) for p in info.value.problems]


def lint_codes(text: str) -> list[str]:
    """The lint codes ``text`` yields, in order."""
    return [f.code for f in lint_source(text, file="process.yaml").findings]


def access_section() -> str:
    """The "Access rules" section of docs/definition-language.md."""
    text = DOCS.read_text(encoding="utf-8")
    start = text.index("## Access rules")
    return text[start : text.index("\n## ", start + 1)]


# -- models -------------------------------------------------------------------------------------


def test_the_exported_constants_name_the_roles_and_verbs() -> None:
    """BUILTIN_ROLES and ACCESS_VERBS list the six roles and six lead verbs in order."""
    assert BUILTIN_ROLES == ("admin", "ops", "manager", "rep", "viewer", "board")
    assert ACCESS_VERBS == ("read", "start", "fire", "update", "record", "assign")


def test_a_valid_access_section_loads_into_the_models() -> None:
    """The example's access section becomes an AccessSpec of RoleRules and SharingRules."""
    access = load_definition(EXAMPLE).access
    assert isinstance(access, AccessSpec)
    assert access.team_field == "owning_team"
    assert list(access.roles) == ["rep", "partner"]
    rep = access.roles["rep"]
    assert rep == RoleRule(
        scope="own",
        fire=("contact", "qualify", "lose"),
        update=("budget", "decision_maker", "lost_reason"),
        hidden=("amount",),
    )
    assert rep.like is None
    partner = access.roles["partner"]
    assert (partner.like, partner.scope, partner.fire, partner.update, partner.hidden) == (
        "rep",
        None,
        "*",
        "*",
        ("budget",),
    )
    assert access.sharing == (SharingRule(role="rep", when='lead.segment == "smb"'),)
    assert access.sharing[0].verbs == ("read",)


def test_without_access_the_section_is_empty() -> None:
    """A definition without ``access:`` has an empty AccessSpec: no team field, rules, sharing."""
    access = load_definition(BASE).access
    assert access == AccessSpec()
    assert (access.team_field, dict(access.roles), access.sharing) == (None, {}, ())


def test_the_access_section_is_read_only() -> None:
    """Role rules cannot be added to a loaded definition: it is immutable."""
    access = load_definition(EXAMPLE).access
    with pytest.raises(TypeError):
        access.roles["viewer"] = RoleRule()  # type: ignore[index]


def test_star_and_lists_both_load_for_fire_and_update() -> None:
    """``fire: "*"`` and ``update: []`` load as written (all triggers, no field)."""
    d = load_definition(BASE + "access:\n  roles:\n    rep: {fire: '*', update: []}\n")
    assert (d.access.roles["rep"].fire, d.access.roles["rep"].update) == ("*", ())


def test_access_survives_a_dump_and_reload() -> None:
    """Dumping a definition by alias and validating it again gives the same access rules."""
    d = load_definition(EXAMPLE)
    again = ProcessDefinition.model_validate(d.model_dump(mode="json", by_alias=True))
    assert again.access == d.access


# -- model errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        (
            {32: "      scope: mine"},
            "process.yaml:32:14: access role 'rep': 'mine' is not allowed for 'scope' "
            "(allowed: 'own', 'team' or 'all')",
        ),
        (
            {32: "      scop: own"},
            "process.yaml:32:7: access role 'rep': unknown key 'scop' (did you mean 'scope'?) "
            "(allowed: like, scope, fire, update, hidden)",
        ),
        (
            {33: "      fire: all"},
            "process.yaml:33:13: access role 'rep': 'fire': expected a list of names, or '*' "
            "for all of them",
        ),
        (
            {33: "      fire: [contact, qual-ify]"},
            "process.yaml:33:23: access role 'rep': 'qual-ify' is not a valid name for 'fire'; "
            "use a letter, then letters, digits or underscores",
        ),
        (
            {37: "      like: reps"},
            "process.yaml:37:13: access role 'partner': 'reps' is not allowed for 'like' "
            "(allowed: 'admin', 'ops', 'manager', 'rep', 'viewer' or 'board')",
        ),
        (
            {40: "    - {role: rep, when: 'lead.segment == \"smb\"', verbs: [read, delete]}"},
            "process.yaml:40:64: sharing rule 1: 'delete' is not allowed for 'verbs' "
            "(allowed: 'read', 'start', 'fire', 'update', 'record' or 'assign')",
        ),
        (
            {40: "    - {role: rep, when: 'lead.segment == \"smb\"', verbs: []}"},
            "process.yaml:40:57: sharing rule 1: 'verbs': needs at least 1 entries",
        ),
    ],
    ids=["scope", "unknown-key", "fire-scalar", "fire-name", "like", "verb", "no-verbs"],
)
def test_model_errors_are_located_and_explained(edits: dict[int, str], expected: str) -> None:
    """A wrong value or key inside ``access`` names the role or sharing rule and what is allowed."""
    assert problems(edited(edits)) == [expected]


# -- checks -------------------------------------------------------------------------------------

CHECKS = [
    (
        {37: "      scope: own"},
        "process.yaml:36:5: access role 'partner' is not a built-in role; a custom role names "
        "the built-in role it is based on with 'like: ...' (built-in roles: admin, ops, "
        "manager, rep, viewer, board)",
    ),
    (
        {36: "    reps:", 37: "      scope: own"},
        "process.yaml:36:5: access role 'reps' is not a built-in role (did you mean 'rep'?); a "
        "custom role names the built-in role it is based on with 'like: ...' (built-in roles: "
        "admin, ops, manager, rep, viewer, board)",
    ),
    (
        {32: "      like: manager"},
        "process.yaml:32:13: access role 'rep' is a built-in role and cannot be 'like' another; "
        "remove 'like', or give the custom role a name of its own (built-in roles: admin, ops, "
        "manager, rep, viewer, board)",
    ),
    (
        {33: "      fire: [contact, qualfy, lose]"},
        "process.yaml:33:23: access role 'rep': unknown trigger 'qualfy' (did you mean 'qualify'?)",
    ),
    (
        {34: "      update: [budget, decison_maker, lost_reason]"},
        "process.yaml:34:24: access role 'rep': unknown field 'decison_maker' (did you mean "
        "'decision_maker'?)",
    ),
    (
        {35: "      hidden: [amout]"},
        "process.yaml:35:16: access role 'rep': unknown field 'amout' (did you mean 'amount'?)",
    ),
    (
        {29: "  team_field: owning_tem"},
        "process.yaml:29:15: access team_field: unknown field 'owning_tem' (did you mean "
        "'owning_team'?)",
    ),
    (
        {29: "  team_field: budget"},
        "process.yaml:29:15: access team_field: field 'budget' is number; the team field must "
        "be a string or enum field naming the lead's team",
    ),
    (
        {40: "    - {role: partnr, when: 'lead.segment == \"smb\"', verbs: [read]}"},
        "process.yaml:40:14: sharing rule 1: unknown role 'partnr' (did you mean 'partner'?); a "
        "custom role must be declared under access.roles",
    ),
    (
        {40: "    - {role: rep, when: 'lead.segmnt == \"smb\"', verbs: [read]}"},
        "process.yaml:40:31: sharing rule 1: CEL expression reads lead.segmnt, which is not a "
        "declared field (did you mean 'segment'?)",
    ),
    (
        {40: "    - {role: rep, when: 'stage == \"new\"', verbs: [read]}"},
        "process.yaml:40:26: sharing rule 1: a sharing rule cannot read 'stage' (available: "
        "lead, owner); it decides on the lead's data and owner alone",
    ),
]


@pytest.mark.parametrize(
    ("edits", "expected"),
    CHECKS,
    ids=[
        "custom-without-like",
        "misspelt-builtin",
        "builtin-with-like",
        "fire",
        "update",
        "hidden",
        "team-field-unknown",
        "team-field-type",
        "sharing-role",
        "sharing-field",
        "sharing-variable",
    ],
)
def test_each_check_fails_with_a_located_message(edits: dict[int, str], expected: str) -> None:
    """Each access check reports its problem at the offending line and column, with a
    did-you-mean where a name is close to a known one."""
    assert problems(edited(edits)) == [expected]


@pytest.mark.parametrize(("edits", "expected"), CHECKS, ids=[str(i) for i in range(len(CHECKS))])
def test_the_documented_errors_are_the_real_ones(edits: dict[int, str], expected: str) -> None:
    """Every check's message appears word for word in the "Access rules" section of the docs."""
    assert expected in access_section()


def test_unknown_names_without_a_close_match_list_what_exists() -> None:
    """An unknown trigger or role far from every known name lists the known ones instead."""
    text = BASE + (
        "access:\n  roles:\n    rep: {fire: [zzz]}\n"
        "  sharing:\n    - {role: nobody, when: 'true'}\n"
    )
    assert problems(text) == [
        "process.yaml:16:18: access role 'rep': unknown trigger 'zzz' (triggers: contact, win)",
        "process.yaml:18:14: sharing rule 1: unknown role 'nobody' (roles: admin, ops, manager, "
        "rep, viewer, board); a custom role must be declared under access.roles",
    ]


def test_sharing_conditions_compile_and_know_their_variables() -> None:
    """A sharing ``when`` with a syntax error, an unknown variable or ``now`` is refused."""
    text = BASE + (
        "access:\n  sharing:\n"
        "    - {role: rep, when: 'lead.segment == '}\n"
        "    - {role: rep, when: 'foo == 1 || now > timestamp(\"2020-01-01T00:00:00Z\")'}\n"
        "    - {role: rep, when: 'owner == \"ana\" && lead.budget > 0'}\n"
    )
    found = problems(text)
    assert len(found) == 3
    assert found[0].startswith("process.yaml:16:41: sharing rule 1: CEL syntax error: ")
    assert found[1:] == [
        "process.yaml:17:26: sharing rule 2: unknown variable 'foo' in CEL expression "
        "(available: lead, owner)",
        "process.yaml:17:38: sharing rule 2: a sharing rule cannot read 'now' (available: lead, "
        "owner); it decides on the lead's data and owner alone",
    ]


def test_all_access_problems_are_reported_at_once() -> None:
    """One load reports every access problem, sorted by line, with the other checks' problems."""
    text = edited(
        {
            29: "  team_field: budget",
            33: "      fire: [contact, qualfy, lose]",
            35: "      hidden: [amout]",
            37: "      scope: own",
            40: "    - {role: partnr, when: 'lead.segmnt == \"smb\"', verbs: [read]}",
        }
    ).replace("to: won}", "to: wno}")
    found = problems(text)
    assert [p.split(": ", 1)[0] for p in found] == [
        "process.yaml:26:38",
        "process.yaml:29:15",
        "process.yaml:33:23",
        "process.yaml:35:16",
        "process.yaml:36:5",
        "process.yaml:40:14",
        "process.yaml:40:34",
    ]
    assert "unknown stage 'wno'" in found[0]
    assert "did you mean 'partner'?" in found[5]


def test_extra_allow_lets_update_and_hidden_name_undeclared_fields() -> None:
    """With ``extra: allow`` lead data may carry any field, so rules may name any field."""
    text = BASE.replace("version: 1\n", "version: 1\nextra: allow\n") + (
        "access:\n  team_field: region\n  roles:\n    rep: {update: [notes], hidden: [salary]}\n"
    )
    assert load_definition(text).access.roles["rep"].hidden == ("salary",)


# -- lint ---------------------------------------------------------------------------------------

LOCKED_OUT = BASE + (
    "access:\n  roles:\n"
    "    admin: {fire: [win], hidden: [amount]}\n"
    "    manager: {fire: [win], hidden: [amount]}\n"
    "    rep: {fire: [win], hidden: [amount]}\n"
    "    ops: {hidden: [amount]}\n"
    "    viewer: {hidden: [amount]}\n"
    "  sharing:\n    - {role: rep, when: 'lead.budget > 0'}\n"
)


def without_hidden(text: str) -> str:
    """``text`` with every ``hidden`` list of LOCKED_OUT removed."""
    return text.replace(", hidden: [amount]}", "}").replace("{hidden: [amount]}", "{}")


def test_lint_reports_a_trigger_and_a_field_no_role_can_use() -> None:
    """LF207 names the trigger no role may fire, LF405 the field every reading role hides."""
    findings = lint_source(LOCKED_OUT, file="process.yaml").findings
    assert [(f.code, f.line, f.column) for f in findings] == [
        ("LF405", 5, 3),
        ("LF207", 12, 12),
    ]
    assert "trigger 'contact' can never be fired" in findings[1].message
    assert "admin, manager, rep" in findings[1].message
    assert "field 'amount' is hidden from every role that reads leads" in findings[0].message


def test_the_example_process_lints_clean() -> None:
    """The documented process has no lint finding: admin keeps every trigger and field."""
    assert lint_codes(EXAMPLE.read_text(encoding="utf-8")) == []


def test_lint_is_quiet_while_admin_keeps_its_defaults() -> None:
    """Without an admin rule admin fires every trigger and reads every field: no finding."""
    text = LOCKED_OUT.replace("    admin: {fire: [win], hidden: [amount]}\n", "")
    assert lint_codes(text) == []


def test_a_trigger_an_sla_mark_fires_needs_no_role() -> None:
    """A trigger only an SLA mark fires is not reported: the worker fires it."""
    text = without_hidden(LOCKED_OUT) + (
        "slas:\n  follow_up:\n    stages: [new]\n    target: 1d\n"
        "    ladder: [{at: 100%, fire: contact}]\n"
    )
    assert lint_codes(text) == []


def test_a_sharing_rule_that_grants_fire_counts_its_role() -> None:
    """A viewer that a sharing rule lets fire, and whose rule lists the trigger, can fire it."""
    text = without_hidden(LOCKED_OUT).replace("    viewer: {}\n", "    viewer: {fire: [contact]}\n")
    text += "    - {role: viewer, when: 'lead.budget > 0', verbs: [read, fire]}\n"
    assert lint_codes(text) == []


def test_custom_roles_count_by_the_role_they_are_like() -> None:
    """A custom role like rep that fires everything makes every trigger firable; one like
    board reads no lead, so it does not keep a field readable."""
    fires = LOCKED_OUT.replace(
        "  sharing:", "    closer: {like: rep, hidden: [amount]}\n  sharing:"
    )
    assert lint_codes(fires) == ["LF405"]
    reads = LOCKED_OUT.replace("  sharing:", "    auditor: {like: board}\n  sharing:")
    assert lint_codes(reads) == ["LF405", "LF207"]


def test_a_field_only_an_access_rule_names_is_not_unused() -> None:
    """Fields named by access rules (hidden, update, team_field, sharing) do not count as
    unused (LF402)."""
    text = BASE.replace(
        "  segment: {type: enum, values: [smb, enterprise]}\n",
        "  segment: {type: enum, values: [smb, enterprise]}\n  team: {type: string}\n"
        "  notes: {type: string}\n",
    ) + (
        "access:\n  team_field: team\n  roles:\n    rep: {update: [notes], hidden: [amount]}\n"
        "  sharing:\n    - {role: rep, when: 'lead.segment == \"smb\" && lead.budget > 0'}\n"
    )
    assert lint_codes(text) == []


def test_cel_lint_rules_read_sharing_conditions() -> None:
    """A sharing condition comparing an enum with a value it lacks is LF102, like a criterion."""
    text = LOCKED_OUT.replace("when: 'lead.budget > 0'", "when: 'lead.segment == \"SMB\"'").replace(
        "    admin: {fire: [win], hidden: [amount]}\n", ""
    )
    findings = lint_source(text, file="process.yaml").findings
    assert [(f.code, f.line) for f in findings] == [("LF102", 21)]
    assert findings[0].message.startswith("sharing rule 1")


# -- docs and schema ----------------------------------------------------------------------------


def test_the_documented_example_is_the_fixture_and_loads() -> None:
    """The process in the docs' "Access rules" section is this fixture, and it loads."""
    blocks = re.findall(r"```yaml\n(process:.*?)```", access_section(), flags=re.S)
    assert blocks == [EXAMPLE.read_text(encoding="utf-8")]
    assert load_definition(blocks[0], file="docs/definition-language.md").access.roles


def test_the_documented_roles_table_lists_every_builtin_role() -> None:
    """The docs' roles table has one row per built-in role, in order."""
    rows = re.findall(r"^\| `([a-z]+)` \|", access_section(), flags=re.M)
    assert [r for r in rows if r in BUILTIN_ROLES] == list(BUILTIN_ROLES)


def _schema_errors(data: Any) -> list[str]:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json_schema())
    return [e.message for e in validator.iter_errors(data)]


def test_the_schema_describes_the_access_section() -> None:
    """``leadflow schema`` has the access section, its role rules and sharing rules."""
    schema = json_schema()
    assert "access" in schema["properties"]
    assert set(schema["$defs"]["AccessSpec"]["properties"]) == {"team_field", "roles", "sharing"}
    rule = schema["$defs"]["RoleRule"]["properties"]
    assert set(rule) == {"like", "scope", "fire", "update", "hidden"}
    assert {"const": "*", "type": "string"} in rule["fire"]["oneOf"]
    assert rule["fire"]["description"]
    verbs = schema["$defs"]["SharingRule"]["properties"]["verbs"]
    assert verbs["minItems"] == 1


def test_the_example_validates_against_the_schema_and_mistakes_do_not() -> None:
    """The example is a valid instance of the schema; a bad scope, verb or role name is not."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert _schema_errors(data) == []
    for change in (
        lambda d: d["access"]["roles"]["rep"].update(scope="mine"),
        lambda d: d["access"]["sharing"][0].update(verbs=["delete"]),
        lambda d: d["access"]["roles"].update({"sales-rep": {"like": "rep"}}),
        lambda d: d["access"]["roles"]["rep"].update(fire="all"),
    ):
        bad = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
        change(bad)
        assert _schema_errors(bad), change
