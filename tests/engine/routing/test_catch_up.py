"""Fair catch-up: members skipped while away or at capacity get their turns back (or not).

Leads start through ``Engine.start`` on a manual clock, so the start path routes them; the
``fair`` team has ``catch_up: true``, the ``plain`` team the default (a skipped turn is lost).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from leadflow.definitions import ProcessDefinition, load_definition
from leadflow.engine import Engine
from leadflow.engine.routing import set_away
from leadflow.engine.testing import ManualClock

FIXTURE = Path(__file__).parents[2] / "definitions" / "routing" / "catch-up.yaml"
P = "catchup"
MON = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def variant(*replacements: tuple[str, str]) -> ProcessDefinition:
    """The fixture with each ``(old, new)`` text replaced once."""
    text = FIXTURE.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return load_definition(text)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MON)


@pytest.fixture
def engine(db_url: str, clock: ManualClock) -> Iterator[Engine]:
    """An engine with the catch-up fixture deployed: SQLite, then PostgreSQL."""
    eng = Engine(db_url, clock=clock, create=True)
    eng.deploy(FIXTURE)
    yield eng
    eng.close()


def starts(engine: Engine, clock: ManualClock, prefix: str, n: int, **data: Any) -> list[str]:
    """Start ``n`` leads an hour apart; their owners."""
    out = []
    for i in range(n):
        clock.advance(timedelta(hours=1))
        lead = engine.start(P, f"{prefix}{i}", {"email": f"{prefix}{i}@x.test", **data})
        out.append(lead.owner or "")
    return out


def test_a_member_back_from_away_catches_up_the_turns_missed(
    engine: Engine, clock: ManualClock
) -> None:
    """ben, skipped three times while away, gets the next three leads; then the rotation goes on."""
    set_away(engine.store, "ben", MON, MON + timedelta(hours=6, minutes=30), "dentist")
    assert starts(engine, clock, "a", 6) == ["ana", "cy", "ana", "cy", "ana", "cy"]
    assert starts(engine, clock, "b", 5) == ["ben", "ben", "ben", "ana", "ben"]
    history = engine.history(P, "b1")
    assert (
        history[0].details["reason"]
        == "catch-up turn in fair (1 turn still owed to ben) (routing rule 2)"
    )


def test_without_catch_up_a_skipped_turn_is_lost(engine: Engine, clock: ManualClock) -> None:
    """The default rotation just walks on: eve, back, gets no more than her turn."""
    set_away(engine.store, "eve", MON, MON + timedelta(hours=6, minutes=30))
    got = starts(engine, clock, "a", 6, segment="enterprise")
    assert got == ["dan", "fay", "dan", "fay", "dan", "fay"]
    assert starts(engine, clock, "b", 3, segment="enterprise") == ["dan", "eve", "fay"]


@pytest.mark.parametrize(
    ("limit", "after"), [(None, ["ana", "ana", "ana"]), (1, ["ana", "ana", "ben"])]
)
def test_members_at_capacity_are_owed_turns_up_to_the_limit(
    db_url: str, clock: ManualClock, limit: int | None, after: list[str]
) -> None:
    """ana at capacity is skipped twice; once free she catches up both turns, or one with a limit
    of 1, before her own regular turn."""

    members = "members: [{id: ana, capacity: 1}, ben, cy]"
    if limit is not None:
        members += f"\n    catch_up_limit: {limit}"
    engine = Engine(db_url, clock=clock, create=True)
    try:
        engine.deploy(variant(("members: [ana, ben, cy]", members)))
        assert starts(engine, clock, "a", 7) == ["ana", "ben", "cy", "ben", "cy", "ben", "cy"]
        engine.fire(P, "a0", "win")
        got = []
        for i in range(3):  # each lead is won at once, so ana stays under capacity
            got += starts(engine, clock, f"b{i}-", 1)
            engine.fire(P, f"b{i}-0", "win")
        assert got == after
    finally:
        engine.close()


def test_outside_working_hours_owes_nothing(db_url: str, clock: ManualClock) -> None:
    """A member skipped because their calendar is closed is not owed the turn."""

    late = variant(
        ("teams:", 'calendars:\n  late: {timezone: UTC, hours: {mon-fri: "20:00-23:00"}}\nteams:'),
        ("members: [ana, ben, cy]", "members: [ana, {id: ben, calendar: late}, cy]"),
    )
    engine = Engine(db_url, clock=clock, create=True)
    try:
        engine.deploy(late)
        assert starts(engine, clock, "a", 4) == ["ana", "cy", "ana", "cy"]  # 16:00-19:00 UTC
        assert starts(engine, clock, "b", 3) == ["ana", "ben", "cy"]  # 20:00 on: no debt
    finally:
        engine.close()


def test_a_queued_lead_owes_nobody(engine: Engine, clock: ManualClock) -> None:
    """With everyone away the lead waits in the queue and nobody is owed a turn for it."""
    for rep in ("ana", "ben", "cy"):
        set_away(engine.store, rep, MON, MON + timedelta(hours=1, minutes=30))
    assert starts(engine, clock, "a", 1) == ["queue:fair"]
    assert starts(engine, clock, "b", 3) == ["ana", "ben", "cy"]


def test_weighted_rotations_catch_up_to_their_weights(db_url: str, clock: ManualClock) -> None:
    """Weights 2:1 with ben away for six leads: ana gets all six; then ben catches up his three
    turns and after 15 leads the split is the weights' 10:5."""
    weighted = variant(
        (
            "members: [ana, ben, cy]",
            "members: [{id: ana, weight: 2}, ben]\n    strategy: weighted_round_robin",
        )
    )
    with Engine(db_url, clock=clock, create=True) as engine:
        engine.deploy(weighted)
        set_away(engine.store, "ben", MON, MON + timedelta(hours=6, minutes=30))
        assert starts(engine, clock, "a", 6) == ["ana"] * 6
        later = starts(engine, clock, "b", 9)
        assert later[:3] == ["ben"] * 3
        assert later.count("ben") == 5
        assert later.count("ana") == 4
