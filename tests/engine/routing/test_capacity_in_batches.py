"""Capacity and least-loaded routing inside one batch transaction: the sweep and ``fire_many``
write their leads after planning the whole batch, so every routing decision of the batch must
count the leads the batch already moved, as one-by-one calls would."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.definitions import load_definition
from leadflow.engine import Engine
from leadflow.engine.testing import ManualClock

ESCALATE = Path(__file__).parents[2] / "definitions" / "worker" / "escalate.yaml"
P = "worker-escalate"
T0 = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # a Monday afternoon


def _escalate(team: str) -> str:
    """The worker's escalating process, its ``desk`` team given ``team``'s extra settings."""
    text = ESCALATE.read_text(encoding="utf-8")
    return text.replace("    members: [ann, bob, cid]", f"    members: [ann, bob, cid]\n{team}")


def _owners(engine: Engine, leads: list[str]) -> Counter[str | None]:
    return Counter(engine.get(P, lead).owner for lead in leads)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    with Engine(db_url, clock=ManualClock(T0), create=True) as eng:
        yield eng


def _start(engine: Engine, team: str, count: int, owner: str = "zed") -> list[str]:
    engine.deploy(load_definition(_escalate(team), file="escalate.yaml"))
    leads = [f"L{i:02d}" for i in range(count)]
    result = engine.start_many(P, [(lead, {"email": f"{lead}@x.io"}, owner) for lead in leads])
    assert not result.failed
    return leads


def test_one_sweep_batch_gives_no_member_more_than_their_capacity(engine: Engine) -> None:
    """Ten breached leads reassigned in one sweep transaction to a desk of three with capacity
    2: six are handed out, two each; the other four wait in the desk's queue."""
    leads = _start(engine, "    capacity: 2", 10)
    assert engine.run_due(T0 + timedelta(minutes=5)) == 10
    assert _owners(engine, leads) == {"ann": 2, "bob": 2, "cid": 2, "queue:desk": 4}


def test_capacity_counts_the_leads_members_already_hold(engine: Engine) -> None:
    """ann already holds two open leads of her own: the batch gives her none."""
    leads = _start(engine, "    capacity: 2", 6)
    held = engine.start_many(
        P, [("A1", {"email": "a1@x.io"}, "ann"), ("A2", {"email": "a@x.io"}, "ann")]
    )
    assert not held.failed
    assert engine.run_due(T0 + timedelta(minutes=5)) == 8
    owners = _owners(engine, leads)
    assert owners["ann"] == 0
    assert (owners["bob"], owners["cid"]) == (2, 2)


def test_a_lead_moved_off_a_member_frees_a_seat_in_the_same_batch(engine: Engine) -> None:
    """bob holds two leads, both breached in the batch: moving them off him frees his seats
    for the batch's later decisions, as one-by-one sweeps would."""
    engine.deploy(load_definition(_escalate("    capacity: 2"), file="escalate.yaml"))
    items = [("B1", "bob"), ("B2", "bob"), ("Z1", "zed"), ("Z2", "zed"), ("Z3", "zed")]
    assert not engine.start_many(P, [(lead, {"email": "x@x.io"}, o) for lead, o in items]).failed
    assert engine.run_due(T0 + timedelta(minutes=5)) == 5
    owners = _owners(engine, [lead for lead, _ in items])
    assert sum(n for o, n in owners.items() if o != "queue:desk") == 5
    assert max(owners[m] for m in ("ann", "bob", "cid")) <= 2


def test_least_loaded_counts_the_batchs_own_reassignments(engine: Engine) -> None:
    """Least loaded sees each reassignment of the batch before it: nine leads, three each, and
    the reasons count 0, 1 and 2 open leads, three times each."""
    leads = _start(engine, "    strategy: least_loaded", 9)
    assert engine.run_due(T0 + timedelta(minutes=5)) == 9
    assert _owners(engine, leads) == {"ann": 3, "bob": 3, "cid": 3}
    reasons = [
        h.details["sla"][0]["reassign"]["reason"]
        for lead in leads
        for h in engine.history(P, lead)
        if h.kind == "sla"
    ]
    counts = Counter(reason.rsplit("(", 1)[1] for reason in reasons)
    assert counts == {"0 open leads)": 3, "1 open leads)": 3, "2 open leads)": 3}


REROUTE = """\
process: rescore
version: 1
fields:
  email: {type: string, required: true}
  score: {type: integer}
teams:
  desk:
    members: [ann, bob, cid]
    capacity: 2
  parked: {queue: parked}
routing:
  - {team: desk, when: "lead.score >= 50"}
  - {team: parked}
reroute:
  - on: [score]
    stages: [new]
stages:
  new: {initial: true}
  done: {closed: won}
transitions:
  - {name: rescore, from: new, to: new}
  - {name: finish, from: new, to: done}
"""


def test_fire_many_reroutes_within_capacity(engine: Engine) -> None:
    """Rescoring ten parked leads in one fire_many: the reroute rule hands six to the desk
    (two each), four stay parked in its queue."""
    engine.deploy(load_definition(REROUTE, file="rescore.yaml"))
    leads = [f"R{i}" for i in range(10)]
    started = engine.start_many(
        "rescore", [(lead, {"email": "r@x.io", "score": 1}) for lead in leads]
    )
    assert not started.failed
    assert {i.owner for i in started.succeeded} == {"parked"}
    result = engine.fire_many("rescore", [(lead, "rescore", {"score": 90}) for lead in leads])
    assert not result.failed
    owners = Counter(engine.get("rescore", lead).owner for lead in leads)
    assert owners == {"ann": 2, "bob": 2, "cid": 2, "queue:desk": 4}


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    capacity=st.integers(min_value=0, max_value=4),
    held=st.lists(st.sampled_from(["ann", "bob", "cid", "zed"]), min_size=1, max_size=12),
)
def test_a_batch_routes_as_one_by_one_sweeps_do(capacity: int, held: list[str]) -> None:
    """Whatever the owners and the capacity, one sweep batch leaves the same owner counts as
    sweeping the same marks one transaction each."""
    counts = []
    for limit in (500, 1):
        with Engine("sqlite://", clock=ManualClock(T0), create=True) as eng:
            eng.deploy(load_definition(_escalate(f"    capacity: {capacity}"), file="e.yaml"))
            items = [(f"L{i:02d}", {"email": "x@x.io"}, o) for i, o in enumerate(held)]
            assert not eng.start_many(P, items).failed
            assert eng.run_due(T0 + timedelta(minutes=5), limit=limit) == len(held)
            counts.append(_owners(eng, [lead for lead, _, _ in items]))
    assert counts[0] == counts[1]
