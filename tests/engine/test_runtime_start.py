"""``Engine.start`` and the lead-data contract: what a start stores, every way the data or the
lead id can be wrong, and that a refused start changes nothing.

Part of the engine's API call by call (the fixtures are in this folder's conftest.py, the
helpers in runtime_support.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from runtime_support import (
    T0,
    F,
    P,
    counts,
    fails_cleanly,
    minutes,
    start,
)

from leadflow.engine import (
    DuplicateLead,
    Engine,
    FieldIssue,
    Instance,
    InvalidData,
    UnknownProcess,
)
from leadflow.engine.testing import ManualClock

# -- start -----------------------------------------------------------------------------------


def test_start_creates_the_instance_in_the_initial_stage(engine: Engine) -> None:
    """Start returns version 1 in the initial stage with every time set to ``at``."""
    at = datetime(2026, 1, 5, 11, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    inst = engine.start(P, "L1", {"email": "a@example.com", "score": 55}, owner="ann", at=at)
    assert inst == Instance(
        process=P,
        lead_id="L1",
        stage="new",
        owner="ann",
        data={"email": "a@example.com", "score": 55},
        closed=None,
        version=1,
        definition_version=1,
        probability=None,
        created_at=at,
        updated_at=at,
        stage_entered_at=at,
    )
    assert inst.is_open
    stored = engine.get(P, "L1")
    assert stored == inst
    assert stored.stage_entered_at.utcoffset() == timedelta(0)
    assert stored.stage_entered_at == datetime(2026, 1, 5, 9, 30, 15, 123456, tzinfo=UTC)


def test_start_defaults_to_the_clock(engine: Engine, clock: ManualClock) -> None:
    """Without ``at`` the start happens at the engine clock's now."""
    clock.advance(timedelta(hours=3))
    inst = engine.start(P, "L1", {"email": "a@example.com"})
    assert inst.created_at == T0 + timedelta(hours=3)
    assert engine.history(P, "L1")[0].at == T0 + timedelta(hours=3)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        pytest.param(
            {"email": "a@x", "scroe": 1},
            "scroe",
            "not a field of this process (did you mean 'score'?) (fields: email, score, "
            "segment, budget, decision_maker, lost_reason)",
            id="unknown-field",
        ),
        pytest.param({"email": 5}, "email", "expected text, got integer", id="wrong-type"),
        pytest.param(
            {"email": "a@x", "segment": "huge"},
            "segment",
            "'huge' is not one of: smb, mid_market, enterprise",
            id="enum-value",
        ),
        pytest.param(
            {"email": "a@x", "score": 101}, "score", "value 101 is above the maximum 100", id="max"
        ),
        pytest.param(
            {"email": "a@x", "score": -1}, "score", "value -1 is below the minimum 0", id="min"
        ),
        pytest.param(
            {"email": "a@x", "score": 5.5},
            "score",
            "expected a whole number, got 5.5",
            id="fraction",
        ),
        pytest.param(
            {"email": "a@x", "score": True},
            "score",
            "expected a whole number, got boolean",
            id="bool-is-no-integer",
        ),
        pytest.param(
            {"email": "a@x", "budget": "lots"}, "budget", "expected a number, got text", id="number"
        ),
        pytest.param(
            {"email": "a@x", "score": 10**40},
            "score",
            "a number of 133 bits is out of range: whole numbers are between "
            "-9223372036854775808 and 9223372036854775807 (use a string field for longer digit "
            "strings)",
            id="integer-beyond-storage",
        ),
        pytest.param(
            {"email": "a@x", "score": 2**63},
            "score",
            "9223372036854775808 is out of range: whole numbers are between "
            "-9223372036854775808 and 9223372036854775807 (use a string field for longer digit "
            "strings)",
            id="integer-just-beyond-storage",
        ),
        pytest.param(
            {"email": "a@x", "budget": -(2**70)},
            "budget",
            "-1180591620717411303424 is out of range: whole numbers are between "
            "-9223372036854775808 and 9223372036854775807 (use a string field for longer digit "
            "strings)",
            id="number-given-as-a-huge-integer",
        ),
        pytest.param({}, "email", "is required", id="required-missing"),
        pytest.param({"email": None}, "email", "is required", id="required-null"),
        pytest.param({"email": ""}, "email", "is required", id="required-empty"),
    ],
)
def test_start_rejects_invalid_data(
    engine: Engine, data: dict[str, Any], field: str, message: str
) -> None:
    """Data breaking the field contract raises InvalidData naming the field; nothing is stored."""
    error = fails_cleanly(engine, P, "L1", InvalidData, lambda: engine.start(P, "L1", data))
    assert error.issues == (FieldIssue(field, message),)
    assert (error.process, error.lead_id, error.code) == (P, "L1", "invalid-data")
    assert f"invalid data: {field}: {message}" in str(error)


def test_start_reports_every_issue_at_once(engine: Engine) -> None:
    """Every broken field is listed in one InvalidData, in the order given."""
    error = fails_cleanly(
        engine, P, "L1", InvalidData, lambda: engine.start(P, "L1", {"score": 500, "x": 1})
    )
    assert [i.field for i in error.issues] == ["score", "x", "email"]


def test_start_normalises_typed_fields(engine: Engine) -> None:
    """Datetimes are stored in UTC, dates as ISO text, integral floats as ints, extras kept."""
    inst = engine.start(
        F,
        "L1",
        {
            "email": "a@x",
            "meeting_at": "2026-01-10T10:00:00+01:00",
            "close_date": datetime(2026, 2, 1, tzinfo=UTC).date(),
            "tags": ("a", "b"),
            "source": {"campaign": "spring", "clicks": 3},
        },
        at=T0,
    )
    expected = {
        "email": "a@x",
        "meeting_at": "2026-01-10T09:00:00+00:00",
        "close_date": "2026-02-01",
        "tags": ["a", "b"],
        "source": {"campaign": "spring", "clicks": 3},
    }
    assert inst.data == expected
    assert engine.get(F, "L1").data == expected
    assert start(engine, "L2", score=70.0).data == {"email": "l2@example.com", "score": 70}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        pytest.param(
            {"meeting_at": "2026-01-10T10:00:00"},
            "meeting_at",
            "'2026-01-10T10:00:00' has no timezone; add one (2026-01-31T09:00:00+01:00)",
            id="naive-datetime",
        ),
        pytest.param(
            {"close_date": "soon"},
            "close_date",
            "expected a date (YYYY-MM-DD), got 'soon'",
            id="date",
        ),
        pytest.param(
            {"tags": ["a", "b", "c", "d"]},
            "tags",
            "the number of items 4 is above the maximum 3",
            id="list-max",
        ),
        pytest.param({"tags": [1]}, "tags", "item 0: expected text, got integer", id="list-item"),
    ],
)
def test_start_rejects_invalid_typed_fields(
    engine: Engine, data: dict[str, Any], field: str, message: str
) -> None:
    """Datetime, date and list fields are checked on start too."""
    error = fails_cleanly(
        engine, F, "L1", InvalidData, lambda: engine.start(F, "L1", {"email": "a@x", **data})
    )
    assert error.issues == (FieldIssue(field, message),)


def test_start_returns_what_get_reads_back_for_extra_fields(engine: Engine) -> None:
    """With ``extra: allow`` the instance start returns equals the stored one (JSON values)."""
    inst = engine.start(
        F, "L1", {"email": "a@x", "seen_at": datetime(2026, 1, 1, tzinfo=UTC), "pair": (1, 2)}
    )
    assert inst == engine.get(F, "L1")
    assert inst.data == {"email": "a@x", "seen_at": "2026-01-01T00:00:00+00:00", "pair": [1, 2]}


def test_start_rejects_extra_values_that_are_not_json(engine: Engine) -> None:
    """An undeclared field whose value cannot be stored raises InvalidData naming the field."""
    error = fails_cleanly(
        engine, F, "L1", InvalidData, lambda: engine.start(F, "L1", {"email": "a@x", "x": object()})
    )
    assert [i.field for i in error.issues] == ["x"]


def test_start_duplicate_lead(engine: Engine) -> None:
    """Starting a lead twice raises DuplicateLead and leaves the first instance as it was."""
    first = start(engine, score=10)
    error = fails_cleanly(
        engine, P, "L1", DuplicateLead, lambda: start(engine, score=90, at=minutes(5))
    )
    assert (error.process, error.lead_id, error.code) == (P, "L1", "duplicate-lead")
    assert str(error) == f"lead 'L1' is already started in process '{P}'"
    assert engine.get(P, "L1") == first


def test_the_same_lead_id_runs_in_two_processes(engine: Engine) -> None:
    """A lead id is unique per process, not globally."""
    start(engine)
    other = engine.start(F, "L1", {"email": "a@x"})
    assert (other.process, other.stage) == (F, "open")
    assert engine.get(P, "L1").stage == "new"


def test_start_unknown_process(engine: Engine) -> None:
    """Starting in an undeployed process raises UnknownProcess and writes nothing."""
    error = fails_cleanly(
        engine, "nope", "L1", UnknownProcess, lambda: engine.start("nope", "L1", {"email": "a"})
    )
    assert error.process == "nope"


@pytest.mark.parametrize("lead_id", ["", "x" * 256], ids=["empty", "too-long"])
def test_start_rejects_a_bad_lead_id_naming_it(engine: Engine, lead_id: str) -> None:
    """An empty or over-long lead id raises InvalidData whose issue names ``lead_id``."""
    error = fails_cleanly(engine, P, lead_id, InvalidData, lambda: start(engine, lead_id))
    assert error.issues == (
        FieldIssue("lead_id", "must be non-empty text of at most 255 characters"),
    )


def test_start_accepts_a_255_character_lead_id(engine: Engine) -> None:
    """255 characters is the longest lead id, and it round-trips."""
    lead_id = "L" * 255
    assert start(engine, lead_id).lead_id == lead_id
    assert engine.get(P, lead_id).lead_id == lead_id


def test_data_that_is_not_a_mapping_is_invalid_data(engine: Engine) -> None:
    """A list or text where lead data belongs is InvalidData naming ``data``, not a crash."""
    start(engine)
    before = counts(engine)
    for call in (
        lambda: engine.start(P, "L2", ["email", "x"]),  # type: ignore[arg-type]
        lambda: engine.update(P, "L1", "budget=5"),  # type: ignore[arg-type]
        lambda: engine.fire(P, "L1", "lose", [("lost_reason", "bad_data")]),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidData) as info:
            call()
        assert [i.field for i in info.value.issues] == ["data"]
        assert "must be a mapping" in str(info.value)
    assert counts(engine) == before


def test_a_lead_id_that_is_not_text_is_invalid_data(engine: Engine) -> None:
    """Lead ids are text on every backend; a number is InvalidData, not a database error."""
    start(engine)
    with pytest.raises(InvalidData) as info:
        engine.fire(P, 42, "lose", {"lost_reason": "bad_data"})  # type: ignore[arg-type]
    assert [i.field for i in info.value.issues] == ["lead_id"]
