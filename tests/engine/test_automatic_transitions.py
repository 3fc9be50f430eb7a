"""Automatic transitions (``auto: {when: ...}``): a transition that fires by itself after a
start, fire, update, activity or assignment, through the guarded path of ``fire``; loops
refused at load with a witness, chains bounded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from leadflow.definitions import DefinitionError, load_definition
from leadflow.engine import Engine

RHYTHM = Path(__file__).parents[1] / "definitions" / "auto" / "rhythm.yaml"
P = "rhythm"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    with Engine(db_url, create=True) as e:
        e.deploy(RHYTHM)
        yield e


def moves(engine: Engine, lead: str) -> list[tuple[str | None, str | None, str | None]]:
    """(trigger, to stage, actor) of each transition in the lead's history."""
    return [
        (h.trigger, h.to_stage, h.actor) for h in engine.history(P, lead) if h.kind == "transition"
    ]


def test_a_start_update_and_activity_set_rules_off(engine: Engine) -> None:
    """A low score parks the lead at start; a rescore wakes it; a call with a hot score
    qualifies it (its guard needed the call); each move names its rule in history."""
    assert engine.start(P, "l1", {"score": 20}).stage == "nurture"
    assert moves(engine, "l1") == [("park", "nurture", "rule:park")]
    assert engine.update(P, "l1", {"score": 95}).stage == "new"
    assert engine.record(P, "l1", "call").stage == "qualified"
    assert moves(engine, "l1")[1:] == [
        ("wake", "new", "rule:wake"),
        ("qualify", "qualified", "rule:qualify"),
    ]


def test_an_unmet_rule_changes_nothing(engine: Engine) -> None:
    """A hot lead nobody called stays in new: the rule's guard is unmet, so nothing fires and
    nothing is refused."""
    lead = engine.start(P, "l2", {"score": 95})
    assert lead.stage == "new"
    assert moves(engine, "l2") == []


def test_batches_follow_the_rules_too(engine: Engine) -> None:
    """start_many and fire_many set the same rules off as start and fire."""
    started = engine.start_many(P, [("a", {"score": 10}), ("b", {"score": 70})])
    assert [i.stage for i in started.succeeded] == ["nurture", "new"]
    engine.record(P, "b", "call")
    engine.update(P, "b", {"score": 40})  # parks b
    fired = engine.fire_many(
        P, [{"lead_id": "a", "trigger": "lose", "data": {"lost_reason": "no_fit"}}]
    )
    assert [i.stage for i in fired.succeeded] == ["lost"]
    assert engine.get(P, "b").stage == "nurture"
    assert [h.seq for h in engine.history(P, "b")] == sorted(h.seq for h in engine.history(P, "b"))


def test_a_loop_of_rules_is_refused_at_load_with_data_that_loops() -> None:
    """Rules that can hold at once around a cycle are a located load error naming the data;
    exclusive ones (park below 50, wake from 50) load."""
    text = RHYTHM.read_text(encoding="utf-8").replace(
        'auto: {when: "lead.score >= 50"}', 'auto: {when: "lead.score >= 10"}'
    )
    with pytest.raises(DefinitionError) as refused:
        load_definition(text, file="rhythm.yaml")
    (problem,) = [p for p in refused.value.problems if p.code == "auto-loop"]
    assert problem.line == 19
    assert "new -> nurture -> new" in problem.message
    assert "score = 10" in problem.message
    load_definition(RHYTHM)


def test_an_automatic_transition_cannot_require_data() -> None:
    """``requires`` on an automatic transition is refused: it fires with no data."""
    text = RHYTHM.read_text(encoding="utf-8").replace(
        '  - {name: lose, from: "*", to: lost, requires: [lost_reason]}',
        '  - {name: lose, from: "*", to: lost, requires: [lost_reason], auto: {when: "true"}}',
    )
    with pytest.raises(DefinitionError, match="cannot 'require' fields"):
        load_definition(text, file="rhythm.yaml")


def test_a_chain_never_comes_back_to_a_stage_it_left(tmp_path: Path) -> None:
    """A loop the load-time search cannot see (a date it does not sample) stops at the stage
    it would re-enter."""
    text = (
        RHYTHM.read_text(encoding="utf-8")
        .replace("  email: {type: string}\n", "  email: {type: string}\n  seen: {type: date}\n")
        .replace('auto: {when: "lead.score < 50"}', 'auto: {when: "has(lead.seen)"}')
        .replace('auto: {when: "lead.score >= 50"}', 'auto: {when: "has(lead.seen)"}')
    )
    with Engine(f"sqlite:///{tmp_path / 'x.db'}") as e:
        e.deploy(load_definition(text, file="loop.yaml"))
        lead = e.start(P, "l", {"seen": "2026-01-05"})
        assert lead.stage == "nurture"
        assert [h.trigger for h in e.history(P, "l") if h.kind == "transition"] == ["park"]


def test_fire_many_follows_rules_with_the_activities_they_read(tmp_path: Path) -> None:
    """A batch fire that lands a lead where a rule applies (the rule's guard reads the lead's
    calls) takes it on in the same batch, and answers the lead as it ends."""
    text = RHYTHM.read_text(encoding="utf-8").replace(
        "  - {name: win, from: qualified, to: won}\n",
        "  - {name: win, from: qualified, to: won}\n"
        "  - {name: back, from: qualified, to: new, backward: true}\n",
    )
    with Engine(f"sqlite:///{tmp_path / 'b.db'}") as e:
        e.deploy(load_definition(text, file="back.yaml"))
        e.start(P, "hot", {"score": 95})
        e.record(P, "hot", "call")  # qualifies it by rule
        result = e.fire_many(P, [{"lead_id": "hot", "trigger": "back"}])
        assert [i.stage for i in result.succeeded] == ["qualified"]
        assert [h.trigger for h in e.history(P, "hot") if h.kind == "transition"] == [
            "qualify",
            "back",
            "qualify",
        ]
        assert e.get(P, "hot").stage == "qualified"
