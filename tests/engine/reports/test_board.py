"""reports.board: the pipeline board's columns, totals, pages and SLA badges."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from leadflow.definitions import library_path
from leadflow.engine import Engine, reports
from leadflow.engine.store import last_change
from leadflow.engine.testing import ManualClock

DEALS = Path(__file__).parents[2] / "definitions" / "web" / "deals.yaml"
NY = ZoneInfo("America/New_York")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 5, 10, 0, tzinfo=NY))  # a Monday, 10:00 in New York


@pytest.fixture
def engine(clock: ManualClock, db_url: str) -> Iterator[Engine]:
    """An engine on SQLite and on PostgreSQL (the board's queries differ by dialect)."""
    with Engine(db_url, clock=clock, create=True) as e:
        e.deploy(library_path("inbound-lead"))
        e.deploy(DEALS)
        yield e


def test_columns_count_and_sum_the_leads_the_filter_keeps(engine: Engine) -> None:
    """Totals cover every open lead of a stage that the owner filter keeps, not only the
    page; values that are not numbers count as 0; the weighted value uses the probability."""
    engine.start("deals", "a", {"amount": 100}, "ana")
    engine.start("deals", "b", {"amount": 250.5}, "ben")
    engine.start("deals", "c", {}, None)
    board = reports.board(engine, "deals", per_column=1)
    new = board.columns[0]
    assert (new.stage, new.leads, new.value, new.weighted_value) == ("new", 3, 350.5, 35.05)
    assert [c.lead.lead_id for c in new.cards] == ["a"]
    assert new.next_cursor is not None
    rest = reports.board(engine, "deals", per_column=5, after={"new": new.next_cursor})
    assert [c.lead.lead_id for c in rest.columns[0].cards] == ["b", "c"]
    assert rest.columns[0].next_cursor is None
    mine = reports.board(engine, "deals", owners={"ana"}, unassigned=True).columns[0]
    assert (mine.leads, mine.value, [c.lead.lead_id for c in mine.cards]) == (2, 100, ["a", "c"])
    assert [c.stage for c in board.columns] == ["new", "proposal"]


def test_sla_badges_go_ok_warning_breached(engine: Engine, clock: ManualClock) -> None:
    """A new inbound lead's speed-to-call clock shows ok, then warning once the 3-minute mark
    fired, then breached once the 5-minute target passed; a lead without a clock has none."""
    engine.start("inbound-lead", "l1", {"email": "a@example.com"}, "sdr_ana")
    engine.start("deals", "d1", {}, "ana")

    def badge() -> tuple[str | None, datetime | None]:
        card = reports.board(engine, "inbound-lead").columns[0].cards[0]
        return card.sla, card.sla_due

    status, due = badge()
    assert status == "ok"
    assert due is not None
    assert reports.board(engine, "deals").columns[0].cards[0].sla is None
    clock.advance(timedelta(minutes=3, seconds=30))
    engine.run_due()
    assert badge()[0] == "warning"
    clock.advance(timedelta(minutes=2))
    assert badge()[0] == "breached"  # past the target before the sweep marked it
    engine.run_due()
    assert badge()[0] == "breached"


def test_a_bad_page_size_is_refused(engine: Engine) -> None:
    """per_column must be at least 1."""
    with pytest.raises(ValueError, match="per_column"):
        reports.board(engine, "deals", per_column=0)


def test_last_change_grows_with_every_change(engine: Engine) -> None:
    """The newest history id moves on every change of any lead."""
    before = last_change(engine.store)
    engine.start("deals", "x", {}, "ana")
    after_start = last_change(engine.store)
    engine.record("deals", "x", "call", {})
    assert before < after_start < last_change(engine.store)


def test_open_clocks_name_no_lead_and_come_soonest_first(
    engine: Engine, clock: ManualClock
) -> None:
    """open_clocks lists each active clock of the owners' open leads, soonest due first, with
    its owner and status and no lead id."""
    engine.start("inbound-lead", "first", {"email": "a@example.com"}, "sdr_ana")
    clock.advance(timedelta(minutes=1))
    engine.start("inbound-lead", "second", {"email": "b@example.com"}, "sdr_ben")
    engine.start("inbound-lead", "other", {"email": "c@example.com"}, "elsewhere")
    clocks = reports.open_clocks(engine, "inbound-lead", owners={"sdr_ana", "sdr_ben"})
    speed = [c for c in clocks if c.policy == "speed_to_call"]
    assert [c.owner for c in speed] == ["sdr_ana", "sdr_ben"]
    assert all(c.status == "ok" and c.state == "running" for c in speed)
    assert speed[0].due_at is not None
    dues = [c.due_at for c in clocks if c.due_at is not None]
    assert dues == sorted(dues)
    assert {c.owner for c in clocks} == {"sdr_ana", "sdr_ben"}
    assert not hasattr(speed[0], "lead_id")
    clock.advance(timedelta(minutes=5))
    assert reports.open_clocks(engine, "inbound-lead", owners={"sdr_ana"})[0].status == "breached"


def test_cards_carry_their_newest_activity(engine: Engine, clock: ManualClock) -> None:
    """Each card names the type and time of its lead's newest activity (None before one)."""
    engine.start("deals", "a", {}, "ana")
    engine.start("deals", "b", {}, "ana")
    engine.record("deals", "a", "call", {})
    clock.advance(timedelta(hours=1))
    engine.record("deals", "a", "email", {})
    cards = {c.lead.lead_id: c for c in reports.board(engine, "deals").columns[0].cards}
    assert cards["a"].last_activity == ("email", clock.now())
    assert cards["b"].last_activity is None


def test_a_field_filter_narrows_cards_and_totals(engine: Engine) -> None:
    """``fields`` keeps the leads whose field holds the value, in the cards and the totals."""
    engine.start("inbound-lead", "s1", {"email": "a@x.io", "segment": "smb"}, "sdr_ana")
    engine.start("inbound-lead", "s2", {"email": "b@x.io", "segment": "smb"}, "sdr_ben")
    engine.start("inbound-lead", "e1", {"email": "c@x.io", "segment": "enterprise"}, "sdr_ana")
    engine.start("inbound-lead", "n1", {"email": "d@x.io"}, "sdr_ana")
    smb = reports.board(engine, "inbound-lead", fields={"segment": "smb"}).columns[0]
    assert (smb.leads, [c.lead.lead_id for c in smb.cards]) == (2, ["s1", "s2"])
    mine = reports.board(
        engine, "inbound-lead", owners={"sdr_ana"}, fields={"segment": "enterprise"}
    ).columns[0]
    assert [c.lead.lead_id for c in mine.cards] == ["e1"]
    with_value = reports.board(engine, "deals", fields={"email": "nobody"}).columns[0]
    assert (with_value.leads, with_value.value, with_value.cards) == (0, 0.0, ())


def test_idle_since_is_the_later_of_stage_entry_and_newest_activity(
    engine: Engine, clock: ManualClock
) -> None:
    """A card is idle since it entered its stage, or since its newest activity if later."""
    engine.start("deals", "quiet", {}, "ana")
    entered = clock.now()
    engine.start("deals", "busy", {}, "ana")
    clock.advance(timedelta(days=3))
    engine.record("deals", "busy", "call", {})
    cards = {c.lead.lead_id: c for c in reports.board(engine, "deals").columns[0].cards}
    assert cards["quiet"].idle_since == entered
    assert cards["busy"].idle_since == clock.now()


def test_a_hidden_value_field_is_not_summed(engine: Engine) -> None:
    """With the value field hidden from the caller, the board has no value field and no sums."""
    engine.start("deals", "a", {"amount": 100}, "ana")
    board = reports.board(engine, "deals", hidden={"amount"})
    assert board.value_field is None
    assert board.columns[0].value == 0.0
    assert board.columns[0].leads == 1
