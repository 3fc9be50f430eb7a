"""The Pipedrive adapter against a local fake of the Pipedrive API v2."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fakes import delivery, make_event, resolver
from fakes.pipedrive import FakePipedrive

from leadflow.adapters import pipedrive
from leadflow.adapters.base import Adapter, AdapterConfigError, Outcome
from leadflow.engine.testing import ManualClock

TOKEN = "0123456789abcdef0123456789abcdef01234567"
OAUTH = "v1:oauth-access-token-fake"
SECRETS = {"env:PD_TOKEN": TOKEN, "env:PD_OAUTH": OAUTH}
STAGES = {"new": "1", "contacted": "2", "qualified": "3"}
FIELDS = {"amount": "value", "segment": "5f1e8a42d4c0b9a5e0c7f3b2a1d4e6f8a9b0c1d2"}
OWNERS = {"ann@example.com": "11", "bob@example.com": "12"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))


@pytest.fixture
def pd(clock: ManualClock) -> Iterator[FakePipedrive]:
    with FakePipedrive(api_token=TOKEN, oauth_token=OAUTH, clock=clock) as server:
        yield server


@pytest.fixture
def build(pd: FakePipedrive, clock: ManualClock) -> Iterator[Any]:
    """pipedrive.create(...) pointed at the fake; adapters closed after the test."""
    made: list[Adapter] = []

    def make(**options: Any) -> Adapter:
        opts = {"base_url": pd.url, "owners": OWNERS, **options}
        if "oauth_token" not in opts:
            opts.setdefault("api_token", "env:PD_TOKEN")
        made.append(pipedrive.create("pipedrive", opts, resolver(SECRETS), clock))
        return made[-1]

    yield make
    for adapter in made:
        adapter.close()


@pytest.fixture
def adapter(build: Any) -> Adapter:
    return build()  # type: ignore[no-any-return]


def event_for(
    deal: int | None, short: str = "stage_changed", to: str = "contacted", **data: Any
) -> Any:
    lead = {"pipedrive_deal_id": deal} if deal is not None else {}
    event = make_event(short, stage=to, to_stage=to, from_stage="new", lead=lead, **data)
    return delivery(event, stages=STAGES, fields=FIELDS)


def test_stage_change_patches_stage_id(pd: FakePipedrive, adapter: Adapter) -> None:
    """A stage change PATCHes the deal's stage_id (as an integer) and keeps it open."""
    deal = pd.add_deal(stage_id=1)
    [result] = adapter.deliver([event_for(deal)])
    assert (result.outcome, result.status) == (Outcome.DELIVERED, 200), result.detail
    [call] = pd.requests
    assert (call.method, call.path) == ("PATCH", f"/api/v2/deals/{deal}")
    assert call.headers["x-api-token"] == TOKEN
    assert call.json == {"stage_id": 2, "status": "open"}
    assert pd.deals[deal]["stage_id"] == 2


def test_closed_lost_sends_status_and_reason(pd: FakePipedrive, adapter: Adapter) -> None:
    """A lost close sets status lost with the lead's lost reason (stage unmapped is fine)."""
    deal = pd.add_deal(stage_id=2)
    item = event_for(deal, "closed_lost", "lost", changes={"lost_reason": [None, "no budget"]})
    [result] = adapter.deliver([item])
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert pd.calls("PATCH")[0].json == {"status": "lost", "lost_reason": "no budget"}
    assert pd.deals[deal]["status"] == "lost"


def test_closed_won_sets_status_won(pd: FakePipedrive, adapter: Adapter) -> None:
    """A won close sets status won."""
    deal = pd.add_deal()
    [result] = adapter.deliver([event_for(deal, "closed_won", "won")])
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert pd.deals[deal]["status"] == "won"


def test_lost_reason_on_an_open_deal_is_refused(pd: FakePipedrive, adapter: Adapter) -> None:
    """Pipedrive's refusal of lost_reason without status lost is a permanent failure."""
    deal = pd.add_deal()
    item = event_for(deal, "updated", changes={"amount": [None, 5]})
    pd.fail_next(
        400,
        {
            "success": False,
            "error": "lost_reason can only be set when the deal status is lost",
            "error_info": "see docs",
        },
    )
    [result] = adapter.deliver([item])
    assert (result.outcome, result.status) == (Outcome.FAILED, 400)
    assert "lost_reason can only be set" in result.detail


def test_mapped_fields_split_into_standard_and_custom(pd: FakePipedrive, adapter: Adapter) -> None:
    """Standard deal fields go top level, other mapped fields into custom_fields."""
    deal = pd.add_deal()
    item = event_for(deal, "updated", changes={"amount": [0, 1200], "segment": [None, "smb"]})
    [result] = adapter.deliver([item])
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert pd.calls("PATCH")[0].json == {
        "value": 1200,
        "custom_fields": {"5f1e8a42d4c0b9a5e0c7f3b2a1d4e6f8a9b0c1d2": "smb"},
    }
    assert pd.deals[deal]["value"] == 1200


def test_assigned_sets_owner_id(pd: FakePipedrive, adapter: Adapter) -> None:
    """An owner change sets owner_id from the owners option."""
    deal = pd.add_deal()
    [result] = adapter.deliver([event_for(deal, "assigned", owner="bob@example.com")])
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert pd.deals[deal]["owner_id"] == 12


def test_activity_is_created_done_on_the_deal(pd: FakePipedrive, adapter: Adapter) -> None:
    """A recorded call becomes a done call activity on the deal at the event's time."""
    deal = pd.add_deal()
    item = event_for(
        deal,
        "activity_recorded",
        owner="ann@example.com",
        activity={"type": "call", "data": {"outcome": "connected"}},
    )
    [result] = adapter.deliver([item])
    assert result.outcome is Outcome.DELIVERED, result.detail
    [activity] = pd.activities.values()
    assert activity["type"] == "call"
    assert activity["done"] is True
    assert activity["deal_id"] == deal
    assert (activity["due_date"], activity["due_time"]) == ("2026-01-05", "09:30")
    assert activity["owner_id"] == 11
    assert "outcome: connected" in activity["note"]


def test_sla_event_is_an_open_task(pd: FakePipedrive, adapter: Adapter) -> None:
    """An SLA breach becomes an open task activity with the policy's message."""
    deal = pd.add_deal()
    mark = {"policy": "speed_to_call", "event": "breached", "message": "Call within 5 minutes"}
    [result] = adapter.deliver([event_for(deal, "sla_breached", sla=[mark])])
    assert result.outcome is Outcome.DELIVERED, result.detail
    [activity] = pd.activities.values()
    assert (activity["type"], activity["done"]) == ("task", False)
    assert activity["subject"] == "Call within 5 minutes (lead L-1)"


def test_lead_id_as_deal_id(pd: FakePipedrive, build: Any) -> None:
    """deal_id_from = lead_id addresses the deal by the lead id."""
    deal = pd.add_deal()
    adapter = build(deal_id_from="lead_id")
    event = make_event("stage_changed", str(deal), to_stage="qualified")
    [result] = adapter.deliver([delivery(event, stages=STAGES)])
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert pd.deals[deal]["stage_id"] == 3


def test_oauth_bearer(pd: FakePipedrive, build: Any) -> None:
    """oauth_token authenticates with a Bearer header."""
    deal = pd.add_deal()
    adapter = build(oauth_token="env:PD_OAUTH")
    [result] = adapter.deliver([event_for(deal)])
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert pd.requests[0].headers["authorization"] == f"Bearer {OAUTH}"
    assert "x-api-token" not in pd.requests[0].headers


def test_query_token_is_never_shown(
    pd: FakePipedrive, build: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """With token_in_query the api_token rides the query but never reaches a detail or log."""
    caplog.set_level(logging.DEBUG)
    deal = pd.add_deal()
    adapter = build(token_in_query=True)
    assert adapter.deliver([event_for(deal)])[0].outcome is Outcome.DELIVERED
    assert pd.requests[0].query["api_token"] == TOKEN
    pd.fail_next(400, {"success": False, "error": f"bad request /deals?api_token={TOKEN}"})
    results = adapter.deliver([event_for(deal)])
    pd.stall_next()
    results += build(token_in_query=True, read_timeout=0.2).deliver([event_for(deal)])
    pd.fail_next(500, {"success": False, "error": "x"})
    results += adapter.deliver([event_for(deal)])
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.RETRY, Outcome.RETRY]
    for result in results:
        assert TOKEN not in result.detail
    assert "api_token=***" in results[0].detail
    assert TOKEN not in caplog.text


# -- failures ----------------------------------------------------------------------------------


def test_unmapped_stage_or_missing_deal_fails_without_a_call(
    pd: FakePipedrive, adapter: Adapter
) -> None:
    """An unmapped open stage, a missing deal id and a non-integer id fail permanently."""
    results = adapter.deliver([event_for(1, to="nurture")])
    results += adapter.deliver([event_for(None)])
    results += adapter.deliver([event_for("abc")])  # type: ignore[arg-type]
    assert [r.outcome for r in results] == [Outcome.FAILED] * 3
    assert "'nurture'" in results[0].detail
    assert "pipedrive_deal_id" in results[1].detail
    assert "'abc' is not a Pipedrive deal id" in results[2].detail
    assert pd.requests == []


def test_unknown_deal_is_permanent(pd: FakePipedrive, adapter: Adapter) -> None:
    """A 404 Deal not found is a permanent failure with Pipedrive's message."""
    [result] = adapter.deliver([event_for(999)])
    assert (result.outcome, result.status) == (Outcome.FAILED, 404)
    assert "Deal not found" in result.detail


def test_burst_limit_waits_for_the_reset(
    pd: FakePipedrive, adapter: Adapter, clock: ManualClock
) -> None:
    """A 429 over the 2 s burst is a RETRY after x-ratelimit-reset; later calls go through."""
    deal = pd.add_deal()
    pd.rate_limit(burst=1)
    assert adapter.deliver([event_for(deal)])[0].outcome is Outcome.DELIVERED
    [result] = adapter.deliver([event_for(deal)])
    assert (result.outcome, result.status, result.retry_after) == (Outcome.RETRY, 429, 2.0)
    clock.advance(timedelta(seconds=2))
    assert adapter.deliver([event_for(deal)])[0].outcome is Outcome.DELIVERED


def test_retry_after_header_wins(pd: FakePipedrive, adapter: Adapter) -> None:
    """Retry-After on a 429 gives the wait."""
    pd.fail_next(429, {"success": False, "error": "Request over limit"}, {"Retry-After": "9"})
    [result] = adapter.deliver([event_for(pd.add_deal())])
    assert (result.outcome, result.retry_after) == (Outcome.RETRY, 9.0)


def test_daily_budget_waits_until_midnight(
    pd: FakePipedrive, adapter: Adapter, clock: ManualClock
) -> None:
    """An exhausted daily budget is a RETRY after the UTC midnight reset."""
    clock.set(datetime(2026, 1, 5, 18, 0, tzinfo=UTC))
    pd.rate_limit(daily=0)
    [result] = adapter.deliver([event_for(pd.add_deal())])
    assert (result.outcome, result.retry_after) == (Outcome.RETRY, 6 * 3600.0)
    assert "daily budget" in result.detail


def test_throttle_stops_the_rest_of_the_batch(pd: FakePipedrive, adapter: Adapter) -> None:
    """After a 429 the rest of a batch is not attempted and carries the same wait."""
    pd.rate_limit(burst=0)
    results = adapter.deliver([event_for(pd.add_deal()), event_for(pd.add_deal())])
    assert [(r.outcome, r.retry_after) for r in results] == [(Outcome.RETRY, 2.0)] * 2
    assert len(pd.requests) == 1


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(500, Outcome.RETRY), (503, Outcome.RETRY), (401, Outcome.FAILED), (403, Outcome.FAILED)],
)
def test_status_classification(
    pd: FakePipedrive, adapter: Adapter, status: int, outcome: Outcome
) -> None:
    """5xx retries; 401 and 403 are permanent."""
    pd.fail_next(status, {"success": False, "error": "nope"})
    [result] = adapter.deliver([event_for(pd.add_deal())])
    assert (result.outcome, result.status) == (outcome, status)


def test_ignored_events_make_no_call(pd: FakePipedrive, adapter: Adapter) -> None:
    """A start without a deal id and an update of unmapped fields are ignored."""
    started = event_for(None, "started", "new")
    updated = event_for(1, "updated", changes={"notes": [None, "x"]})
    results = adapter.deliver([started]) + adapter.deliver([updated])
    assert all(r.detail.startswith("ignored: ") for r in results)
    assert pd.requests == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "set exactly one of api_token or oauth_token"),
        ({"api_token": "env:PD_TOKEN", "oauth_token": "env:PD_OAUTH"}, "exactly one"),
        (
            {"api_token": "env:PD_TOKEN", "deal_id_from": "email"},
            "adapters.pipedrive.deal_id_from is 'email'; allowed: field, lead_id",
        ),
        (
            {"api_token": "env:PD_TOKEN", "token_in_query": "yes"},
            "adapters.pipedrive.token_in_query must be true or false",
        ),
        (
            {"api_token": "env:PD_TOKEN", "connect_timeout": -1},
            "adapters.pipedrive.connect_timeout must be a positive number",
        ),
    ],
)
def test_bad_options_name_the_key(options: dict[str, Any], message: str) -> None:
    """Invalid options raise AdapterConfigError naming the key and what is allowed."""
    with pytest.raises(AdapterConfigError, match=message):
        pipedrive.create("pipedrive", options, resolver(SECRETS))
