"""``start_many`` and ``fire_many``: failures by index, per-lead order, batches over several
transactions, and writers that lose a race (made deterministic).

Part of the engine's API call by call (the fixtures are in this folder's conftest.py, the
helpers in runtime_support.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from runtime_support import (
    CEL_ACTIVITIES,
    P,
    contacted,
    counts,
    minutes,
    outbox,
    start,
    unmet_ids,
)

from leadflow.engine import (
    BatchResult,
    ConcurrentUpdate,
    DuplicateLead,
    Engine,
    GuardFailed,
    InvalidData,
    InvalidTransition,
    LeadNotFound,
    UnknownProcess,
)

# -- batches ---------------------------------------------------------------------------------


def test_start_many_accepts_ids_tuples_and_mappings(engine: Engine) -> None:
    """start_many takes plain ids, tuples and mappings and returns instances in item order."""
    engine.deploy(CEL_ACTIVITIES)
    result = engine.start_many(
        "cel-activities",
        [
            "A",
            ("B", {"email": "b@x"}, "ann"),
            {"lead_id": "C", "data": {"email": "c@x"}, "actor": "import", "at": minutes(9)},
        ],
        at=minutes(1),
    )
    assert isinstance(result, BatchResult)
    assert result.ok
    assert [(i.lead_id, i.owner, i.data, i.created_at) for i in result.succeeded] == [
        ("A", None, {}, minutes(1)),
        ("B", "ann", {"email": "b@x"}, minutes(1)),
        ("C", None, {"email": "c@x"}, minutes(9)),
    ]
    for inst in result.succeeded:
        assert engine.get("cel-activities", inst.lead_id) == inst
    assert engine.history("cel-activities", "C")[0].actor == "import"
    assert [r["type"] for r in outbox(engine)] == ["leadflow.lead.started"] * 3


def test_start_many_reports_failures_by_index_and_commits_the_rest(engine: Engine) -> None:
    """Bad items fail with their index and error while every good item is started."""
    start(engine, "OLD")
    result = engine.start_many(
        P,
        [
            ("A", {"email": "a@x"}),
            ("OLD", {"email": "o@x"}),
            ("B", {"email": "b@x", "score": 500}),
            ("A", {"email": "again@x"}),
            ("", {"email": "e@x"}),
            ("C", {"email": "c@x"}),
        ],
    )
    assert not result.ok
    assert [i.lead_id for i in result.succeeded] == ["A", "C"]
    assert [(f.index, f.lead_id, type(f.error)) for f in result.failed] == [
        (1, "OLD", DuplicateLead),
        (2, "B", InvalidData),
        (3, "A", DuplicateLead),
        (4, "", InvalidData),
    ]
    assert engine.get(P, "A").data == {"email": "a@x"}
    assert engine.get(P, "OLD").data == {"email": "old@example.com"}
    with pytest.raises(LeadNotFound):
        engine.get(P, "B")
    assert counts(engine)["lf_instances"] == 3
    assert counts(engine)["lf_outbox"] == 3


def test_start_many_rejects_an_unknown_process_and_reports_malformed_items(
    engine: Engine,
) -> None:
    """An unknown process fails the whole call; malformed items fail alone, writing nothing."""
    before = counts(engine)
    with pytest.raises(UnknownProcess):
        engine.start_many("nope", ["A"])
    result = engine.start_many(
        P, [{"lead_id": "A", "colour": "red"}, ("B", {}, None, None, None, "extra")]
    )
    assert [(f.index, f.lead_id, type(f.error)) for f in result.failed] == [
        (0, "A", InvalidData),
        (1, "B", InvalidData),
    ]
    assert "unknown keys colour" in str(result.failed[0].error)
    assert "at most 5" in str(result.failed[1].error)
    assert counts(engine) == before


def test_fire_many_reports_failures_by_index_and_commits_the_rest(engine: Engine) -> None:
    """Per-item failures are reported by index; every other fire is committed."""
    start(engine, "A")
    engine.record(P, "A", "call", at=minutes(1))
    start(engine, "B")
    start(engine, "C", score=10)
    result = engine.fire_many(
        P,
        [
            ("A", "contact"),
            ("B", "contact"),
            ("C", "win"),
            ("Z", "contact"),
            ("C", "lose", {"lost_reason": "bogus"}),
            ("C", "lose", {"lost_reason": "no_budget"}, "ann"),
        ],
        at=minutes(2),
    )
    assert [(i.lead_id, i.stage, i.version, i.stage_entered_at) for i in result.succeeded] == [
        ("A", "contacted", 3, minutes(2)),
        ("C", "lost", 2, minutes(2)),
    ]
    assert [(f.index, f.lead_id, type(f.error)) for f in result.failed] == [
        (1, "B", GuardFailed),
        (2, "C", InvalidTransition),
        (3, "Z", LeadNotFound),
        (4, "C", InvalidData),
    ]
    assert unmet_ids(result.failed[0].error) == ["called"]  # type: ignore[arg-type]
    assert engine.get(P, "A") == result.succeeded[0]
    assert engine.get(P, "C") == result.succeeded[1]
    assert engine.get(P, "B").version == 1
    assert engine.history(P, "C")[-1].actor == "ann"
    assert [r["type"] for r in outbox(engine)][-2:] == [
        "leadflow.lead.stage_changed",
        "leadflow.lead.closed_lost",
    ]
    assert counts(engine)["lf_outbox"] == counts(engine)["lf_history"] == 6


def test_fire_many_applies_fires_of_one_lead_in_order(engine: Engine) -> None:
    """Several fires of one lead in one batch each see the state the previous one left."""
    contacted(engine, score=70, budget=1)
    result = engine.fire_many(
        P,
        [
            {"lead_id": "L1", "trigger": "win", "at": minutes(3)},
            {"lead_id": "L1", "trigger": "qualify", "data": {"budget": 2}, "at": minutes(4)},
            {
                "lead_id": "L1",
                "trigger": "qualify",
                "data": {"decision_maker": "D"},
                "at": minutes(5),
            },
            {"lead_id": "L1", "trigger": "win", "at": minutes(6)},
            {"lead_id": "L1", "trigger": "lose", "data": {"lost_reason": "competitor"}},
        ],
    )
    assert [(i.stage, i.version, i.stage_entered_at) for i in result.succeeded] == [
        ("qualified", 4, minutes(5)),
        ("won", 5, minutes(6)),
    ]
    assert [(f.index, type(f.error)) for f in result.failed] == [
        (0, InvalidTransition),
        (1, GuardFailed),
        (4, InvalidTransition),
    ]
    assert engine.get(P, "L1") == result.succeeded[-1]
    assert result.succeeded[-1].data == {
        "email": "l1@example.com",
        "score": 70,
        "budget": 1,
        "decision_maker": "D",
    }
    history = engine.history(P, "L1")
    assert [(h.seq, h.trigger, h.from_stage, h.to_stage) for h in history[3:]] == [
        (4, "qualify", "contacted", "qualified"),
        (5, "win", "qualified", "won"),
    ]
    assert [r["seq"] for r in outbox(engine)] == [1, 2, 3, 4, 5]


def test_batches_larger_than_one_transaction_keep_item_indexes_and_order(engine: Engine) -> None:
    """Over 1,000 items run as several transactions; indexes and per-lead order still hold."""
    leads = [f"B{n:04d}" for n in range(1001)]
    started = engine.start_many(P, [(lead, {"email": f"{lead}@x"}) for lead in leads])
    assert started.ok
    assert [i.lead_id for i in started.succeeded] == leads
    items = [(lead, "lose", {"lost_reason": "bad_data"}) for lead in leads[1:1000]]
    items += [("B0000", "lose", {"lost_reason": "no_budget"}), ("B0000", "lose")]
    result = engine.fire_many(P, items, at=minutes(1))
    assert len(result.succeeded) == 1000
    assert [(f.index, f.lead_id, type(f.error)) for f in result.failed] == [
        (1000, "B0000", InvalidTransition)
    ]
    assert engine.get(P, "B0000").data["lost_reason"] == "no_budget"
    assert counts(engine)["lf_outbox"] == 1001 + 1000


def test_fire_many_reports_malformed_items_and_runs_the_others(engine: Engine) -> None:
    """A malformed item is an InvalidData failure at its index; the other items still run."""
    start(engine)
    before = counts(engine)
    result = engine.fire_many(
        P, [{"lead": "L1"}, ("L1", "lose", {"lost_reason": "bad_data"}), ("L1", "a", 1, 2, 3, 4)]
    )
    assert [(f.index, type(f.error)) for f in result.failed] == [
        (0, InvalidData),
        (2, InvalidData),
    ]
    assert "unknown keys lead" in str(result.failed[0].error)
    assert [i.stage for i in result.succeeded] == ["lost"]
    assert counts(engine)["lf_history"] == before["lf_history"] + 1


# -- concurrent writers (made deterministic) -------------------------------------------------


def test_a_fire_that_loses_a_race_raises_concurrent_update(
    engine: Engine, make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When another writer commits between read and write, fire raises and writes nothing."""
    start(engine)
    engine.record(P, "L1", "call", at=minutes(1))
    rival = make_engine()
    plan = engine.runtime.planner.fire

    def racing(*args: Any, **kwargs: Any) -> Any:
        rival.record(P, "L1", "email", at=minutes(2))
        return plan(*args, **kwargs)

    monkeypatch.setattr(engine.runtime.planner, "fire", racing)
    with pytest.raises(ConcurrentUpdate) as info:
        engine.fire(P, "L1", "contact", at=minutes(3))
    assert (info.value.lead_id, info.value.expected_version) == ("L1", 2)
    assert info.value.code == "concurrent-update"
    inst = engine.get(P, "L1")
    assert (inst.stage, inst.version) == ("new", 3)
    assert [h.kind for h in engine.history(P, "L1")] == ["started", "activity", "activity"]
    assert len(outbox(engine)) == 3


def test_fire_many_redoes_a_batch_that_lost_a_race_item_by_item(
    engine: Engine, make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that conflicts is redone one item at a time so non-conflicting items pass."""
    for lead_id in ("A", "B"):
        start(engine, lead_id)
        engine.record(P, lead_id, "call", at=minutes(1))
    rival = make_engine()
    plan = engine.runtime.planner.fire
    raced: list[int] = []

    def racing(*args: Any, **kwargs: Any) -> Any:
        if not raced:
            raced.append(1)
            rival.update(P, "A", {"score": 5}, at=minutes(2))
        return plan(*args, **kwargs)

    monkeypatch.setattr(engine.runtime.planner, "fire", racing)
    result = engine.fire_many(P, [("A", "contact"), ("B", "contact")], at=minutes(3))
    assert result.ok
    assert [(i.lead_id, i.stage, i.version) for i in result.succeeded] == [
        ("A", "contacted", 4),
        ("B", "contacted", 3),
    ]
    assert engine.get(P, "A").data == {"email": "a@example.com", "score": 5}
    assert [h.seq for h in engine.history(P, "A")] == [1, 2, 3, 4]
    assert counts(engine)["lf_outbox"] == counts(engine)["lf_history"] == 7
