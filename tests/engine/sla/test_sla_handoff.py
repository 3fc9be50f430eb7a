"""Hand-off SLAs on simulated time: a clock from a hand-off between teams (an owner change
across teams, or a transition declared as one) until the receiving team acts, reported per
hand-off pair."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cycle_support import T0, at
from cycle_support import sla_events as events_of

from leadflow.definitions import DefinitionError, load_definition
from leadflow.engine import Engine
from leadflow.engine.reports import handoff_report
from leadflow.engine.testing import ManualClock

HANDOFF = Path(__file__).parents[2] / "definitions" / "sla" / "handoff.yaml"
P = "sla-handoff"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def engine(sqlite_url: str, clock: ManualClock) -> Iterator[Engine]:
    with Engine(sqlite_url, clock=clock, create=True) as e:
        e.deploy(HANDOFF)
        yield e


def sla_events(engine: Engine, lead: str, policy: str) -> list[dict[str, Any]]:
    return events_of(engine, P, lead, policy)


def test_marketing_to_sdr_runs_from_the_owner_change_until_the_call(
    engine: Engine, clock: ManualClock
) -> None:
    """A lead in the marketing queue gets no clock; assigned to an SDR, the clock starts with
    the pair recorded; the SDR's call meets it."""
    engine.start(P, "L", owner="mkt-queue")
    assert engine.slas(P, "L") == []
    clock.set(at(10))
    engine.assign(P, "L", "sam")
    clock.set(at(40))
    engine.record(P, "L", "call")
    events = sla_events(engine, "L", "mkt_to_sdr")
    assert [(e["event"], e["at"]) for e in events] == [("started", at(10)), ("fulfilled", at(40))]
    assert events[0]["handoff"] == {"from": "marketing", "to": "sdr"}
    assert events[1]["elapsed"] == 1800.0


def test_a_hand_off_transition_then_the_routing_is_one_hand_off(
    engine: Engine, clock: ManualClock
) -> None:
    """qualify is a hand-off SDR -> AE while the SDR still owns the lead; the AE assignment
    that follows is the same hand-off (no second clock); the AE's accept meets it."""
    engine.start(P, "L", owner="sam")
    clock.set(at(60))
    engine.fire(P, "L", "qualify")
    clock.set(at(90))
    engine.assign(P, "L", "abe")
    status = {s.policy: s for s in engine.slas(P, "L")}["sdr_to_ae"]
    assert (status.state, status.handoff) == ("running", {"from": "sdr", "to": "ae"})
    clock.set(at(300))
    engine.fire(P, "L", "accept")
    events = [(e["event"], e["at"]) for e in sla_events(engine, "L", "sdr_to_ae")]
    assert events == [("started", at(60)), ("fulfilled", at(300))]
    assert sla_events(engine, "L", "mkt_to_sdr") == []  # started with an SDR: no hand-off


def test_passing_the_lead_back_stops_the_clock_and_a_late_act_breaches(
    engine: Engine, clock: ManualClock
) -> None:
    """An AE passing the lead back to an SDR stops the hand-off clock (no outcome to time);
    a second hand-off starts a new cycle, which breaches after a day."""
    engine.start(P, "L", owner="sue")
    engine.assign(P, "L", "amy")  # sdr -> ae by owner change
    clock.set(at(30))
    engine.assign(P, "L", "sam")  # back to an SDR: stopped
    clock.set(at(60))
    engine.assign(P, "L", "abe")  # a new hand-off
    clock.set(at(60 + 25 * 60))
    engine.fire(P, "L", "qualify")  # a hand-off of the same pair while it runs: nothing
    engine.fire(P, "L", "accept")  # late: met after the breach
    events = [(e["event"], e.get("cycle")) for e in sla_events(engine, "L", "sdr_to_ae")]
    assert events == [
        ("started", None),
        ("stopped", None),
        ("rearmed", 2),
        ("breached", None),
        ("fulfilled", None),
    ]


def test_the_report_gives_count_met_rate_median_and_p90_per_pair(
    engine: Engine, clock: ManualClock
) -> None:
    """Three marketing -> SDR hand-offs (called after 10, 30 and 90 minutes) and one SDR -> AE
    still pending make two rows with their figures."""
    for n, wait in enumerate((10, 30, 90)):
        lead = f"M{n}"
        engine.start(P, lead, owner="mkt-queue")
        engine.assign(P, lead, "sam")
        clock.advance(timedelta(minutes=wait))
        engine.record(P, lead, "call")
    engine.start(P, "A", owner="sue")
    engine.fire(P, "A", "qualify")
    report = handoff_report(engine, P)
    rows = {(r.from_team, r.to_team): r for r in report.rows}
    mkt = rows[("marketing", "sdr")]
    assert (mkt.count, mkt.met, mkt.breached, mkt.pending) == (3, 2, 1, 0)
    assert mkt.met_rate == pytest.approx(2 / 3)
    assert mkt.median_seconds == 1800.0  # late acts count: 10, 30 and 90 minutes
    assert mkt.p90_seconds == pytest.approx(4680.0)
    assert mkt.median_calendar_seconds == 1800.0
    ae = rows[("sdr", "ae")]
    assert (ae.count, ae.pending, ae.met_rate) == (1, 1, None)
    assert report.as_dict()["rows"][0]["from_team"] == "marketing"


def test_hand_off_mistakes_are_load_errors() -> None:
    """Unknown teams and triggers, and an anchor beside a hand-off, are refused with their
    position."""
    text = HANDOFF.read_text(encoding="utf-8")
    cases = {
        "unknown team 'sales' (teams: marketing, sdr, ae)": text.replace(
            "{from: marketing, to: sdr}", "{from: marketing, to: sales}"
        ),
        "unknown trigger 'qualfy' (did you mean 'qualify'?)": text.replace(
            "triggers: qualify", "triggers: qualfy"
        ),
        "leave out 'anchor' and 'rearm'": text.replace(
            "    handoff: {from: marketing",
            "    anchor: stage_entered\n    handoff: {from: marketing",
        ),
        "unknown trigger 'acept'": text.replace("{trigger: accept}", "{trigger: acept}"),
    }
    for message, bad in cases.items():
        assert bad != text, message
        with pytest.raises(DefinitionError) as info:
            load_definition(bad, file="handoff.yaml")
        shown = "\n".join(str(p) for p in info.value.problems)
        assert message in shown, shown
        assert "handoff.yaml:" in shown
