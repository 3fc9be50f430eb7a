"""The kinds of criteria a fire checks (the runtime-features fixture): checklists and
playbooks, stage visits, ``when`` conditions, activity windows and CEL over activities and
times.

Part of the engine's API call by call (the fixtures are in this folder's conftest.py, the
helpers in runtime_support.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runtime_support import (
    CEL_ACTIVITIES,
    T0,
    F,
    P,
    _engaged,
    fails_cleanly,
    minutes,
    start,
)

from leadflow.engine import (
    CriterionResult,
    Engine,
    GuardFailed,
    PlaybookStatus,
)

# -- criteria kinds (runtime-features) -------------------------------------------------------


def test_checklist_criterion_and_playbook_done_flags(engine: Engine) -> None:
    """The checklist follows the playbook items done in this stage visit, as next_steps shows."""
    engine.start(F, "L1", {"email": "a@x"}, at=T0)
    steps = engine.next_steps(F, "L1", at=minutes(1))
    assert steps.playbook == [
        PlaybookStatus("intro_call", "Make the intro call", None, "call", False),
        PlaybookStatus("send_deck", "Send the deck", "templates/deck.md", "send_deck", False),
    ]
    engine.record(F, "L1", "call", at=minutes(1))
    error = fails_cleanly(
        engine, F, "L1", GuardFailed, lambda: engine.fire(F, "L1", "engage", at=minutes(2))
    )
    assert [(c.id, c.kind, c.seen) for c in error.unmet] == [
        ("playbook_done", "checklist", {"intro_call": True, "send_deck": False})
    ]
    assert [p.done for p in engine.next_steps(F, "L1", at=minutes(2)).playbook] == [True, False]
    engine.record(F, "L1", "send_deck", at=minutes(3))
    steps = engine.next_steps(F, "L1", at=minutes(3))
    assert [p.done for p in steps.playbook] == [True, True]
    assert steps.ready == ["engage", "lose"]
    assert engine.fire(F, "L1", "engage", at=minutes(4)).stage == "engaged"


def test_playbook_progress_restarts_when_the_stage_is_entered_again(engine: Engine) -> None:
    """Activities of an earlier visit of a stage do not tick its playbook after a reopen."""
    engine.start(F, "L1", {"email": "a@x"}, at=T0)
    engine.record(F, "L1", "call", at=minutes(1))
    engine.record(F, "L1", "send_deck", at=minutes(1))
    engine.fire(F, "L1", "lose", {"lost_reason": "other"}, at=minutes(2))
    engine.fire(F, "L1", "reopen", at=minutes(3))
    steps = engine.next_steps(F, "L1", at=minutes(4))
    assert [p.done for p in steps.playbook] == [False, False]
    error = fails_cleanly(
        engine, F, "L1", GuardFailed, lambda: engine.fire(F, "L1", "engage", at=minutes(4))
    )
    assert error.unmet[0].seen == {"intro_call": False, "send_deck": False}


def test_stage_visits_are_ordered_by_version_not_by_time(engine: Engine) -> None:
    """Activities recorded after a stage change count for the new visit even if stamped earlier."""
    engine.start(F, "L1", {"email": "a@x"}, at=T0)
    engine.record(F, "L1", "call", at=minutes(1))
    engine.fire(F, "L1", "lose", {"lost_reason": "other"}, at=minutes(1))
    engine.fire(F, "L1", "reopen", at=minutes(1))
    steps = engine.next_steps(F, "L1", at=minutes(2))
    assert [p.done for p in steps.playbook] == [False, False]  # the call was the last visit
    engine.record(F, "L1", "send_deck", at=T0)  # recorded now, stamped before the reopen
    steps = engine.next_steps(F, "L1", at=minutes(2))
    assert [p.done for p in steps.playbook] == [False, True]


def test_when_condition_decides_whether_a_criterion_applies(engine: Engine) -> None:
    """An exit criterion with ``when`` is skipped (met, applies=False, showing what the ``when``
    read) unless it holds."""
    _engaged(engine, tier="basic")
    options = engine.next_steps(F, "L1", at=minutes(3)).options
    commit = next(o for o in options if o.trigger == "commit")
    assert commit.criteria[0] == CriterionResult(
        id="premium_meeting",
        message="Book a meeting with premium leads",
        met=True,
        kind="field_set",
        source="exit:engaged",
        seen={"lead.tier": "basic"},
        applies=False,
    )
    engine.update(F, "L1", {"tier": "premium"}, at=minutes(3))
    options = engine.next_steps(F, "L1", at=minutes(3)).options
    commit = next(o for o in options if o.trigger == "commit")
    assert (commit.criteria[0].met, commit.criteria[0].applies, commit.criteria[0].seen) == (
        False,
        True,
        {"meeting_at": None},
    )


def test_activity_within_window_counts_only_recent_activities(engine: Engine) -> None:
    """``within: 14d`` counts activities in [at - 14d, at]; older ones no longer count."""
    _engaged(engine)  # one call at +1m
    day = timedelta(days=1)
    engine.record(F, "L1", "call", at=minutes(1) + 10 * day)
    engine.record(F, "L1", "call", at=minutes(1) + 14 * day)
    at = minutes(1) + 14 * day
    inst = engine.fire(F, "L1", "commit", at=at)  # the first call is exactly 14 days old
    assert inst.stage == "committed"
    recent = next(c for c in engine.history(F, "L1")[-1].criteria if c.id == "recent_calls")
    assert recent.seen == {"type": "call", "count": 3, "min": 2, "within": "2w"}


def test_activity_outside_the_window_does_not_count(engine: Engine) -> None:
    """Calls older than 14 days do not count for ``within: 14d`` (but do for the total)."""
    _engaged(engine)  # one call at +1m
    engine.record(F, "L1", "call", at=minutes(61))
    at = minutes(1) + timedelta(days=15)
    engine.record(F, "L1", "call", at=at)
    error = fails_cleanly(
        engine, F, "L1", GuardFailed, lambda: engine.fire(F, "L1", "commit", at=at)
    )
    assert [(c.id, c.seen) for c in error.unmet] == [
        ("recent_calls", {"type": "call", "count": 1, "min": 2, "within": "2w"})
    ]


def test_cel_criterion_reads_activity_counts(engine: Engine) -> None:
    """``activities.call`` in CEL is the number of calls recorded on the lead."""
    _engaged(engine)
    engine.record(F, "L1", "call", at=minutes(3))
    error = fails_cleanly(
        engine, F, "L1", GuardFailed, lambda: engine.fire(F, "L1", "commit", at=minutes(4))
    )
    assert [(c.id, c.kind) for c in error.unmet] == [("three_calls", "cel")]
    engine.record(F, "L1", "call", at=minutes(5))
    assert engine.fire(F, "L1", "commit", at=minutes(6)).stage == "committed"


def test_cel_criterion_compares_a_datetime_field_with_now(engine: Engine) -> None:
    """``lead.meeting_at < now`` holds only once the event time is after the meeting."""
    _engaged(engine, meeting_at="2026-01-20T10:00:00+00:00")
    for at in (minutes(3), minutes(4), minutes(5)):
        engine.record(F, "L1", "call", at=at)
    engine.fire(F, "L1", "commit", at=minutes(6))
    error = fails_cleanly(
        engine, F, "L1", GuardFailed, lambda: engine.fire(F, "L1", "win", at=minutes(7))
    )
    assert [(c.id, c.seen) for c in error.unmet] == [
        ("meeting_held", {"lead.meeting_at": "2026-01-20T10:00:00+00:00"})
    ]
    won = engine.fire(F, "L1", "win", at=datetime(2026, 1, 20, 10, 1, tzinfo=UTC))
    assert won.closed == "won"


def test_activities_after_the_event_time_do_not_count(engine: Engine) -> None:
    """A call recorded at 10:00 does not satisfy a contact stated to happen at 09:30."""
    start(engine)
    engine.record(P, "L1", "call", at=minutes(60))
    error = fails_cleanly(
        engine, P, "L1", GuardFailed, lambda: engine.fire(P, "L1", "contact", at=minutes(30))
    )
    assert error.unmet[0].seen == {"type": "call", "count": 0, "min": 1}


def test_cel_counts_an_activity_type_never_recorded_as_zero(engine: Engine) -> None:
    """``activities.email`` is 0, not an error, when no email was ever recorded."""
    engine.deploy(CEL_ACTIVITIES)
    engine.start("cel-activities", "L1", {}, at=T0)
    assert engine.fire("cel-activities", "L1", "finish", at=minutes(1)).closed == "won"
