"""Properties of every call at once: naive times are refused by all of them, and a scenario
run with a fresh Engine for every step gives the same results as one engine.

Part of the engine's API call by call (the fixtures are in this folder's conftest.py, the
helpers in runtime_support.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from runtime_support import (
    FEATURES,
    REFERENCE,
    REFERENCE_V2,
    T0,
    F,
    P,
    fails_cleanly,
    minutes,
    outbox,
    start,
)

from leadflow.engine import (
    BatchResult,
    Engine,
    LeadflowError,
)
from leadflow.engine.testing import ManualClock

# -- times -----------------------------------------------------------------------------------

NAIVE = datetime(2026, 1, 5, 10, 0)
NAIVE_CALLS: dict[str, Callable[[Engine], Any]] = {
    "start": lambda e: e.start(P, "N1", {"email": "n@x"}, at=NAIVE),
    "fire": lambda e: e.fire(P, "L1", "contact", at=NAIVE),
    "update": lambda e: e.update(P, "L1", {"score": 1}, at=NAIVE),
    "record": lambda e: e.record(P, "L1", "call", at=NAIVE),
    "assign": lambda e: e.assign(P, "L1", "ann", at=NAIVE),
    "next_steps": lambda e: e.next_steps(P, "L1", at=NAIVE),
    "start_many": lambda e: e.start_many(P, [("N1", {"email": "n@x"})], at=NAIVE),
    "start_many-item": lambda e: e.start_many(
        P, [("N2", {"email": "n@x"}), {"lead_id": "N1", "data": {"email": "n@x"}, "at": NAIVE}]
    ),
    "fire_many": lambda e: e.fire_many(P, [("L1", "contact")], at=NAIVE),
    "fire_many-item": lambda e: e.fire_many(
        P, [{"lead_id": "L1", "trigger": "contact", "at": NAIVE}]
    ),
}


@pytest.mark.parametrize("call", list(NAIVE_CALLS))
def test_naive_times_are_rejected(engine: Engine, call: str) -> None:
    """``at=`` without a timezone raises a ValueError saying so, and nothing is written."""
    start(engine)
    engine.record(P, "L1", "call", at=minutes(1))
    error = fails_cleanly(engine, P, "L1", ValueError, lambda: NAIVE_CALLS[call](engine))
    assert str(error) == (
        "2026-01-05T10:00:00 has no timezone; pass an aware datetime "
        "(for example datetime(..., tzinfo=UTC))"
    )
    assert not isinstance(error, LeadflowError)


# -- a fresh engine between every step ---------------------------------------------------------


def _normalise(value: Any) -> Any:
    """Results made comparable: errors and batch failures as (type, message)."""
    if isinstance(value, BaseException):
        return (type(value).__name__, str(value))
    if isinstance(value, BatchResult):
        return (value.succeeded, [(f.index, f.lead_id, _normalise(f.error)) for f in value.failed])
    return value


def _attempt(call: Callable[[], Any]) -> Any:
    try:
        return _normalise(call())
    except LeadflowError as exc:
        return _normalise(exc)


SCENARIO: list[Callable[[Engine], Any]] = [
    lambda e: e.deploy(REFERENCE),
    lambda e: e.start(P, "R1", {"email": "r1@x", "score": 70}, owner="ann", at=minutes(1)),
    lambda e: e.start(P, "R2", {"email": "r2@x", "score": 40}, at=minutes(1)),
    lambda e: e.fire(P, "R1", "contact", at=minutes(2)),
    lambda e: e.record(P, "R1", "call", {"outcome": "reached"}, actor="ann", at=minutes(3)),
    lambda e: e.next_steps(P, "R1", at=minutes(4)),
    lambda e: e.fire(P, "R1", "contact", actor="ann", at=minutes(5)),
    lambda e: e.fire(P, "R1", "qualify", at=minutes(6)),
    lambda e: e.update(P, "R1", {"budget": 1000}, at=minutes(7)),
    lambda e: e.update(P, "R1", {"budget": 1000}, at=minutes(8)),
    lambda e: e.assign(P, "R1", "bob", at=minutes(9)),
    lambda e: e.deploy(REFERENCE_V2),
    lambda e: e.start(P, "R3", {"email": "r3@x", "score": 70}, at=minutes(10)),
    lambda e: e.fire(P, "R1", "qualify", {"decision_maker": "Dana"}, at=minutes(11)),
    lambda e: e.fire_many(
        P,
        [("R1", "win"), ("R2", "contact"), ("R3", "lose", {"lost_reason": "competitor"})],
        at=minutes(12),
    ),
    lambda e: e.start_many(P, [("R4", {"email": "r4@x"}), ("R1", {"email": "x@x"})]),
    lambda e: e.next_steps(P, "R2", at=minutes(13)),
    lambda e: e.deploy(FEATURES),
    lambda e: e.start(F, "R1", {"email": "f@x", "tier": "premium"}, at=minutes(14)),
    lambda e: e.record(F, "R1", "call", at=minutes(15)),
    lambda e: e.next_steps(F, "R1", at=minutes(16)),
    lambda e: e.record(F, "R1", "send_deck", at=minutes(16)),
    lambda e: e.fire(F, "R1", "engage", at=minutes(17)),
    lambda e: e.fire(F, "R1", "commit", at=minutes(18)),
    lambda e: e.fire(F, "R1", "back", at=minutes(19)),
    lambda e: e.fire(F, "R1", "lose", {"lost_reason": "other"}, at=minutes(20)),
    lambda e: e.fire(F, "R1", "reopen", at=minutes(21)),
    lambda e: e.next_steps(F, "R1", at=minutes(22)),
    lambda e: e.history(F, "R1"),
    lambda e: e.processes(),
    lambda e: [e.get(P, lead) for lead in ("R1", "R2", "R3", "R4")],
    lambda e: [e.history(P, lead) for lead in ("R1", "R2", "R3", "R4")],
]


def test_a_fresh_engine_between_steps_gives_the_same_results(
    db_url: str, other_db_url: str
) -> None:
    """Running a scenario with a new Engine for every step equals running it on one engine."""
    clock = ManualClock(T0)
    with Engine(other_db_url, clock=clock, create=True) as one:
        expected = [_attempt(lambda step=step: step(one)) for step in SCENARIO]
        expected_events = [(r["seq"], r["type"], r["event"]["subject"]) for r in outbox(one)]
    results = []
    for step in SCENARIO:
        with Engine(db_url, clock=clock, create=True) as fresh:
            results.append(_attempt(lambda step=step, fresh=fresh: step(fresh)))
    for n, (got, want) in enumerate(zip(results, expected, strict=True)):
        assert got == want, f"step {n}"
    with Engine(db_url, clock=clock) as last:
        assert [(r["seq"], r["type"], r["event"]["subject"]) for r in outbox(last)] == (
            expected_events
        )
    # spot checks that the scenario did what it says
    assert expected[3][0] == "GuardFailed"
    assert expected[7][0] == "GuardFailed"
    assert [(h.kind, h.to_stage) for h in expected[-4]] == [
        ("started", "open"),
        ("activity", None),
        ("activity", None),
        ("transition", "engaged"),
        ("transition", "open"),
        ("transition", "lost"),
        ("transition", "open"),
    ]
    final = expected[-2]
    assert [(i.stage, i.version, i.definition_version) for i in final] == [
        ("won", 7, 1),
        ("new", 1, 1),
        ("lost", 2, 2),
        ("new", 1, 2),
    ]
