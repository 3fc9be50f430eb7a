"""What the engine reports back: the append-only history, the outbox of CloudEvents every
change writes, and ``next_steps``.

Part of the engine's API call by call (the fixtures are in this folder's conftest.py, the
helpers in runtime_support.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from runtime_support import (
    REFERENCE,
    T0,
    F,
    P,
    _engaged,
    contacted,
    counts,
    minutes,
    outbox,
    start,
)

from leadflow.engine import (
    EVENT_TYPES,
    CriterionResult,
    Engine,
    HistoryEntry,
    LeadNotFound,
    NextSteps,
    PlaybookStatus,
    TriggerOption,
    UnknownProcess,
)

# -- history ---------------------------------------------------------------------------------


def test_history_is_append_only_and_numbered(engine: Engine) -> None:
    """History rows are numbered 1..n (= instance version) and earlier rows never change."""
    engine.start(P, "L1", {"email": "a@x", "score": 70}, actor="form", at=T0)
    first = engine.history(P, "L1")
    engine.record(P, "L1", "call", actor="ann", at=minutes(1))
    engine.fire(P, "L1", "contact", actor="ann", at=minutes(2))
    middle = engine.history(P, "L1")
    assert middle[:1] == first
    engine.update(P, "L1", {"budget": 100}, actor="ann", at=minutes(3))
    engine.assign(P, "L1", "bob", actor="router", at=minutes(4))
    engine.fire(P, "L1", "qualify", {"decision_maker": "Dana"}, actor="bob", at=minutes(5))
    engine.fire(P, "L1", "win", actor="bob", at=minutes(6))
    history = engine.history(P, "L1")
    assert history[:3] == middle
    assert [h.seq for h in history] == list(range(1, 8))
    assert engine.get(P, "L1").version == 7
    assert [(h.kind, h.trigger, h.from_stage, h.to_stage, h.actor, h.at) for h in history] == [
        ("started", None, None, "new", "form", T0),
        ("activity", None, None, None, "ann", minutes(1)),
        ("transition", "contact", "new", "contacted", "ann", minutes(2)),
        ("updated", None, None, None, "ann", minutes(3)),
        ("assigned", None, None, None, "router", minutes(4)),
        ("transition", "qualify", "contacted", "qualified", "bob", minutes(5)),
        ("transition", "win", "qualified", "won", "bob", minutes(6)),
    ]
    assert history[0].details == {"data": {"email": "a@x", "score": 70}}
    assert all(isinstance(h, HistoryEntry) for h in history)


def test_history_records_the_criteria_of_each_transition(engine: Engine) -> None:
    """A transition's history row holds every criterion it passed, with the values seen."""
    contacted(engine, score=70)
    engine.fire(P, "L1", "qualify", {"budget": 5, "decision_maker": "Dana"}, at=minutes(3))
    history = engine.history(P, "L1")
    assert history[2].criteria == [
        CriterionResult(
            "called",
            "Log at least one call",
            True,
            "activity",
            "guard:contact",
            {"type": "call", "count": 1, "min": 1},
        )
    ]
    assert [(c.id, c.met, c.source, c.seen) for c in history[3].criteria] == [
        ("budget_known", True, "exit:contacted", {"budget": 5}),
        ("score_ok", True, "guard:qualify", {"lead.score": 70}),
        ("dm_known", True, "guard:qualify", {"decision_maker": "Dana"}),
    ]
    assert history[1].criteria == []


def test_history_records_criteria_that_did_not_apply(engine: Engine) -> None:
    """A criterion skipped by its ``when`` is recorded with applies=False."""
    _engaged(engine, tier="basic")
    for at in (minutes(3), minutes(4)):
        engine.record(F, "L1", "call", at=at)
    engine.fire(F, "L1", "commit", at=minutes(5))
    skipped = engine.history(F, "L1")[-1].criteria[0]
    assert (skipped.id, skipped.met, skipped.applies) == ("premium_meeting", True, False)


def test_history_of_a_missing_lead_or_process(engine: Engine) -> None:
    """History of an unknown lead raises LeadNotFound, of an unknown process UnknownProcess."""
    with pytest.raises(LeadNotFound):
        engine.history(P, "L9")
    with pytest.raises(UnknownProcess):
        engine.history("nope", "L9")
    with pytest.raises(UnknownProcess):
        engine.get("nope", "L9")


# -- outbox ----------------------------------------------------------------------------------


def test_every_change_writes_one_cloudevent(engine: Engine) -> None:
    """Each change adds exactly one CloudEvents 1.0 row describing it; no-ops add none."""
    engine.start(P, "L1", {"email": "a@x", "score": 70}, owner="ann", at=T0)
    engine.record(P, "L1", "call", actor="ann", at=minutes(1))
    engine.fire(P, "L1", "contact", actor="ann", at=minutes(2))
    engine.update(P, "L1", {"budget": 100}, at=minutes(3))
    engine.update(P, "L1", {"budget": 100}, at=minutes(3))  # no-op
    engine.assign(P, "L1", "bob", at=minutes(4))
    engine.assign(P, "L1", "bob", at=minutes(4))  # no-op
    engine.fire(P, "L1", "qualify", {"decision_maker": "Dana"}, at=minutes(5))
    engine.fire(P, "L1", "win", at=minutes(6))
    start(engine, "L2")
    engine.fire(P, "L2", "lose", {"lost_reason": "bad_data"}, at=minutes(7))

    rows = outbox(engine)
    assert [r["type"] for r in rows] == [
        "leadflow.lead.started",
        "leadflow.lead.activity_recorded",
        "leadflow.lead.stage_changed",
        "leadflow.lead.updated",
        "leadflow.lead.assigned",
        "leadflow.lead.stage_changed",
        "leadflow.lead.closed_won",
        "leadflow.lead.started",
        "leadflow.lead.closed_lost",
    ]
    others = ("leadflow.lead.task_due", "leadflow.lead.migrated")  # sla/test_sla.py, migration
    lead_changes = {t for t in EVENT_TYPES if "sla" not in t and t not in others}
    assert {r["type"] for r in rows} == lead_changes  # SLA events: sla/test_sla.py
    assert len({r["event_id"] for r in rows}) == len(rows)
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5, 6, 7, 1, 2]
    history = engine.history(P, "L1") + engine.history(P, "L2")
    for row, entry in zip(rows, history, strict=True):
        event = row["event"]
        assert set(event) == {
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "time",
            "datacontenttype",
            "data",
        }
        assert event["specversion"] == "1.0"
        assert event["id"] == row["event_id"]
        assert event["type"] == row["type"]
        assert event["source"] == f"/leadflow/{P}"
        assert event["datacontenttype"] == "application/json"
        assert datetime.fromisoformat(event["time"]) == entry.at
        assert event["data"]["seq"] == entry.seq == row["seq"]
        assert event["data"]["lead_id"] == event["subject"]
        assert event["data"]["process"] == P
    assert [r["event"]["subject"] for r in rows] == ["L1"] * 7 + ["L2"] * 2
    contact = rows[2]["event"]["data"]
    assert (contact["trigger"], contact["from_stage"], contact["to_stage"], contact["actor"]) == (
        "contact",
        "new",
        "contacted",
        "ann",
    )
    assert rows[4]["event"]["data"]["previous_owner"] == "ann"
    assert rows[8]["event"]["data"]["closed"] == "lost"


def test_event_source_is_configurable(make_engine: Callable[..., Engine]) -> None:
    """``event_source`` prefixes the CloudEvents ``source`` of every event."""
    eng = make_engine(event_source="//crm.example.com/leadflow")
    eng.deploy(REFERENCE)
    start(eng)
    assert outbox(eng)[0]["event"]["source"] == f"//crm.example.com/leadflow/{P}"


# -- next steps ------------------------------------------------------------------------------


def test_next_steps_lists_the_options_with_their_criteria(engine: Engine) -> None:
    """next_steps shows the playbook and every allowed trigger with met and unmet criteria."""
    start(engine)
    before = counts(engine)
    steps = engine.next_steps(P, "L1", at=minutes(1))
    assert steps == NextSteps(
        process=P,
        lead_id="L1",
        stage="new",
        closed=None,
        playbook=[
            PlaybookStatus(
                "first_call", "Call the lead", "scripts/first-call.md", "first_call", False
            )
        ],
        options=[
            TriggerOption(
                trigger="contact",
                to="contacted",
                ready=False,
                criteria=[
                    CriterionResult(
                        "called",
                        "Log at least one call",
                        False,
                        "activity",
                        "guard:contact",
                        {"type": "call", "count": 0, "min": 1},
                    )
                ],
                requires=(),
            ),
            TriggerOption(
                trigger="lose", to="lost", ready=True, criteria=[], requires=("lost_reason",)
            ),
        ],
    )
    assert steps.ready == ["lose"]
    assert counts(engine) == before
    engine.record(P, "L1", "first_call", at=minutes(2))
    engine.record(P, "L1", "call", at=minutes(2))
    steps = engine.next_steps(P, "L1", at=minutes(3))
    assert steps.playbook[0].done
    assert steps.ready == ["contact", "lose"]


def test_next_steps_in_a_later_stage_and_when_closed(engine: Engine) -> None:
    """Options follow the stage: exit criteria join the guards; a closed lead has none."""
    contacted(engine, score=65, budget=1)
    steps = engine.next_steps(P, "L1", at=minutes(3))
    assert steps.stage == "contacted"
    qualify = steps.options[0]
    assert [(c.id, c.met) for c in qualify.criteria] == [
        ("budget_known", True),
        ("score_ok", True),
        ("dm_known", False),
    ]
    assert not qualify.ready
    engine.fire(P, "L1", "lose", {"lost_reason": "competitor"}, at=minutes(4))
    steps = engine.next_steps(P, "L1", at=minutes(5))
    assert (steps.stage, steps.closed, steps.options, steps.ready) == ("lost", "lost", [], [])
    with pytest.raises(LeadNotFound):
        engine.next_steps(P, "L9")
