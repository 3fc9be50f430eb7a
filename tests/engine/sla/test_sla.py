"""SLA clocks on simulated time: business hours (weekends, holidays, DST, the lead's timezone),
pauses, fulfilment, ladders (warn, breach, escalate, reassign, set, fire), catch-up and
exactly-once sweeps, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from leadflow.definitions import DefinitionError, library_path, load_definition
from leadflow.engine import Engine
from leadflow.engine.reports import sla_board
from leadflow.engine.testing import ManualClock

NY = ZoneInfo("America/New_York")
CLOCKS = Path(__file__).parents[2] / "definitions" / "sla" / "clocks.yaml"
INBOUND = "inbound-lead"
P = "sla-clocks"


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY).astimezone(UTC)


class FrozenClock:
    """A clock that never runs timers by itself (a host without a worker)."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(ny(2026, 1, 5, 10, 0))  # Monday 10:00 in New York


@pytest.fixture
def engine(db_url: str, clock: ManualClock) -> Iterator[Engine]:
    with Engine(db_url, clock=clock, create=True) as e:
        e.deploy(CLOCKS)
        e.deploy(library_path(INBOUND))
        yield e


def events(engine: Engine, lead: str, process: str = P) -> list[tuple[datetime, str, str]]:
    """(time, policy, event) of every SLA metric event of a lead, in history order."""
    return [
        (h.at, e["policy"], e["event"])
        for h in engine.history(process, lead)
        for e in h.details.get("sla", ())
    ]


def marks(engine: Engine, lead: str, process: str = P) -> list[dict[str, Any]]:
    """The SLA entries of the lead's ``sla`` history rows (fired marks), oldest first."""
    return [
        {**h.details["sla"][0], "at": h.at, "owner": h.details.get("owner")}
        for h in engine.history(process, lead)
        if h.kind == "sla"
    ]


def timers(engine: Engine) -> list[tuple[str, str, datetime]]:
    """(lead, policy, due) of every stored timer."""
    with engine.store.sa.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT i.lead_id, t.policy, t.due_at FROM lf_timers t "
                "JOIN lf_instances i ON i.id = t.instance_id ORDER BY t.due_at"
            )
        ).all()
    return [(r[0], r[1], engine.store.decode_time(r[2])) for r in rows]


def count(engine: Engine, table: str) -> int:
    with engine.store.sa.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


# -- business hours --------------------------------------------------------------------------


def test_speed_to_call_warns_breaches_and_reassigns_across_a_weekend(
    engine: Engine, clock: ManualClock
) -> None:
    """A lead arriving 2 minutes before Friday closing is warned at 08:01 on Monday, breached at
    08:03 and reassigned to another SDR at 08:08: business minutes skip the weekend."""
    clock.set(ny(2026, 1, 9, 17, 58))
    lead = engine.start(INBOUND, "L1", {"email": "a@b.c"})
    first = lead.owner
    assert first is not None
    assert first.startswith("sdr_")
    clock.set(ny(2026, 1, 12, 9, 0))
    fired = [m for m in marks(engine, "L1", INBOUND) if m["policy"] == "speed_to_call"]
    assert [(m["event"], m["at"]) for m in fired] == [
        ("warned", ny(2026, 1, 12, 8, 1)),
        ("breached", ny(2026, 1, 12, 8, 3)),
        ("escalated", ny(2026, 1, 12, 8, 8)),
    ]
    assert fired[0]["notify"] == [first]
    assert fired[1]["notify"] == [first, "sdr_manager"]
    assert fired[2]["reassign"]["team"] == "sdr"
    now_owner = engine.get(INBOUND, "L1").owner
    assert now_owner not in (None, first)
    assert fired[2]["owner"] == now_owner


def test_a_holiday_is_skipped(engine: Engine, clock: ManualClock) -> None:
    """On the day before Thanksgiving, a lead arriving at 17:59 breaches on Friday at 08:04."""
    clock.set(ny(2026, 11, 25, 17, 59))
    engine.start(INBOUND, "L1", {"email": "a@b.c"})
    clock.set(ny(2026, 11, 27, 12, 0))
    breach = next(m for m in marks(engine, "L1", INBOUND) if m["event"] == "breached")
    assert breach["at"] == ny(2026, 11, 27, 8, 4)


def test_business_minutes_follow_wall_clock_hours_across_dst(
    engine: Engine, clock: ManualClock
) -> None:
    """Across the March change to daylight time the clock resumes at 08:00 local time, which is
    an hour earlier in UTC than the week before."""
    clock.set(ny(2026, 3, 6, 17, 58))  # Friday, EST (UTC-5)
    engine.start(INBOUND, "L1", {"email": "a@b.c"})
    clock.set(ny(2026, 3, 9, 12, 0))  # Monday, EDT (UTC-4)
    breach = next(m for m in marks(engine, "L1", INBOUND) if m["event"] == "breached")
    assert breach["at"] == datetime(2026, 3, 9, 12, 3, tzinfo=UTC)


def test_the_leads_own_timezone_sets_the_business_hours(engine: Engine, clock: ManualClock) -> None:
    """A lead whose timezone field says Europe/Berlin is measured in Berlin's office hours."""
    clock.set(datetime(2026, 1, 6, 6, 58, tzinfo=UTC))  # 07:58 in Berlin, 01:58 in New York
    engine.start(INBOUND, "L1", {"email": "a@b.c", "timezone": "Europe/Berlin"})
    clock.advance(timedelta(hours=1))
    breach = next(m for m in marks(engine, "L1", INBOUND) if m["event"] == "breached")
    assert breach["at"] == datetime(2026, 1, 6, 7, 5, tzinfo=UTC)  # 08:05 in Berlin


def test_an_extra_closed_date_is_skipped(engine: Engine, clock: ManualClock) -> None:
    """A company shutdown day (24 December) counts no business time."""
    clock.set(ny(2026, 12, 23, 16, 30))
    engine.start(P, "L1")
    clock.set(ny(2026, 12, 29, 0, 0))
    breach = next(m for m in marks(engine, "L1") if m["event"] == "breached")
    assert breach["at"] == ny(2026, 12, 28, 9, 30)  # 25th is Christmas, then the weekend


# -- fulfilment, pause, restart --------------------------------------------------------------


def test_a_call_fulfils_the_clock_and_deletes_its_timer(engine: Engine, clock: ManualClock) -> None:
    """Calling within the target meets the SLA: no further marks fire and the timer is gone."""
    engine.start(P, "L1")
    assert [(lead, policy) for lead, policy, _ in timers(engine)] == [("L1", "respond")]
    clock.advance(timedelta(minutes=20))
    engine.record(P, "L1", "call")
    clock.advance(timedelta(days=3))
    assert events(engine, "L1") == [
        (ny(2026, 1, 5, 10, 0), "respond", "started"),
        (ny(2026, 1, 5, 10, 20), "respond", "fulfilled"),
    ]
    assert timers(engine) == []
    fulfilled = engine.history(P, "L1")[-1].details["sla"][0]
    assert fulfilled["elapsed"] == 20 * 60
    assert fulfilled["breached"] is False


def test_paused_time_does_not_count(engine: Engine, clock: ManualClock) -> None:
    """Time in a pause stage and time while the pause condition holds are not counted; the
    clock breaches when the counted time reaches the target."""
    engine.start(P, "L1")
    clock.advance(timedelta(minutes=10))
    engine.fire(P, "L1", "wait")  # paused with 10 minutes counted
    clock.advance(timedelta(days=2))
    assert timers(engine) == []
    engine.fire(P, "L1", "resume")  # Wednesday 10:10
    clock.advance(timedelta(minutes=5))
    engine.update(P, "L1", {"on_hold": True})  # paused again with 15 minutes counted
    clock.advance(timedelta(hours=3))
    engine.update(P, "L1", {"on_hold": False})  # Wednesday 13:15
    clock.advance(timedelta(hours=2))
    kinds = [e for _, policy, e in events(engine, "L1") if policy == "respond"]
    assert kinds[:6] == ["started", "paused", "resumed", "paused", "resumed", "warned"]
    warned, breached = (m for m in marks(engine, "L1") if m["event"] in ("warned", "breached"))
    assert warned["at"] == ny(2026, 1, 7, 13, 30)  # 30 minutes counted
    assert breached["at"] == ny(2026, 1, 7, 14, 0)  # 60 minutes counted
    assert engine.get(P, "L1").data["priority"] == "high"  # the breach mark's `set`


def test_leaving_the_stage_stops_a_clock_with_a_fulfilment_condition(
    engine: Engine, clock: ManualClock
) -> None:
    """A clock fulfilled by a call stops (not met) when the lead moves on without a call."""
    engine.start(P, "L1")
    clock.advance(timedelta(minutes=5))
    engine.fire(P, "L1", "work")
    respond = [e for _, p, e in events(engine, "L1") if p == "respond"]
    assert respond == ["started", "stopped"]
    assert sorted(policy for _, policy, _ in timers(engine)) == ["answer", "rot"]


def test_last_activity_restarts_the_clock(engine: Engine, clock: ManualClock) -> None:
    """With anchor last_activity, each email restarts the 2-day answer clock; an answer meets it."""
    engine.start(P, "L1")
    engine.fire(P, "L1", "work")
    clock.advance(timedelta(days=1))
    engine.record(P, "L1", "email")
    clock.advance(timedelta(days=1, hours=23))
    assert [m["event"] for m in marks(engine, "L1") if m["policy"] == "answer"] == []
    clock.advance(timedelta(hours=2))
    breach = next(m for m in marks(engine, "L1") if m["policy"] == "answer")
    assert breach["event"] == "breached"
    assert breach["at"] == ny(2026, 1, 8, 10, 0)
    engine.update(P, "L1", {"answer": "yes"})
    assert events(engine, "L1")[-1][1:] == ("answer", "fulfilled")


def test_a_rotting_lead_is_lost_by_the_ladder(engine: Engine, clock: ManualClock) -> None:
    """Ten days without leaving 'working' fires `lose` with the reason, through its guards."""
    engine.start(P, "L1")
    engine.fire(P, "L1", "work")
    clock.advance(timedelta(days=11))
    lead = engine.get(P, "L1")
    assert (lead.stage, lead.data["lost_reason"]) == ("lost", "no_response")
    last = engine.history(P, "L1")[-1]
    assert (last.kind, last.trigger, last.actor, last.at) == (
        "transition",
        "lose",
        "sla:rot",
        ny(2026, 1, 15, 10, 0),
    )
    assert timers(engine) == []


# -- catch-up, exactly once, reload ----------------------------------------------------------


def test_missed_deadlines_are_recorded_at_the_deadline_and_fire_once(db_url: str) -> None:
    """A host without a worker runs the sweep late: each mark is recorded at its due time, and
    running the sweep again changes nothing."""
    frozen = FrozenClock(ny(2026, 1, 5, 10, 0))
    with Engine(db_url, clock=frozen, create=True) as e:
        e.deploy(CLOCKS)
        e.start(P, "L1")
        assert e.run_due(ny(2026, 1, 9, 12, 0)) == 3
        history_rows, outbox_rows = count(e, "lf_history"), count(e, "lf_outbox")
        assert e.run_due(ny(2026, 1, 9, 12, 0)) == 0
        assert (count(e, "lf_history"), count(e, "lf_outbox")) == (history_rows, outbox_rows)
        assert [(m["event"], m["at"]) for m in marks(e, "L1")] == [
            ("warned", ny(2026, 1, 5, 10, 30)),
            ("breached", ny(2026, 1, 5, 11, 0)),
            ("escalated", ny(2026, 1, 5, 12, 0)),
        ]
        assert e.next_due() is None


def test_a_late_call_without_a_sweep_still_counts_as_a_breach(db_url: str) -> None:
    """When nobody swept, a call after the target still records the breach (at the deadline)."""
    frozen = FrozenClock(ny(2026, 1, 5, 10, 0))
    with Engine(db_url, clock=frozen, create=True) as e:
        e.deploy(CLOCKS)
        e.start(P, "L1")
        e.record(P, "L1", "call", at=ny(2026, 1, 5, 11, 30))
        fulfilled = e.history(P, "L1")[-1].details["sla"][0]
        assert fulfilled["event"] == "fulfilled"
        assert fulfilled["breached"] is True
        row = sla_board(e, P).rows[0]
        assert (row.owner, row.breached, row.met) == (e.get(P, "L1").owner, 1, 0)


def test_state_survives_a_new_engine(db_url: str) -> None:
    """A new engine on the same database carries on: paused time, timers and marks persist."""
    clock = ManualClock(ny(2026, 1, 5, 10, 0))
    with Engine(db_url, clock=clock, create=True) as e:
        e.deploy(CLOCKS)
        e.start(P, "L1")
        clock.advance(timedelta(minutes=40))
        e.fire(P, "L1", "wait")
    clock2 = ManualClock(ny(2026, 1, 6, 10, 0))
    with Engine(db_url, clock=clock2) as e:
        e.fire(P, "L1", "resume")
        clock2.advance(timedelta(hours=1))
        breach = next(m for m in marks(e, "L1") if m["event"] == "breached")
        assert breach["at"] == ny(2026, 1, 6, 10, 20)


# -- reassignment ----------------------------------------------------------------------------


def test_reassignment_falls_back_to_the_queue_when_everyone_is_at_capacity(
    engine: Engine, clock: ManualClock
) -> None:
    """With both reps at their capacity of 2 open leads, the escalation's reassignment parks the
    lead in the team's queue instead of overloading someone."""
    owners = [engine.start(P, f"L{k}").owner for k in range(4)]
    assert sorted(owners) == ["ann", "ann", "bob", "bob"]
    clock.advance(timedelta(hours=2, minutes=1))
    escalated = next(m for m in marks(engine, "L0") if m["event"] == "escalated")
    assert escalated["reassign"]["queued"] is True
    assert engine.get(P, "L0").owner == "queue:reps"
    assert "capacity" in escalated["reassign"]["reason"]


def test_reassignment_skips_members_out_of_office(engine: Engine, clock: ManualClock) -> None:
    """A member out of office gets no leads; the other member takes the reassignment."""
    engine.start(P, "L1", owner="carl")
    engine.set_away("bob", ny(2026, 1, 5, 0, 0), ny(2026, 1, 10, 0, 0), note="vacation")
    clock.advance(timedelta(hours=2, minutes=1))
    assert engine.get(P, "L1").owner == "ann"
    engine.start(P, "L2", owner="carl")
    engine.set_away("ann", ny(2026, 1, 5, 0, 0), ny(2026, 1, 10, 0, 0))
    clock.advance(timedelta(hours=2, minutes=1))
    assert engine.get(P, "L2").owner == "queue:reps"
    assert [a.member for a in engine.list_away()] == ["bob", "ann"]


# -- the shipped inbound-lead cadence ----------------------------------------------------------


def test_five_calls_in_fourteen_days_then_lost_for_no_response(
    engine: Engine, clock: ManualClock
) -> None:
    """The cadence plans 5 attempts as tasks, skips the ones already made, and after 14 days the
    lead is lost for no response because its 5 calls were made."""
    engine.start(INBOUND, "L1", {"email": "a@b.c"})
    for day in (0, 1, 3, 7, 10):
        clock.set(ny(2026, 1, 5, 10, 0) + timedelta(days=day, minutes=1))
        engine.record(INBOUND, "L1", "call")
    clock.set(ny(2026, 1, 20, 10, 0))
    tasks = [m["task"]["n"] for m in marks(engine, "L1", INBOUND) if m["event"] == "task"]
    assert tasks == [1, 2, 3, 4]  # the 5th attempt was made before its day-13 task fell due
    lead = engine.get(INBOUND, "L1")
    assert (lead.stage, lead.data["lost_reason"]) == ("lost", "no_response")


def test_the_cadence_escalates_instead_of_losing_an_uncalled_lead(
    engine: Engine, clock: ManualClock
) -> None:
    """Without the 5 calls, the lose guard refuses the automatic loss; the breach mark records
    why and notifies the owner and the team lead; the lead stays open."""
    engine.start(INBOUND, "L1", {"email": "a@b.c"})
    clock.set(ny(2026, 1, 20, 10, 0))
    breach = next(
        m
        for m in marks(engine, "L1", INBOUND)
        if m["policy"] == "call_cadence" and m["event"] == "breached"
    )
    assert breach["fire"]["ok"] is False
    assert "five_attempts" in breach["fire"]["error"]
    assert "sdr_manager" in breach["notify"]
    assert engine.get(INBOUND, "L1").stage == "new"


# -- the board -------------------------------------------------------------------------------


def test_the_board_counts_met_breached_and_pending_per_owner(
    engine: Engine, clock: ManualClock
) -> None:
    """Per owner and policy: met with response times, breached, pending; reassignments count
    against the owner the lead was taken from."""
    engine.start(P, "A", owner="ann")
    engine.start(P, "B", owner="ann")
    engine.start(P, "C", owner="bob")
    clock.advance(timedelta(minutes=10))
    engine.record(P, "A", "call")
    clock.advance(timedelta(minutes=20))
    engine.record(P, "C", "call")
    clock.advance(timedelta(hours=3))  # B breaches and is reassigned to bob
    board = {(r.owner, r.policy): r for r in sla_board(engine, P).rows}
    ann, bob = board[("ann", "respond")], board[("bob", "respond")]
    assert (ann.met, ann.breached, ann.pending, ann.median_response) == (1, 1, 0, 600.0)
    assert ann.reassigned == 1
    assert (bob.met, bob.breached, bob.median_response) == (1, 0, 1800.0)
    teams = sla_board(engine, P, by="team").rows
    assert [(r.owner, r.met, r.breached) for r in teams] == [("reps", 2, 1)]


def test_the_board_counts_reassignments_on_the_row_of_the_policy_that_made_them(
    engine: Engine, clock: ManualClock
) -> None:
    """Only the ``respond`` SLA reassigns: ann's ``rot`` row counts none (it used to repeat
    ann's one reassignment on each of her rows)."""
    engine.start(P, "A", owner="ann")
    engine.start(P, "B", owner="ann")
    clock.advance(timedelta(minutes=10))
    engine.record(P, "A", "call")
    engine.fire(P, "A", "work")  # rot starts for ann
    clock.advance(timedelta(hours=3))  # B breaches and is reassigned to bob
    board = {(r.owner, r.policy): r for r in sla_board(engine, P).rows}
    assert board[("ann", "respond")].reassigned == 1
    assert board[("ann", "rot")].reassigned == 0
    assert sum(r.reassigned for r in board.values()) == 1


# -- schedules -------------------------------------------------------------------------------

RELEASE = Path(__file__).parents[2] / "definitions" / "sla" / "release.yaml"


def outbox_types(engine: Engine) -> list[tuple[str, str]]:
    with engine.store.sa.connect() as conn:
        rows = conn.execute(sa.text("SELECT type, payload FROM lf_outbox ORDER BY id")).all()
    return [(r[0], r[1]) for r in rows]


def test_leads_wait_for_the_weekly_release_then_are_dealt_round_robin(db_url: str) -> None:
    """Leads of a held team wait in its queue until Sunday 18:00 New York time; the release
    assigns them by the team's strategy, once, recorded at the occurrence's time."""
    clock = ManualClock(ny(2026, 1, 5, 10, 0))
    with Engine(db_url, clock=clock, create=True) as e:
        e.deploy(RELEASE)
        owners = [e.start("sla-release", f"L{k}").owner for k in range(3)]
        assert owners == ["queue:ae"] * 3
        clock.set(ny(2026, 1, 11, 17, 59))
        assert {e.get("sla-release", f"L{k}").owner for k in range(3)} == {"queue:ae"}
        clock.advance(timedelta(minutes=2))
        assert [e.get("sla-release", f"L{k}").owner for k in range(3)] == ["xena", "yuri", "xena"]
        last = e.history("sla-release", "L2")[-1]
        assert (last.kind, last.actor, last.at) == (
            "assigned",
            "schedule:weekly_release",
            ny(2026, 1, 11, 18, 0),
        )
        assert e.run_schedules() == 0


def test_missed_occurrences_are_coalesced_into_one_run(db_url: str) -> None:
    """A worker that was down for three weeks runs each schedule once, for the latest missed
    occurrence, instead of replaying every one."""
    frozen = FrozenClock(ny(2026, 1, 5, 10, 0))
    with Engine(db_url, clock=frozen, create=True) as e:
        e.deploy(RELEASE)
        e.start("sla-release", "L1")
        assert e.run_schedules(ny(2026, 1, 27, 9, 0)) == 2  # the release and the digest
        assert e.run_schedules(ny(2026, 1, 27, 9, 0)) == 0
        assigned = e.history("sla-release", "L1")[-1]
        assert assigned.at == ny(2026, 1, 25, 18, 0)
        digests = [p for t, p in outbox_types(e) if t == "leadflow.sla.digest"]
        assert len(digests) == 1
        assert e.next_schedule() == ny(2026, 1, 28, 8, 0)


def test_the_daily_digest_carries_the_sla_board(db_url: str) -> None:
    """Each morning one digest event (no lead) holds the board of the previous day."""
    import json

    clock = ManualClock(ny(2026, 1, 5, 10, 0))
    with Engine(db_url, clock=clock, create=True) as e:
        e.deploy(RELEASE)
        e.start("sla-release", "L1", owner="xena")
        e.start("sla-release", "L2", owner="yuri")
        clock.advance(timedelta(hours=1))
        e.record("sla-release", "L1", "call")
        clock.set(ny(2026, 1, 7, 9, 0))  # L2 breaches on the 6th at 10:00
        digests = [json.loads(p) for t, p in outbox_types(e) if t == "leadflow.sla.digest"]
        assert [d["time"] for d in digests] == [
            ny(2026, 1, 6, 8, 0).isoformat(),
            ny(2026, 1, 7, 8, 0).isoformat(),
        ]
        first, second = (d["data"] for d in digests)
        assert first["schedule"] == "daily_digest"
        assert [(r["owner"], r["met"], r["breached"], r["pending"]) for r in first["rows"]] == [
            ("xena", 1, 0, 0),
            ("yuri", 0, 0, 1),
        ]
        assert [(r["owner"], r["breached"]) for r in second["rows"]] == [("yuri", 1)]


def test_every_sla_event_type_is_documented_and_emitted(engine: Engine, clock: ManualClock) -> None:
    """The SLA event types that runs emit are the documented ones."""
    from leadflow.engine import EVENT_TYPES

    engine.start(INBOUND, "L1", {"email": "a@b.c"})
    clock.advance(timedelta(minutes=30))
    engine.record(INBOUND, "L1", "call")
    engine.start(P, "L2")
    engine.record(P, "L2", "call")
    emitted = {t for t, _ in outbox_types(engine)}
    sla_types = {t for t in EVENT_TYPES if "sla" in t or t.endswith("task_due")}
    # digests and snoozes: their own tests
    assert sla_types - emitted == {"leadflow.sla.digest", "leadflow.lead.sla_snoozed"}
    assert emitted <= set(EVENT_TYPES)


def test_start_many_routes_each_lead_and_respects_capacity(engine: Engine) -> None:
    """A batch of starts routes leads one after another: round robin, then the queue once both
    reps hold their 2 open leads; owners given in the batch are kept."""
    result = engine.start_many(P, ["A", "B", "C", ("D", None, "zed"), "E"])
    assert result.failed == []
    owners = {i.lead_id: i.owner for i in result.succeeded}
    assert owners == {"A": "ann", "B": "bob", "C": "ann", "D": "zed", "E": "bob"}
    more = engine.start_many(P, ["F"])
    assert more.succeeded[0].owner == "queue:reps"
    assert engine.get(P, "F").owner == "queue:reps"


def test_a_failing_mark_is_postponed_and_does_not_hold_up_the_others(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A timer whose mark raises (here: a clock state damaged by hand) is logged and postponed
    by RETRY_AFTER; every other due timer still fires."""
    import json

    from leadflow.engine.sla.sweep import RETRY_AFTER

    frozen = FrozenClock(ny(2026, 1, 5, 10, 0))
    with Engine(db_url, clock=frozen, create=True) as e:
        e.deploy(CLOCKS)
        e.start(P, "A")
        e.start(P, "B")
        broken = {"respond": {"s": "running"}}  # no counters, no start: unusable
        with e.store.sa.begin() as conn:
            conn.execute(
                sa.text("UPDATE lf_instances SET sla = :s WHERE lead_id = 'A'"),
                {"s": json.dumps(broken)},
            )
        now = ny(2026, 1, 5, 10, 45)
        with caplog.at_level("ERROR", logger="leadflow.sweep"):
            assert e.run_due(now) == 2  # B's warning, and A's timer postponed
        assert [m["event"] for m in marks(e, "B")] == ["warned"]
        assert marks(e, "A") == []
        assert [(lead, due) for lead, _, due in timers(e) if lead == "A"] == [
            ("A", now + RETRY_AFTER)
        ]
        assert "a due timer failed" in caplog.text


def test_digests_are_delivered_by_the_dispatcher(db_url: str, tmp_path: Path) -> None:
    """A digest (an event with no lead) fans out to the adapters subscribed to it and is
    delivered like any other event."""
    import json

    from leadflow.adapters import Dispatcher
    from leadflow.adapters.jsonl import create

    clock = ManualClock(ny(2026, 1, 5, 10, 0))
    with Engine(db_url, clock=clock, create=True) as e:
        e.deploy(RELEASE)
        e.start("sla-release", "L1", owner="xena")
        clock.set(ny(2026, 1, 6, 9, 0))
        out = tmp_path / "managers.jsonl"
        adapter = create("managers", {"path": str(out)}, lambda ref: ref)
        try:
            with Dispatcher(e, {"managers": adapter}) as dispatcher:
                dispatcher.run(until_idle=True)
        finally:
            adapter.close()
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert [(x["type"], x["subject"]) for x in lines] == [
            ("leadflow.sla.digest", "daily_digest")
        ]
        assert lines[0]["data"]["rows"][0]["owner"] == "xena"


def test_the_sla_examples_in_the_docs_are_valid_policies() -> None:
    """Every SLA policy written in docs/sla.md validates as the language defines it."""
    import re
    import textwrap

    import yaml

    from leadflow.definitions import SlaPolicy

    text = (Path(__file__).parents[3] / "docs" / "sla.md").read_text(encoding="utf-8")
    policies: dict[str, Any] = {}
    for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.S):
        doc = yaml.safe_load(textwrap.dedent(block))
        found = doc.get("slas", {}) if "slas" in doc else doc
        policies.update({k: v for k, v in found.items() if isinstance(v, dict) and "target" in v})
    assert {"speed_to_call", "call_cadence", "rotting", "waiting_on_reply"} <= set(policies)
    for body in policies.values():
        SlaPolicy.model_validate(body)


@pytest.mark.postgres
def test_the_sweep_does_not_wait_for_a_lead_being_changed(postgres_url: str) -> None:
    """While another transaction holds a lead's row (a change being written), the sweep fires
    the other leads' marks and leaves that lead's for its next run, instead of waiting on the
    lock (which could deadlock with a change that replaces the timer the sweep holds)."""
    import threading

    from leadflow.engine import store as schema

    schema.upgrade(postgres_url)
    frozen = FrozenClock(ny(2026, 1, 5, 10, 0))
    with Engine(postgres_url, clock=frozen) as e:
        e.deploy(CLOCKS)
        e.start(P, "A")
        e.start(P, "B")
        now = ny(2026, 1, 5, 10, 45)
        with e.store.sa.connect() as holder:
            busy = holder.begin()
            holder.execute(sa.text("UPDATE lf_instances SET owner = owner WHERE lead_id = 'A'"))
            result: list[int] = []
            sweep = threading.Thread(target=lambda: result.append(e.run_due(now)))
            sweep.start()
            sweep.join(timeout=20)
            assert not sweep.is_alive(), "the sweep waited for the lead's lock"
            busy.rollback()
        assert result == [1]
        assert [m["event"] for m in marks(e, "B")] == ["warned"]
        assert marks(e, "A") == []
        assert e.run_due(now) == 1
        assert [m["event"] for m in marks(e, "A")] == ["warned"]


# -- applicability -----------------------------------------------------------------------------


def _applies(clocks: str, condition: str) -> str:
    """The clocks fixture with ``applies_when`` on its ``respond`` SLA (and a score field)."""
    text = clocks.replace(
        "    pause_in: [waiting]\n",
        f"    pause_in: [waiting]\n    applies_when: '{condition}'\n",
        1,
    )
    return text.replace("fields:\n", "fields:\n  score: {type: integer}\n", 1).replace(
        "version: 1", "version: 2", 1
    )


def test_an_sla_applies_only_to_the_leads_its_condition_selects(
    engine: Engine, clock: ManualClock
) -> None:
    """Leads ``applies_when`` does not select get no clock and are absent from the board (not
    met); a lead that stops matching has its running clock withdrawn; matching again starts a
    new clock. ``team`` is the owner's team."""
    engine.deploy(load_definition(_applies(CLOCKS.read_text(), "lead.score >= 80"), file="c.yaml"))
    engine.start(P, "hot", {"score": 90}, owner="ann")
    engine.start(P, "cold", {"score": 20}, owner="ann")
    engine.start(P, "cooling", {"score": 85}, owner="bob")
    assert [e for _, _, e in events(engine, "cold") if e] == []
    clock.advance(timedelta(minutes=10))
    engine.update(P, "cooling", {"score": 50})
    assert [(p, e) for _, p, e in events(engine, "cooling") if p == "respond"] == [
        ("respond", "started"),
        ("respond", "withdrawn"),
    ]
    assert {(lead, policy) for lead, policy, _ in timers(engine)} >= {("hot", "respond")}
    assert ("cooling", "respond") not in {(lead, policy) for lead, policy, _ in timers(engine)}
    clock.advance(timedelta(hours=3))  # hot breaches; cold and cooling have no clock
    board = {(r.owner, r.policy): r for r in sla_board(engine, P).rows}
    ann = board[("ann", "respond")]
    assert (ann.met, ann.breached, ann.pending) == (0, 1, 0)
    assert ("bob", "respond") not in board or board[("bob", "respond")].pending == 0
    engine.update(P, "cooling", {"score": 95})
    assert [e for _, p, e in events(engine, "cooling") if p == "respond"][-1] == "started"
    team_only = _applies(CLOCKS.read_text(), 'team == "reps"').replace("version: 2", "version: 3")
    engine.deploy(load_definition(team_only, file="t.yaml"))
    engine.start(P, "mine", owner="ann")
    engine.start(P, "outsider", owner="zed")  # not a member of any team
    assert [p for _, p, e in events(engine, "mine") if e == "started"].count("respond") == 1
    assert "respond" not in [p for _, p, _ in events(engine, "outsider")]


def test_applies_when_is_checked_like_every_condition() -> None:
    """An unknown field in ``applies_when`` is a located load error; activities are refused."""
    text = _applies(CLOCKS.read_text(), "lead.scroe >= 80")
    with pytest.raises(DefinitionError, match=r"c.yaml:\d+:\d+: .*scroe.*did you mean 'score'"):
        load_definition(text, file="c.yaml")
    with pytest.raises(DefinitionError, match="SLA conditions read lead, stage, owner"):
        load_definition(_applies(CLOCKS.read_text(), "activities.call > 0"), file="c.yaml")


# -- business days -----------------------------------------------------------------------------

NEXT_DAY = """
process: next-day
version: 1
calendars:
  ny: {timezone: America/New_York, hours: {mon-thu: "09:00-17:00", fri: "09:00-13:00"}}
slas:
  follow_up:
    stages: [new]
    target: 1 business day
    calendar: ny
    ladder:
      - {at: 50%, notify: owner}
stages:
  new: {initial: true}
  won: {closed: won}
transitions:
  - {name: win, from: new, to: won}
"""


def test_one_business_day_is_due_the_next_working_day_at_the_same_time(db_url: str) -> None:
    """``1 business day`` counts one usual working day (8 open hours here; Friday is short):
    Monday 10:00 is due Tuesday 10:00, Thursday 15:00 is due Monday 11:00 (2 h Thursday,
    4 h Friday, 2 h Monday); the half-way mark is half of that."""
    clock = ManualClock(ny(2026, 1, 5, 10, 0))
    with Engine(db_url, clock=clock, create=True) as e:
        e.deploy(load_definition(NEXT_DAY, file="next-day.yaml"))
        e.start("next-day", "mon")
        clock.set(ny(2026, 1, 8, 15, 0))
        e.start("next-day", "thu")
        due = {s.policy: s for s in e.slas("next-day", "mon")}["follow_up"]
        assert due.due_at == ny(2026, 1, 6, 10, 0)
        later = {s.policy: s for s in e.slas("next-day", "thu")}["follow_up"]
        assert later.due_at == ny(2026, 1, 12, 11, 0)
    assert "1 business day" in str(load_definition(NEXT_DAY).slas["follow_up"].target)


def test_business_days_and_open_hours_do_not_mix_in_one_sla() -> None:
    """A ladder in open hours under a target in business days is a located load error."""
    text = NEXT_DAY.replace("{at: 50%, notify: owner}", "{at: 4h business, notify: owner}")
    with pytest.raises(DefinitionError, match="business days or in open hours, not both"):
        load_definition(text, file="mixed.yaml")


def test_a_clock_paused_from_the_start_is_stopped_not_met(
    engine: Engine, clock: ManualClock
) -> None:
    """A lead whose clock is paused from its start (pause_when) and leaves the stages did not
    keep the SLA: its clock ends ``stopped``, and the board counts it so, not as met."""
    text = CLOCKS.read_text().replace("version: 1", "version: 7", 1)
    text = text.replace("    fulfilled_by: {activity: {type: call}}\n", "", 1)
    engine.deploy(load_definition(text, file="clocks.yaml"))
    engine.start(P, "held", {"on_hold": True}, owner="ann")
    engine.start(P, "ran", owner="ann")
    clock.advance(timedelta(minutes=20))
    for lead in ("held", "ran"):
        engine.fire(P, lead, "work")
    ends = {
        lead: [e for _, p, e in events(engine, lead) if p == "respond"][-1]
        for lead in ("held", "ran")
    }
    assert ends == {"held": "stopped", "ran": "fulfilled"}
    row = {(r.owner, r.policy): r for r in sla_board(engine, P).rows}[("ann", "respond")]
    assert (row.met, row.stopped) == (1, 1)


def test_the_board_shows_business_and_calendar_response_side_by_side(
    engine: Engine, clock: ManualClock
) -> None:
    """A lead started Friday 16:50 and called Monday 09:10 (New York, hours 09-17) was answered
    in 20 business minutes and 64 h 20 min of calendar time; the board says both."""
    clock.set(ny(2026, 1, 9, 16, 50))
    engine.start(P, "weekend", owner="ann")
    clock.set(ny(2026, 1, 12, 9, 10))
    engine.record(P, "weekend", "call")
    row = {(r.owner, r.policy): r for r in sla_board(engine, P).rows}[("ann", "respond")]
    assert row.median_response == 20 * 60
    assert row.median_response_calendar == (64 * 60 + 20) * 60
    assert row.as_dict()["p90_response_calendar"] == (64 * 60 + 20) * 60


# -- snoozing ----------------------------------------------------------------------------------


def _snoozable(clocks: str) -> str:
    text = clocks.replace("version: 1", "version: 8", 1)
    return text.replace(
        "    fulfilled_by: {activity: {type: call}}\n",
        "    fulfilled_by: {activity: {type: call}}\n"
        "    snooze: {max: 1h business, roles: [manager]}\n",
        1,
    )


def test_a_manager_snoozes_a_clock_with_a_reason_and_its_deadline_moves(
    engine: Engine, clock: ManualClock
) -> None:
    """A 30-minute snooze moves the breach 30 business minutes later; the history says who,
    by how much and why; the total is capped by ``max``."""
    from leadflow.engine import SnoozeRefused
    from leadflow.engine.access import AccessDenied, Actor

    engine.deploy(load_definition(_snoozable(CLOCKS.read_text()), file="clocks.yaml"))
    engine.start(P, "L", owner="ann")
    before = {s.policy: s for s in engine.slas(P, "L")}["respond"].due_at
    boss = Actor("lea", "manager", "reps")
    engine.snooze_sla(P, "L", "respond", "30m", "customer asked to be called after lunch", boss)
    after = {s.policy: s for s in engine.slas(P, "L")}["respond"].due_at
    assert after - before == timedelta(minutes=30)
    last = engine.history(P, "L")[-1]
    assert (last.kind, last.actor) == ("sla_snoozed", "lea")
    assert last.details["sla"][0] == {
        "policy": "respond",
        "event": "snoozed",
        "by": 1800.0,
        "total": 1800.0,
        "reason": "customer asked to be called after lunch",
    }
    refusals = [
        (("45m", "more", boss), "would pass the maximum of 1h business"),
        (("10m", "  ", boss), "say why"),
    ]
    for (by, reason, who), said in refusals:
        with pytest.raises(SnoozeRefused, match=said):
            engine.snooze_sla(P, "L", "respond", by, reason, who)
    with pytest.raises(AccessDenied, match="the rep role may not snooze") as denied:
        engine.snooze_sla(P, "L", "respond", "10m", "busy", Actor("ann", "rep"))
    assert denied.value.rule == "slas.respond.snooze.roles"
    with pytest.raises(SnoozeRefused, match="does not allow snoozing"):
        engine.snooze_sla(P, "L", "answer", "10m", "why not", boss)
    assert engine.history(P, "L")[-1].seq == last.seq  # the refusals changed nothing
