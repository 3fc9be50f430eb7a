"""Accept or pass: a routed lead the owner passes on (with a reason) or does not accept in time
moves to the next available member, with the reason in history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from leadflow.engine import Engine, InvalidData
from leadflow.engine.testing import ManualClock

ACCEPT = Path(__file__).parents[2] / "definitions" / "auto" / "accept.yaml"
P = "accept-or-pass"


@pytest.fixture
def engine(db_url: str) -> Iterator[tuple[Engine, ManualClock]]:
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    with Engine(db_url, clock=clock, create=True) as e:
        e.deploy(ACCEPT)
        yield e, clock


def test_a_pass_moves_the_lead_on_with_the_reason(engine: tuple[Engine, ManualClock]) -> None:
    """Ana passes (a reason is required): the routing rules give it to someone else."""
    e, _ = engine
    first = e.start(P, "L1", {"email": "a@x.io"}).owner
    with pytest.raises(InvalidData, match="say why"):
        e.pass_lead(P, "L1", "  ", actor=first)
    passed = e.pass_lead(P, "L1", "out tomorrow", actor=first)
    assert passed.owner not in (None, first)
    last = e.history(P, "L1")[-1]
    assert (last.kind, last.actor) == ("assigned", first)
    assert last.details["reason"].startswith("passed: out tomorrow; ")
    e.fire(P, "L1", "win")
    with pytest.raises(InvalidData, match="is closed"):
        e.pass_lead(P, "L1", "too late")


def test_a_lead_not_accepted_in_time_moves_on_and_an_accepted_one_stays(
    engine: tuple[Engine, ManualClock],
) -> None:
    """The accept SLA (anchor: assigned, fulfilled by an ``accepted`` activity, reassign at
    100%) moves an unaccepted lead after 15 minutes; an accepted one stays put."""
    e, clock = engine
    slow = e.start(P, "slow", {"email": "s@x.io"}).owner
    kept = e.start(P, "kept", {"email": "k@x.io"}).owner
    e.record(P, "kept", "accepted", actor=kept)
    clock.advance(timedelta(minutes=16))
    e.run_due()
    assert e.get(P, "slow").owner not in (None, slow)
    assert e.get(P, "kept").owner == kept
