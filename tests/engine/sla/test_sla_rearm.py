"""Re-arming SLA clocks on simulated time: every re-arm event starts a new cycle, counted in the
history; a running cycle is superseded (restart) or kept (keep); marks fire exactly once per
cycle and the cancelled ones never."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cycle_support import T0, at
from cycle_support import sla_events as events_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.definitions import DefinitionError, load_definition
from leadflow.engine import Engine, LeadflowError
from leadflow.engine.reports import sla_board
from leadflow.engine.testing import ManualClock

REARM = Path(__file__).parents[2] / "definitions" / "sla" / "rearm.yaml"
P = "sla-rearm"


class FrozenClock:
    """A clock that never runs timers by itself (a host without a worker)."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def engine(sqlite_url: str, clock: ManualClock) -> Iterator[Engine]:
    with Engine(sqlite_url, clock=clock, create=True) as e:
        e.deploy(REARM)
        yield e


def sla_events(engine: Engine, lead: str, policy: str = "reply") -> list[dict[str, Any]]:
    return events_of(engine, P, lead, policy)


def marks(engine: Engine, lead: str, policy: str = "reply") -> list[tuple[str, datetime]]:
    return [
        (e["event"], e["at"])
        for e in sla_events(engine, lead, policy)
        if e["event"] in ("warned", "breached")
    ]


def test_each_reply_re_arms_and_marks_fire_once_per_cycle(
    engine: Engine, clock: ManualClock
) -> None:
    """No clock until the first inbound email; a second email supersedes the unanswered cycle
    (its breach is cancelled, its warning already fired); an answer meets cycle 2; the next
    email starts cycle 3, which breaches. Each mark fires exactly once."""
    engine.start(P, "L", owner="ann")
    assert engine.slas(P, "L") == []
    clock.set(at(10))
    engine.record(P, "L", "email_received")  # cycle 1: warn 09:40, breach 10:10
    clock.set(at(45))
    engine.record(P, "L", "email_received")  # cycle 2: warn 10:15, breach 10:45
    clock.set(at(80))
    engine.record(P, "L", "email_sent")  # cycle 2 met
    clock.set(at(90))
    engine.fire(P, "L", "nudge")  # a trigger re-arms too: cycle 3, warn 11:00, breach 11:30
    clock.set(at(240))
    assert {s.policy: s.cycle for s in engine.slas(P, "L")}["reply"] == 3
    assert marks(engine, "L") == [
        ("warned", at(40)),
        ("warned", at(75)),
        ("warned", at(120)),
        ("breached", at(150)),
    ]
    ends = [e for e in sla_events(engine, "L") if e["event"] in ("superseded", "fulfilled")]
    assert ends[0]["event"] == "superseded"
    assert (ends[0]["cycle"], ends[0]["breached"], ends[0]["elapsed"]) == (1, False, 2100.0)
    assert ends[0]["cancelled"] == [{"level": "breach", "mark": "100%"}]
    assert ends[1]["event"] == "fulfilled"
    starts = [(e["event"], e.get("cycle"), e["at"]) for e in sla_events(engine, "L")]
    assert [s for s in starts if s[0] in ("started", "rearmed")] == [
        ("started", None, at(10)),
        ("rearmed", 2, at(45)),
        ("rearmed", 3, at(90)),
    ]


def test_a_host_that_never_swept_cancels_the_old_cycles_marks(sqlite_url: str) -> None:
    """Without a sweep, a re-arm after the old deadline counts the old cycle as breached at its
    deadline and cancels its unfired marks; a later sweep fires only the new cycle's marks,
    once, however often it runs."""
    frozen = FrozenClock(T0)
    with Engine(sqlite_url, clock=frozen, create=True) as engine:
        engine.deploy(REARM)
        engine.start(P, "L")
        frozen.current = at(10)
        engine.record(P, "L", "email_received")
        frozen.current = at(100)  # past the 10:10 deadline, nothing swept
        engine.record(P, "L", "email_received")
        old = next(e for e in sla_events(engine, "L") if e["event"] == "superseded")
        assert old["breached"] is True
        assert [c["mark"] for c in old["cancelled"]] == ["50%", "100%"]
        assert engine.run_due(now=at(300)) == 3  # reply's warn and breach, first_reply's breach
        assert engine.run_due(now=at(300)) == 0
        assert marks(engine, "L") == [("warned", at(130)), ("breached", at(160))]
        board = {r.policy: r for r in sla_board(engine, P).rows}
        assert (board["reply"].breached, board["reply"].cycles) == (2, 1)


def test_keep_lets_the_earliest_unanswered_email_set_the_deadline(
    engine: Engine, clock: ManualClock
) -> None:
    """With running: keep a second email changes nothing while the cycle runs; after the
    answer the next email starts cycle 2."""
    engine.start(P, "L")
    clock.set(at(10))
    engine.record(P, "L", "email_received")
    clock.set(at(40))
    engine.record(P, "L", "email_received")
    clock.set(at(200))
    assert marks(engine, "L", "first_reply") == [("breached", at(70))]
    engine.record(P, "L", "email_sent")  # cycle 1 met, late
    clock.set(at(210))
    engine.record(P, "L", "email_received")
    events = [(e["event"], e.get("cycle")) for e in sla_events(engine, "L", "first_reply")]
    assert events == [
        ("started", None),
        ("breached", None),
        ("fulfilled", None),
        ("rearmed", 2),
    ]


def test_leaving_the_stages_ends_the_cycle_and_a_return_starts_afresh(
    engine: Engine, clock: ManualClock
) -> None:
    """A lead parked mid-cycle stops its clock; back in working, no clock until the next
    email, which starts cycle 1 again."""
    engine.start(P, "L")
    clock.set(at(10))
    engine.record(P, "L", "email_received")
    clock.set(at(20))
    engine.fire(P, "L", "park")
    engine.record(P, "L", "email_received")  # in parked: no re-arm
    clock.set(at(30))
    engine.fire(P, "L", "unpark")
    clock.set(at(40))
    engine.record(P, "L", "email_received")
    events = [(e["event"], e.get("cycle")) for e in sla_events(engine, "L")]
    assert events == [("started", None), ("stopped", None), ("started", None)]


def test_the_board_counts_re_armed_cycles(engine: Engine, clock: ManualClock) -> None:
    """Each cycle is a clock on the board; cycles counts those a re-arm started."""
    engine.start(P, "L", owner="ann")
    clock.set(at(10))
    engine.record(P, "L", "email_received")
    clock.set(at(20))
    engine.record(P, "L", "email_sent")
    clock.set(at(30))
    engine.record(P, "L", "email_received")
    clock.set(at(35))
    engine.record(P, "L", "email_received")
    row = next(r for r in sla_board(engine, P).rows if r.policy == "reply")
    assert (row.met, row.stopped, row.pending, row.cycles) == (1, 1, 1, 2)


def test_rearm_mistakes_are_load_errors() -> None:
    """anchor: event without rearm, rearm beside a restarting anchor and an unknown re-arm
    trigger are refused with their position."""
    text = REARM.read_text(encoding="utf-8")
    cases = {
        "anchor: event starts the clock at the first re-arm event": text.replace(
            "    rearm:\n      events: [{activity: email_received}]\n      running: keep\n", ""
        ),
        "already restarts the clock": text.replace(
            "    anchor: event\n    target: 1h\n    fulfilled_by: {activity: {type: email_sent}}"
            "\n    rearm:\n      events: [{activity: email_received}]\n",
            "    anchor: last_activity\n    target: 1h\n    rearm:\n"
            "      events: [{activity: email_received}]\n",
        ),
        "rearm: unknown trigger 'nudg' (did you mean 'nudge'?)": text.replace(
            "{trigger: nudge}", "{trigger: nudg}"
        ),
    }
    for message, bad in cases.items():
        assert bad != text, message
        with pytest.raises(DefinitionError) as info:
            load_definition(bad, file="rearm.yaml")
        shown = "\n".join(str(p) for p in info.value.problems)
        assert message in shown, shown
        assert "rearm.yaml:" in shown


STEPS = st.lists(
    st.tuples(
        st.integers(0, 90),
        st.sampled_from(["email_received", "email_sent", "nudge", "park", "unpark", "-"]),
    ),
    max_size=12,
)
OFFSETS = {"reply": {"warned": 30, "breached": 60}, "first_reply": {"breached": 60}}


def _check_cycles(events: list[dict[str, Any]], offsets: dict[str, int]) -> None:
    """Each mark fires once per cycle, at its cycle's start plus its offset, never after the
    cycle ended; a superseded cycle cancels exactly the marks it had not fired."""
    start: datetime | None = None
    fired: set[str] = set()
    for e in events:
        kind = e["event"]
        if kind in ("started", "rearmed"):
            assert start is None, e
            start, fired = datetime.fromisoformat(e["started_at"]), set()
        elif kind in offsets:
            assert start is not None, e
            assert kind not in fired, e
            assert e["at"] == start + timedelta(minutes=offsets[kind]), e
            fired.add(kind)
        elif kind in ("superseded", "fulfilled", "stopped"):
            assert start is not None, e
            if kind == "superseded":
                left = {n for n in offsets if n not in fired}
                assert {c["level"] for c in e["cancelled"]} == {
                    {"warned": "warning", "breached": "breach"}[n] for n in left
                }
            start = None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS)
def test_marks_fire_exactly_once_per_cycle_whatever_the_events(
    steps: list[tuple[int, str]],
) -> None:
    """Random replies, answers, nudges and parking on simulated time: every cycle's marks fire
    at most once each, at their due time, and none after the cycle was superseded or ended."""
    clock = ManualClock(T0)
    with Engine("sqlite://", clock=clock) as engine:
        engine.deploy(REARM)
        engine.start(P, "L")
        for minutes, action in steps:
            clock.advance(timedelta(minutes=minutes))
            with contextlib.suppress(LeadflowError):  # a trigger its stage does not allow
                if action in ("email_received", "email_sent"):
                    engine.record(P, "L", action)
                elif action != "-":
                    engine.fire(P, "L", action)
        clock.advance(timedelta(hours=3))
        for policy, offsets in OFFSETS.items():
            _check_cycles(events_of(engine, P, "L", policy), offsets)
