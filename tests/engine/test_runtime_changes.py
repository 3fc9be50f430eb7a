"""``Engine.update``, ``record`` and ``assign``: what each change writes, the no-ops that write
nothing, and the refusals that change nothing.

Part of the engine's API call by call (the fixtures are in this folder's conftest.py, the
helpers in runtime_support.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from runtime_support import (
    T0,
    P,
    counts,
    fails_cleanly,
    minutes,
    outbox,
    snapshot,
    start,
)

from leadflow.engine import (
    Engine,
    FieldIssue,
    InvalidData,
    LeadNotFound,
)

# -- update ----------------------------------------------------------------------------------


def test_update_changes_and_unsets_fields(engine: Engine) -> None:
    """Update writes the changes (None unsets) as one history row per call."""
    start(engine, score=40)
    inst = engine.update(P, "L1", {"score": 70, "segment": "smb"}, actor="ann", at=minutes(1))
    assert (inst.version, inst.updated_at, inst.stage_entered_at) == (2, minutes(1), T0)
    assert inst.data == {"email": "l1@example.com", "score": 70, "segment": "smb"}
    inst = engine.update(P, "L1", {"score": None}, at=minutes(2))
    assert inst.data == {"email": "l1@example.com", "segment": "smb"}
    assert engine.get(P, "L1") == inst
    history = engine.history(P, "L1")
    assert [(h.seq, h.kind, h.actor, h.details) for h in history[1:]] == [
        (2, "updated", "ann", {"changes": {"score": [40, 70], "segment": [None, "smb"]}}),
        (3, "updated", None, {"changes": {"score": [70, None]}}),
    ]


def test_update_cannot_unset_a_required_field(engine: Engine) -> None:
    """Unsetting a required field raises InvalidData and changes nothing."""
    start(engine)
    error = fails_cleanly(
        engine, P, "L1", InvalidData, lambda: engine.update(P, "L1", {"email": None})
    )
    assert error.issues == (FieldIssue("email", "is required"),)


@pytest.mark.parametrize(
    "data",
    [{"score": 40}, {"budget": None}, {}, {"score": 40.0}],
    ids=["same-value", "unset-unset", "empty", "same-normalised"],
)
def test_update_that_changes_nothing_writes_nothing(engine: Engine, data: dict[str, Any]) -> None:
    """An update without an effective change returns the lead and writes no row."""
    inst = start(engine, score=40)
    before = snapshot(engine, P, "L1")
    assert engine.update(P, "L1", data, at=minutes(5)) == inst
    assert snapshot(engine, P, "L1") == before


def test_update_rejects_invalid_data_and_unknown_leads(engine: Engine) -> None:
    """Invalid values raise InvalidData, unknown leads LeadNotFound; nothing changes."""
    start(engine)
    error = fails_cleanly(
        engine,
        P,
        "L1",
        InvalidData,
        lambda: engine.update(P, "L1", {"score": 70, "segment": "tiny"}),
    )
    assert [i.field for i in error.issues] == ["segment"]
    fails_cleanly(engine, P, "L9", LeadNotFound, lambda: engine.update(P, "L9", {"score": 1}))


# -- record ----------------------------------------------------------------------------------


def test_record_appends_an_activity(engine: Engine) -> None:
    """Record bumps the version, keeps the stage and logs type, data and actor."""
    start(engine)
    inst = engine.record(P, "L1", "call", {"outcome": "voicemail"}, actor="ann", at=minutes(1))
    assert (inst.stage, inst.version, inst.updated_at, inst.stage_entered_at) == (
        "new",
        2,
        minutes(1),
        T0,
    )
    assert engine.get(P, "L1") == inst
    entry = engine.history(P, "L1")[-1]
    assert (entry.seq, entry.kind, entry.actor, entry.at, entry.from_stage, entry.to_stage) == (
        2,
        "activity",
        "ann",
        minutes(1),
        None,
        None,
    )
    assert entry.details == {"activity": {"type": "call", "data": {"outcome": "voicemail"}}}
    assert counts(engine)["lf_activities"] == 1


def test_recorded_activities_are_counted(engine: Engine) -> None:
    """next_steps reports the number of calls recorded so far."""
    start(engine)
    for n in range(3):
        engine.record(P, "L1", "call", at=minutes(n + 1))
    contact = engine.next_steps(P, "L1", at=minutes(5)).options[0]
    assert contact.criteria[0].seen == {"type": "call", "count": 3, "min": 1}
    assert contact.ready


def test_record_stores_dates_in_data_as_text(engine: Engine) -> None:
    """Activity data may hold datetimes; they are stored as ISO text."""
    start(engine)
    engine.record(P, "L1", "meeting", {"starts": datetime(2026, 1, 6, 9, tzinfo=UTC)})
    details = engine.history(P, "L1")[-1].details
    assert details == {
        "activity": {"type": "meeting", "data": {"starts": "2026-01-06T09:00:00+00:00"}}
    }


@pytest.mark.parametrize("activity_type", ["", "two words", "a-b", "call!"])
def test_record_rejects_a_bad_activity_type(engine: Engine, activity_type: str) -> None:
    """Activity types are names; anything else raises InvalidData on activity_type."""
    start(engine)
    error = fails_cleanly(
        engine, P, "L1", InvalidData, lambda: engine.record(P, "L1", activity_type)
    )
    assert [i.field for i in error.issues] == ["activity_type"]


def test_record_rejects_an_over_long_activity_type_on_every_backend(engine: Engine) -> None:
    """A 65-character activity type raises InvalidData (not a storage error) everywhere."""
    start(engine)
    error = fails_cleanly(engine, P, "L1", InvalidData, lambda: engine.record(P, "L1", "c" * 65))
    assert [i.field for i in error.issues] == ["activity_type"]


def test_record_rejects_data_that_is_not_json(engine: Engine) -> None:
    """Activity data that cannot be stored raises InvalidData on ``data``."""
    start(engine)
    error = fails_cleanly(
        engine, P, "L1", InvalidData, lambda: engine.record(P, "L1", "call", {"x": object()})
    )
    assert error.issues == (FieldIssue("data", "object values cannot be stored as JSON"),)


def test_record_on_a_missing_lead(engine: Engine) -> None:
    """Recording on a lead never started raises LeadNotFound and stores no activity."""
    fails_cleanly(engine, P, "L9", LeadNotFound, lambda: engine.record(P, "L9", "call"))


# -- assign ----------------------------------------------------------------------------------


def test_assign_changes_the_owner(engine: Engine) -> None:
    """Assign sets the owner and logs it with the previous one; None unassigns."""
    start(engine)
    inst = engine.assign(P, "L1", "ann", actor="lead-router", at=minutes(1))
    assert (inst.owner, inst.version, inst.updated_at) == ("ann", 2, minutes(1))
    inst = engine.assign(P, "L1", "bob", at=minutes(2))
    inst = engine.assign(P, "L1", None, at=minutes(3))
    assert inst.owner is None
    assert engine.get(P, "L1") == inst
    assert [(h.kind, h.actor, h.details) for h in engine.history(P, "L1")[1:]] == [
        ("assigned", "lead-router", {"owner": "ann", "previous_owner": None}),
        ("assigned", None, {"owner": "bob", "previous_owner": "ann"}),
        ("assigned", None, {"owner": None, "previous_owner": "bob"}),
    ]
    assert [e["type"] for e in outbox(engine)[1:]] == ["leadflow.lead.assigned"] * 3


def test_assign_to_the_current_owner_writes_nothing(engine: Engine) -> None:
    """Assigning the owner the lead already has is a no-op."""
    inst = engine.start(P, "L1", {"email": "a@x"}, owner="ann")
    before = snapshot(engine, P, "L1")
    assert engine.assign(P, "L1", "ann", at=minutes(1)) == inst
    assert snapshot(engine, P, "L1") == before


def test_assign_a_missing_lead(engine: Engine) -> None:
    """Assigning a lead never started raises LeadNotFound."""
    fails_cleanly(engine, P, "L9", LeadNotFound, lambda: engine.assign(P, "L9", "ann"))


def test_assign_rejects_an_over_long_owner_on_every_backend(engine: Engine) -> None:
    """An owner id longer than the 255 characters stored raises InvalidData everywhere."""
    start(engine)
    fails_cleanly(engine, P, "L1", InvalidData, lambda: engine.assign(P, "L1", "o" * 256))
