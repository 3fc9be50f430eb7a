"""``Engine.fire``: moving and closing leads, guards and ``requires``, invalid transitions,
reopen and backward steps, and that a failed fire changes nothing.

Part of the engine's API call by call (the fixtures are in this folder's conftest.py, the
helpers in runtime_support.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from runtime_support import (
    T0,
    F,
    P,
    _engaged,
    contacted,
    fails_cleanly,
    minutes,
    outbox,
    qualified,
    start,
    unmet_ids,
)

from leadflow.engine import (
    CriterionResult,
    Engine,
    GuardFailed,
    Instance,
    InvalidData,
    InvalidTransition,
    LeadNotFound,
    UnknownProcess,
)

# -- fire ------------------------------------------------------------------------------------


def test_fire_moves_the_lead(engine: Engine) -> None:
    """A fire whose criteria hold moves the lead and stamps stage_entered_at with ``at``."""
    start(engine, score=70)
    engine.record(P, "L1", "call", at=minutes(1))
    inst = engine.fire(P, "L1", "contact", actor="ann", at=minutes(2))
    assert inst == Instance(
        process=P,
        lead_id="L1",
        stage="contacted",
        owner=None,
        data={"email": "l1@example.com", "score": 70},
        closed=None,
        version=3,
        definition_version=1,
        probability=None,
        created_at=T0,
        updated_at=minutes(2),
        stage_entered_at=minutes(2),
    )
    assert engine.get(P, "L1") == inst


def test_fire_merges_the_payload_on_success(engine: Engine) -> None:
    """Data sent with a successful fire is merged and recorded as changes."""
    contacted(engine, score=70)
    inst = engine.fire(
        P, "L1", "qualify", {"budget": 5000, "decision_maker": "Dana"}, at=minutes(3)
    )
    assert (inst.stage, inst.probability, inst.version) == ("qualified", 40, 4)
    assert inst.data == {
        "email": "l1@example.com",
        "score": 70,
        "budget": 5000,
        "decision_maker": "Dana",
    }
    assert engine.get(P, "L1") == inst
    entry = engine.history(P, "L1")[-1]
    assert entry.details["changes"] == {"budget": [None, 5000], "decision_maker": [None, "Dana"]}
    assert outbox(engine)[-1]["event"]["data"]["changes"] == entry.details["changes"]


def test_fire_into_won_closes_the_lead(engine: Engine) -> None:
    """Reaching the won stage sets closed=won and the stage's probability."""
    qualified(engine)
    inst = engine.fire(P, "L1", "win", at=minutes(4))
    assert (inst.stage, inst.closed, inst.probability, inst.is_open) == ("won", "won", 100, False)
    assert inst.stage_entered_at == minutes(4)
    assert engine.get(P, "L1") == inst
    assert outbox(engine)[-1]["type"] == "leadflow.lead.closed_won"
    assert engine.history(P, "L1")[-1].details["closed"] == "won"


def test_fire_into_lost_needs_the_required_field(engine: Engine) -> None:
    """``lose`` requires lost_reason in its data, then closes the lead as lost."""
    start(engine)
    error = fails_cleanly(engine, P, "L1", GuardFailed, lambda: engine.fire(P, "L1", "lose"))
    assert error.unmet == (
        CriterionResult(
            id="requires_lost_reason",
            message="Provide 'lost_reason' with 'lose'",
            met=False,
            kind="requires",
            source="guard:lose",
            seen={"lost_reason": None},
        ),
    )
    inst = engine.fire(P, "L1", "lose", {"lost_reason": "competitor"}, at=minutes(1))
    assert (inst.stage, inst.closed, inst.probability) == ("lost", "lost", 0)
    assert inst.data == {"email": "l1@example.com", "lost_reason": "competitor"}
    assert outbox(engine)[-1]["type"] == "leadflow.lead.closed_lost"
    assert engine.history(P, "L1")[-1].criteria == [
        CriterionResult(
            id="requires_lost_reason",
            message="Provide 'lost_reason' with 'lose'",
            met=True,
            kind="requires",
            source="guard:lose",
            seen={"lost_reason": "competitor"},
        )
    ]


def test_requires_wants_the_field_in_the_event_not_in_the_lead(engine: Engine) -> None:
    """A required field already stored on the lead does not satisfy ``requires``."""
    start(engine, lost_reason="no_budget")
    error = fails_cleanly(engine, P, "L1", GuardFailed, lambda: engine.fire(P, "L1", "lose", {}))
    assert unmet_ids(error) == ["requires_lost_reason"]


def test_losing_skips_the_exit_criteria(engine: Engine) -> None:
    """Exit criteria of the stage left do not apply to a transition into a lost stage."""
    contacted(engine)  # no budget: the exit criterion of contacted is unmet
    inst = engine.fire(P, "L1", "lose", {"lost_reason": "not_a_fit"}, at=minutes(3))
    assert inst.stage == "lost"


def test_guard_failed_reports_the_unmet_activity(engine: Engine) -> None:
    """Contact without a call fails with the criterion id, message and count seen (0)."""
    start(engine)
    error = fails_cleanly(engine, P, "L1", GuardFailed, lambda: engine.fire(P, "L1", "contact"))
    assert error.unmet == (
        CriterionResult(
            id="called",
            message="Log at least one call",
            met=False,
            kind="activity",
            source="guard:contact",
            seen={"type": "call", "count": 0, "min": 1},
        ),
    )
    assert (error.trigger, error.stage, error.lead_id, error.code) == (
        "contact",
        "new",
        "L1",
        "guard-failed",
    )
    assert str(error) == (
        f"lead 'L1' in '{P}': cannot 'contact' from 'new': called: Log at least one call"
    )


def test_guard_failed_reports_every_unmet_criterion_with_seen_values(engine: Engine) -> None:
    """Qualify lists the exit criterion and both guards with the values they saw."""
    contacted(engine, score=50)
    error = fails_cleanly(engine, P, "L1", GuardFailed, lambda: engine.fire(P, "L1", "qualify"))
    assert [(c.id, c.source, c.seen) for c in error.unmet] == [
        ("budget_known", "exit:contacted", {"budget": None}),
        ("score_ok", "guard:qualify", {"lead.score": 50}),
        ("dm_known", "guard:qualify", {"decision_maker": None}),
    ]
    assert all(not c.met for c in error.unmet)


def test_guard_sees_the_payload_merged_into_the_lead(engine: Engine) -> None:
    """Payload values count for the criteria, and met criteria are not listed as unmet."""
    contacted(engine, score=50)
    error = fails_cleanly(
        engine,
        P,
        "L1",
        GuardFailed,
        lambda: engine.fire(P, "L1", "qualify", {"budget": 10, "decision_maker": "Dana"}),
    )
    assert unmet_ids(error) == ["score_ok"]
    assert engine.get(P, "L1").data == {"email": "l1@example.com", "score": 50}


def test_cel_criterion_on_an_unset_field_reports_it(engine: Engine) -> None:
    """A CEL criterion reading an unset field is unmet and says which field is not set."""
    contacted(engine, budget=1, decision_maker="Dana")
    error = fails_cleanly(engine, P, "L1", GuardFailed, lambda: engine.fire(P, "L1", "qualify"))
    assert [(c.id, c.seen) for c in error.unmet] == [
        ("score_ok", {"lead.score": None, "error": "score is not set"})
    ]


def test_invalid_transition_names_the_stage_and_allowed_triggers(engine: Engine) -> None:
    """A trigger not allowed from the stage raises InvalidTransition listing the allowed ones."""
    start(engine)
    for trigger in ("win", "qualify", "bogus"):
        error = fails_cleanly(
            engine, P, "L1", InvalidTransition, lambda t=trigger: engine.fire(P, "L1", t)
        )
        assert (error.trigger, error.stage, error.allowed) == (trigger, "new", ("contact", "lose"))
        assert str(error) == (
            f"lead 'L1' in '{P}': '{trigger}' is not allowed from stage 'new' "
            "(allowed: contact, lose)"
        )


def test_a_closed_lead_allows_no_trigger(engine: Engine) -> None:
    """From a closed stage without a reopen transition every trigger is invalid."""
    qualified(engine)
    engine.fire(P, "L1", "win", at=minutes(4))
    for trigger in ("lose", "win", "contact"):
        error = fails_cleanly(
            engine,
            P,
            "L1",
            InvalidTransition,
            lambda t=trigger: engine.fire(P, "L1", t, {"lost_reason": "competitor"}),
        )
        assert error.allowed == ()
        assert str(error).endswith("(allowed: none: the stage is closed)")


def test_fire_on_a_missing_lead_or_process(engine: Engine) -> None:
    """Fire on an unknown lead raises LeadNotFound; on an unknown process UnknownProcess."""
    error = fails_cleanly(engine, P, "NOPE", LeadNotFound, lambda: engine.fire(P, "NOPE", "win"))
    assert (error.process, error.lead_id) == (P, "NOPE")
    assert str(error) == f"lead 'NOPE' has not been started in process '{P}'"
    fails_cleanly(engine, "nope", "L1", UnknownProcess, lambda: engine.fire("nope", "L1", "win"))


FAILED_FIRES: dict[str, tuple[type[Exception], Callable[[Engine], Any]]] = {
    "guard": (GuardFailed, lambda e: e.fire(P, "L1", "qualify", {"budget": 9}, at=minutes(9))),
    "requires": (GuardFailed, lambda e: e.fire(P, "L1", "lose", {"score": 99})),
    "transition": (InvalidTransition, lambda e: e.fire(P, "L1", "win", {"budget": 9})),
    "payload": (InvalidData, lambda e: e.fire(P, "L1", "qualify", {"score": 900, "budget": 1})),
    "unset-required": (InvalidData, lambda e: e.fire(P, "L1", "lose", {"email": None})),
    "unknown-field": (InvalidData, lambda e: e.fire(P, "L1", "lose", {"lost_reasn": "x"})),
    "naive-at": (ValueError, lambda e: e.fire(P, "L1", "lose", at=datetime(2026, 1, 9))),
    "lead": (LeadNotFound, lambda e: e.fire(P, "L2", "contact")),
    "process": (UnknownProcess, lambda e: e.fire("other", "L1", "contact")),
}


@pytest.mark.parametrize("kind", list(FAILED_FIRES))
def test_a_failed_fire_changes_nothing(engine: Engine, kind: str) -> None:
    """Instance, history and every table (outbox included) are unchanged after a failed fire."""
    error, call = FAILED_FIRES[kind]
    contacted(engine, score=10)
    outbox_before = outbox(engine)
    fails_cleanly(engine, P, "L1", error, lambda: call(engine))
    assert outbox(engine) == outbox_before
    assert engine.get(P, "L1").version == 3


def test_reopen_leaves_a_closed_stage_and_clears_fields(engine: Engine) -> None:
    """A ``reopen`` transition moves a lost lead back to an open stage and unsets ``clears``."""
    engine.start(F, "L1", {"email": "a@x"}, at=T0)
    engine.fire(F, "L1", "lose", {"lost_reason": "other"}, at=minutes(1))
    assert engine.next_steps(F, "L1", at=minutes(1)).ready == ["reopen"]
    inst = engine.fire(F, "L1", "reopen", at=minutes(2))
    assert (inst.stage, inst.closed, inst.probability, inst.stage_entered_at) == (
        "open",
        None,
        10,
        minutes(2),
    )
    assert inst.data == {"email": "a@x"}
    assert engine.get(F, "L1") == inst
    assert outbox(engine)[-1]["type"] == "leadflow.lead.stage_changed"
    entry = engine.history(F, "L1")[-1]
    assert (entry.from_stage, entry.to_stage) == ("lost", "open")
    assert entry.details["changes"] == {"lost_reason": ["other", None]}


def test_backward_transition_skips_the_exit_criteria(engine: Engine) -> None:
    """A ``backward`` step leaves a stage whose exit criteria are unmet; others cannot."""
    _engaged(engine, tier="premium")  # premium without meeting_at: engaged's exit is unmet
    ready = engine.next_steps(F, "L1", at=minutes(3)).ready
    assert ready == ["back", "lose"]
    inst = engine.fire(F, "L1", "back", at=minutes(3))
    assert (inst.stage, inst.stage_entered_at) == ("open", minutes(3))
    assert engine.history(F, "L1")[-1].criteria == []
