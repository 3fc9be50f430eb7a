"""The dispatch table the hot path runs agrees with the ``transitions`` machine it is derived from.

For every shipped definition, every test definition that loads, and generated definitions
(several transitions sharing a trigger name, wildcard sources, guards and exit criteria that may
or may not hold), hypothesis draws a stage, a trigger (known or not) and a lead (fields set or
not, activities recorded or not, ``requires`` values given or not) and checks that
``CompiledProcess.decide`` (the table) and ``decide_with_machine`` (the reference) agree on
whether the trigger is allowed, which transition is taken, and every criterion result.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from leadflow.definitions import DefinitionError, ProcessDefinition, load_definition
from leadflow.engine._compiler import CompiledProcess, Decision
from leadflow.engine._criteria import Activity, EvalContext

LIBRARY = Path(__file__).parents[2] / "definitions" / "library"
TEST_DEFINITIONS = Path(__file__).parents[1] / "definitions"
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _loadable() -> list[Path]:
    paths = sorted(LIBRARY.glob("*.yaml")) + sorted(TEST_DEFINITIONS.rglob("*.yaml"))
    out = []
    for path in paths:
        try:
            load_definition(path)
        except (DefinitionError, OSError, ValueError):
            continue
        out.append(path)
    return out


DEFINITIONS = _loadable()
_COMPILED: dict[Path, CompiledProcess] = {}


def _compiled(path: Path) -> CompiledProcess:
    if path not in _COMPILED:
        _COMPILED[path] = CompiledProcess(load_definition(path))
    return _COMPILED[path]


def _shape(decision: Decision) -> tuple[Any, ...]:
    taken = decision.transition
    return (
        decision.trigger,
        decision.allowed,
        None if taken is None else (taken.name, taken.to),
        [json.dumps(r.as_dict(), sort_keys=True, default=str) for r in decision.results],
    )


def _value(kind: str, draw: st.DrawFn, spec: Any) -> Any:
    if kind == "integer":
        return draw(st.integers(min_value=-5, max_value=150))
    if kind == "number":
        return draw(st.floats(min_value=-10, max_value=1e6, allow_nan=False))
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "enum":
        return draw(st.sampled_from([*spec.values, "not-a-value"]))
    return draw(st.sampled_from(["", "Dana", "x@example.com", "2026-01-05"]))


@st.composite
def situations(draw: st.DrawFn, compiled: CompiledProcess) -> tuple[str, EvalContext]:
    definition = compiled.definition
    stage = draw(st.sampled_from(sorted(definition.stages)))
    triggers = [*sorted({t.name for t in definition.transitions}), "no_such_trigger"]
    trigger = draw(st.sampled_from(triggers))
    lead: dict[str, Any] = {}
    for name, spec in definition.fields.items():
        if draw(st.booleans()):
            lead[name] = _value(spec.type, draw, spec)
    types = list(compiled.activity_types) or ["call"]
    activities = [
        Activity(draw(st.sampled_from(types)), NOW - timedelta(hours=draw(st.integers(0, 500))), i)
        for i in range(1, draw(st.integers(0, 4)) + 1)
    ]
    required = sorted({name for t in definition.transitions for name in t.requires})
    payload = {name: lead.get(name, "given") for name in required if draw(st.booleans())}
    ctx = EvalContext(
        lead=lead,
        payload=payload,
        stage=stage,
        stage_entered_at=NOW - timedelta(days=draw(st.integers(0, 40))),
        stage_seq=draw(st.integers(0, 3)),
        now=NOW,
        owner=draw(st.sampled_from([None, "ana", "bob"])),
        activities=activities,
        contract=compiled.contract,
        team_of=compiled.team_of,
    )
    return trigger, ctx


def _agree(compiled: CompiledProcess, trigger: str, ctx: EvalContext) -> None:
    table = compiled.decide(trigger, ctx)
    machine = compiled.decide_with_machine(trigger, ctx)
    assert _shape(table) == _shape(machine)


def test_there_are_definitions_to_check() -> None:
    names = {p.name for p in DEFINITIONS}
    assert {"inbound-lead.yaml", "b2b-opportunity.yaml", "reference.yaml"} <= names
    assert len(DEFINITIONS) >= 10


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda p: str(p.relative_to(p.parents[1])))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_table_agrees_with_the_machine_on_every_definition(path: Path, data: Any) -> None:
    compiled = _compiled(path)
    trigger, ctx = data.draw(situations(compiled))
    _agree(compiled, trigger, ctx)


@st.composite
def generated(draw: st.DrawFn) -> ProcessDefinition:
    """A random valid definition: stages s0..sN, fields f0..f3, transitions that share names,
    take lists or ``*`` as sources, and carry guards and exit criteria on random fields."""
    n = draw(st.integers(2, 6))
    stages: dict[str, Any] = {f"s{i}": {} for i in range(n)}
    stages["s0"]["initial"] = True
    stages[f"s{n - 1}"]["closed"] = draw(st.sampled_from(["won", "lost"]))
    open_stages = sorted(stages)[:-1]
    fields = {f"f{i}": {"type": "integer"} for i in range(4)}
    for name in stages:
        if draw(st.booleans()) and "closed" not in stages[name]:
            stages[name]["exit_criteria"] = [
                {
                    "id": f"{name}_x",
                    "message": "m",
                    "field_set": draw(st.sampled_from(sorted(fields))),
                }
            ]
    # a chain s0 -> s1 -> ... keeps every stage reachable and none a dead end
    transitions: list[dict[str, Any]] = [
        {"name": f"next{i}", "from": f"s{i}", "to": f"s{i + 1}"} for i in range(n - 1)
    ]
    for i in range(draw(st.integers(1, 8))):
        name = draw(st.sampled_from(["go", "move", "jump", f"t{i}"]))
        source = draw(
            st.one_of(
                st.just("*"),
                st.sampled_from(open_stages),
                st.lists(st.sampled_from(open_stages), min_size=1, max_size=3, unique=True),
            )
        )
        guard = [
            draw(
                st.sampled_from(
                    [
                        {"id": f"g{i}_{j}", "field_set": f"f{j}", "message": "m"},
                        {"id": f"g{i}_{j}", "cel": f"lead.f{j} > 50", "message": "m"},
                        {
                            "id": f"g{i}_{j}",
                            "activity": {"type": "call", "min": 1 + j % 2},
                            "message": "m",
                        },
                    ]
                )
            )
            for j in range(draw(st.integers(0, 2)))
        ]
        transitions.append(
            {
                "name": name,
                "from": source,
                "to": draw(st.sampled_from(sorted(stages))),
                "guard": guard,
            }
        )
    text = yaml.safe_dump(
        {
            "process": "generated",
            "version": 1,
            "fields": fields,
            "stages": stages,
            "transitions": transitions,
        }
    )
    try:
        return load_definition(text)
    except DefinitionError:
        assume(False)
        raise  # pragma: no cover - assume() does not return


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(definition=generated(), data=st.data())
def test_the_table_agrees_with_the_machine_on_generated_definitions(
    definition: ProcessDefinition, data: Any
) -> None:
    compiled = CompiledProcess(definition)
    for _ in range(5):
        trigger, ctx = data.draw(situations(compiled))
        _agree(compiled, trigger, ctx)


def test_the_table_tries_candidates_in_the_order_the_machine_does() -> None:
    definition = load_definition(
        """
process: ordered
version: 1
fields: {a: {type: integer}, b: {type: integer}}
stages: {new: {initial: true}, fast: {}, slow: {}, won: {closed: won}}
transitions:
  - {name: go, from: new, to: fast, guard: [{id: has_a, field_set: a, message: Set a}]}
  - {name: go, from: "*", to: slow, guard: [{id: has_b, field_set: b, message: Set b}]}
  - {name: win, from: [fast, slow], to: won}
"""
    )
    compiled = CompiledProcess(definition)
    assert [c.transition.to for c in compiled.table[("new", "go")]] == ["fast", "slow"]

    def ctx(lead: dict[str, Any]) -> EvalContext:
        return EvalContext(lead, {}, "new", NOW, 0, NOW, None, [], compiled.contract)

    both = compiled.decide("go", ctx({"a": 1, "b": 1}))
    assert both.transition is not None
    assert both.transition.to == "fast"
    only_b = compiled.decide("go", ctx({"b": 1}))
    assert only_b.transition is not None
    assert only_b.transition.to == "slow"
    neither = compiled.decide("go", ctx({}))
    assert neither.transition is None
    assert [r.id for r in neither.unmet] == ["has_a", "has_b"]
