"""The HubSpot adapter against a local fake of the HubSpot CRM v3 API."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fakes import delivery, make_event, resolver
from fakes.hubspot import FakeHubSpot
from hypothesis import given
from hypothesis import strategies as st

from leadflow.adapters import hubspot
from leadflow.adapters._http import Redactor, retry_after_seconds
from leadflow.adapters.base import Adapter, AdapterConfigError, Outcome, Result
from leadflow.engine.testing import ManualClock

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
STAGES = {
    "new": "appointmentscheduled",
    "contacted": "qualifiedtobuy",
    "won": "closedwon",
    "lost": "closedlost",
}
FIELDS = {"score": "lead_score", "lost_reason": "closed_lost_reason"}
OWNERS = {"ann@example.com": "101", "bob@example.com": "102"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))


@pytest.fixture
def hs(clock: ManualClock) -> Iterator[FakeHubSpot]:
    with FakeHubSpot(token=TOKEN, clock=clock) as server:
        yield server


@pytest.fixture
def build(clock: ManualClock) -> Iterator[Any]:
    """hubspot.create(...) whose adapters are closed after the test."""
    made: list[Adapter] = []

    def make(options: dict[str, Any], secrets: dict[str, str] | None = None) -> Adapter:
        secrets = secrets or {"env:HUBSPOT_TOKEN": TOKEN}
        made.append(hubspot.create("hubspot", options, resolver(secrets), clock))
        return made[-1]

    yield make
    for adapter in made:
        adapter.close()


@pytest.fixture
def make_adapter(build: Any) -> Any:
    def make(hs: FakeHubSpot, clock: ManualClock, **options: Any) -> Adapter:
        return build(
            {"token": "env:HUBSPOT_TOKEN", "base_url": hs.url, "owners": OWNERS, **options}
        )

    return make


@pytest.fixture
def adapter(hs: FakeHubSpot, clock: ManualClock, make_adapter: Any) -> Adapter:
    return make_adapter(hs, clock)  # type: ignore[no-any-return]


def stage_changed(deal: str | None, to: str = "contacted", lead: str = "L-1", **data: Any) -> Any:
    changes = {"hubspot_deal_id": [None, deal]} if deal else {}
    changes.update(data.pop("changes", {}))
    return delivery(
        make_event(
            "stage_changed", lead, stage=to, from_stage="new", to_stage=to, changes=changes, **data
        ),
        stages=STAGES,
        fields=FIELDS,
    )


# -- property updates ---------------------------------------------------------------------------


def test_stage_change_patches_dealstage_with_the_mapped_id(
    hs: FakeHubSpot, adapter: Adapter
) -> None:
    """A stage change becomes a PATCH of the deal's dealstage to the subscription's stage id."""
    deal = hs.add_deal(dealname="Acme", dealstage="appointmentscheduled")
    [result] = adapter.deliver([stage_changed(deal)])
    assert result.outcome is Outcome.DELIVERED, result.detail
    [call] = hs.calls("PATCH")
    assert call.path == f"/crm/v3/objects/deals/{deal}"
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.json == {"properties": {"dealstage": "qualifiedtobuy"}}
    assert hs.objects["deals"][deal]["dealstage"] == "qualifiedtobuy"


def test_closed_lost_sends_the_stage_and_the_mapped_reason(
    hs: FakeHubSpot, adapter: Adapter
) -> None:
    """A lost close carries the mapped fields the transition changed (the loss reason)."""
    deal = hs.add_deal(dealstage="qualifiedtobuy")
    item = delivery(
        make_event(
            "closed_lost",
            to_stage="lost",
            stage="lost",
            closed="lost",
            changes={"lost_reason": [None, "no budget"], "hubspot_deal_id": [None, deal]},
        ),
        stages=STAGES,
        fields=FIELDS,
    )
    [result] = adapter.deliver([item])
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert hs.objects["deals"][deal]["dealstage"] == "closedlost"
    assert hs.objects["deals"][deal]["closed_lost_reason"] == "no budget"


def test_a_batch_of_stage_changes_is_one_batch_update(hs: FakeHubSpot, adapter: Adapter) -> None:
    """Several deals in one deliver() go out as one batch/update call, one input each."""
    deals = [hs.add_deal(dealstage="appointmentscheduled") for _ in range(3)]
    results = adapter.deliver([stage_changed(d, lead=f"L-{i}") for i, d in enumerate(deals)])
    assert [r.outcome for r in results] == [Outcome.DELIVERED] * 3
    [call] = hs.requests
    assert call.path == "/crm/v3/objects/deals/batch/update"
    assert [i["id"] for i in call.json["inputs"]] == deals
    assert all(hs.objects["deals"][d]["dealstage"] == "qualifiedtobuy" for d in deals)


def test_two_changes_of_one_deal_in_a_batch_keep_their_order(
    hs: FakeHubSpot, adapter: Adapter
) -> None:
    """Two writes to the same deal never share a batch call (HubSpot refuses duplicate ids)."""
    deal, other = hs.add_deal(), hs.add_deal()
    batch = [stage_changed(deal, "contacted"), stage_changed(other), stage_changed(deal, "won")]
    results = adapter.deliver(batch)
    assert [r.outcome for r in results] == [Outcome.DELIVERED] * 3
    assert len(hs.requests) == 2
    assert hs.objects["deals"][deal]["dealstage"] == "closedwon"


def test_batch_multi_status_fails_only_the_missing_deal(hs: FakeHubSpot, adapter: Adapter) -> None:
    """A 207 with an OBJECT_NOT_FOUND error fails the missing deal and delivers the others."""
    good = hs.add_deal()
    results = adapter.deliver([stage_changed(good), stage_changed("424242", lead="L-2")])
    assert results[0].outcome is Outcome.DELIVERED
    assert results[1].outcome is Outcome.FAILED
    assert results[1].status == 207
    assert "OBJECT_NOT_FOUND" in results[1].detail
    assert "424242" in results[1].detail


def test_a_batch_refused_as_a_whole_is_retried_record_by_record(
    hs: FakeHubSpot, adapter: Adapter
) -> None:
    """When one input has an invalid value HubSpot refuses the batch; only that one fails."""
    a, b = hs.add_deal(), hs.add_deal()
    bad = delivery(
        make_event(
            "stage_changed", "L-2", to_stage="contacted", changes={"hubspot_deal_id": [None, b]}
        ),
        stages={"contacted": "no-such-stage"},
    )
    results = adapter.deliver([stage_changed(a), bad])
    assert results[0].outcome is Outcome.DELIVERED
    assert results[1].outcome is Outcome.FAILED
    assert "INVALID_OPTION in dealstage" in results[1].detail
    assert [c.method for c in hs.requests] == ["POST", "PATCH", "PATCH"]


def test_updated_sends_mapped_changed_fields_and_none_clears(
    hs: FakeHubSpot, adapter: Adapter
) -> None:
    """A data update sends each mapped field that changed; an unset field is cleared with ""."""
    deal = hs.add_deal(lead_score="10", closed_lost_reason="x")
    event = make_event(
        "updated",
        changes={"score": [10, 80], "lost_reason": ["x", None], "notes": [None, "hi"]},
        lead={"hubspot_deal_id": deal},
    )
    [result] = adapter.deliver([delivery(event, fields=FIELDS)])
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert hs.calls("PATCH")[0].json == {"properties": {"lead_score": 80, "closed_lost_reason": ""}}


def test_assigned_maps_the_owner(hs: FakeHubSpot, adapter: Adapter) -> None:
    """An owner change sets hubspot_owner_id from the owners option."""
    deal = hs.add_deal()
    event = make_event(
        "assigned", owner="bob@example.com", previous_owner=None, lead={"hubspot_deal_id": deal}
    )
    [result] = adapter.deliver([delivery(event)])
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert hs.objects["deals"][deal]["hubspot_owner_id"] == "102"


def test_an_owner_without_a_hubspot_id_fails_without_a_call(
    hs: FakeHubSpot, adapter: Adapter
) -> None:
    """An owner missing from the owners map fails permanently, naming the owner."""
    event = make_event("assigned", owner="eve@example.com", lead={"hubspot_deal_id": "1"})
    [result] = adapter.deliver([delivery(event)])
    assert result.outcome is Outcome.FAILED
    assert "'eve@example.com'" in result.detail
    assert "adapters.hubspot.owners" in result.detail
    assert hs.requests == []


def test_id_property_addresses_the_deal_by_lead_id(
    hs: FakeHubSpot, clock: ManualClock, make_adapter: Any
) -> None:
    """With id_property the deal is addressed by the lead id through ?idProperty=."""
    deal = hs.add_deal(leadflow_lead_id="L-7")
    adapter = make_adapter(hs, clock, id_property="leadflow_lead_id")
    [result] = adapter.deliver([stage_changed(None, lead="L-7")])
    assert result.outcome is Outcome.DELIVERED, result.detail
    [call] = hs.calls("PATCH")
    assert call.path == "/crm/v3/objects/deals/L-7"
    assert call.query == {"idProperty": "leadflow_lead_id"}
    assert hs.objects["deals"][deal]["dealstage"] == "qualifiedtobuy"


def test_contacts_take_lifecyclestage(
    hs: FakeHubSpot, clock: ManualClock, make_adapter: Any
) -> None:
    """With object = contacts the stage goes to lifecyclestage of the contact."""
    contact = hs.add_contact(email="a@example.com")
    adapter = make_adapter(hs, clock, object="contacts")
    item = delivery(
        make_event(
            "stage_changed", to_stage="mql", changes={"hubspot_contact_id": [None, contact]}
        ),
        stages={"mql": "marketingqualifiedlead"},
    )
    [result] = adapter.deliver([item])
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert hs.objects["contacts"][contact]["lifecyclestage"] == "marketingqualifiedlead"


# -- what is not sent ------------------------------------------------------------------------------


def test_unmapped_stage_fails_naming_it(hs: FakeHubSpot, adapter: Adapter) -> None:
    """A stage missing from the subscription's stages fails permanently, naming the stage."""
    [result] = adapter.deliver([stage_changed("1", to="nurture")])
    assert result.outcome is Outcome.FAILED
    assert "'nurture'" in result.detail
    assert "dealstage" in result.detail
    assert hs.requests == []


def test_events_without_an_action_are_delivered_as_ignored(
    hs: FakeHubSpot, adapter: Adapter
) -> None:
    """A start without a deal id and an update of unmapped fields are ignored without a call."""
    started = make_event("started", stage="new", to_stage="new", data={"email": "a@b.c"})
    updated = make_event("updated", changes={"notes": [None, "x"]})
    results = adapter.deliver([delivery(started, stages=STAGES), delivery(updated, fields=FIELDS)])
    assert [r.outcome for r in results] == [Outcome.DELIVERED, Outcome.DELIVERED]
    assert results[0].detail.startswith("ignored: leadflow.lead.started")
    assert "hubspot_deal_id" in results[0].detail
    assert results[1].detail.startswith("ignored: leadflow.lead.updated")
    assert hs.requests == []


def test_started_with_a_deal_id_sets_stage_owner_and_fields(
    hs: FakeHubSpot, adapter: Adapter
) -> None:
    """A lead that starts with a deal id mirrors its stage, owner and mapped fields."""
    deal = hs.add_deal()
    event = make_event(
        "started",
        stage="new",
        to_stage="new",
        owner="ann@example.com",
        data={"hubspot_deal_id": deal, "score": 12},
    )
    [result] = adapter.deliver([delivery(event, stages=STAGES, fields=FIELDS)])
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert hs.objects["deals"][deal] == {
        "dealstage": "appointmentscheduled",
        "hubspot_owner_id": "101",
        "lead_score": "12",
    }


def test_an_unknown_deal_id_is_a_permanent_failure(hs: FakeHubSpot, adapter: Adapter) -> None:
    """A lead without a deal id (and no id_property) fails, saying how to fix it."""
    [missing] = adapter.deliver([stage_changed(None)])
    assert missing.outcome is Outcome.FAILED
    assert "hubspot_deal_id" in missing.detail
    assert "id_property" in missing.detail
    [unknown] = adapter.deliver([stage_changed("999")])
    assert unknown.outcome is Outcome.FAILED
    assert unknown.status == 404


# -- notes and tasks -------------------------------------------------------------------------------


def test_activity_becomes_a_note_associated_with_the_deal(
    hs: FakeHubSpot, adapter: Adapter
) -> None:
    """A recorded call becomes a note on the deal (association type 214) at the event's time."""
    deal = hs.add_deal()
    event = make_event(
        "activity_recorded",
        owner="ann@example.com",
        lead={"hubspot_deal_id": deal},
        activity={"type": "call", "data": {"outcome": "no answer"}},
    )
    [result] = adapter.deliver([delivery(event)])
    assert result.outcome is Outcome.DELIVERED, result.detail
    [call] = hs.calls("POST", "/crm/v3/objects/notes")
    props = call.json["properties"]
    assert props["hs_timestamp"] == "2026-01-05T09:30:00.000Z"
    assert "call recorded on lead L-1" in props["hs_note_body"]
    assert "outcome: no answer" in props["hs_note_body"]
    assert props["hubspot_owner_id"] == "101"
    assert call.json["associations"][0]["types"][0]["associationTypeId"] == 214
    [(_note_id, links)] = hs.associations.items()
    assert links == [{"to": "deals", "id": deal, "type": 214}]


def test_sla_breach_becomes_a_high_priority_task(
    hs: FakeHubSpot, clock: ManualClock, make_adapter: Any
) -> None:
    """An SLA event becomes a HIGH priority open task, found through id_property (one GET)."""
    deal = hs.add_deal(leadflow_lead_id="L-1")
    adapter = make_adapter(hs, clock, id_property="leadflow_lead_id")
    event = make_event(
        "sla_breached", sla=[{"policy": "speed_to_call", "event": "breached"}], stage="new"
    )
    [result] = adapter.deliver([delivery(event)])
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert [c.method for c in hs.requests] == ["GET", "POST"]
    props = hs.calls("POST")[0].json["properties"]
    assert props["hs_task_priority"] == "HIGH"
    assert props["hs_task_status"] == "NOT_STARTED"
    assert props["hs_task_subject"] == "speed_to_call breached: lead L-1 in stage new"
    assert hs.calls("POST")[0].json["associations"][0]["to"] == {"id": deal}


def test_activities_can_be_ignored(hs: FakeHubSpot, clock: ManualClock, make_adapter: Any) -> None:
    """activities = "ignore" delivers activity events without a call."""
    adapter = make_adapter(hs, clock, activities="ignore")
    event = make_event("activity_recorded", activity={"type": "call", "data": {}})
    [result] = adapter.deliver([delivery(event)])
    assert result.detail.startswith("ignored:")
    assert hs.requests == []


# -- throttling and failures -----------------------------------------------------------------------


def test_ten_secondly_limit_retries_after_about_a_second(hs: FakeHubSpot, adapter: Adapter) -> None:
    """A 429 TEN_SECONDLY_ROLLING is a RETRY after 1 s; the rest of the batch is not attempted."""
    hs.rate_limit(1)
    deals = [hs.add_deal() for _ in range(2)]
    adapter.deliver([stage_changed(deals[0])])
    item = delivery(
        make_event(
            "activity_recorded",
            lead={"hubspot_deal_id": deals[1]},
            activity={"type": "call", "data": {}},
        )
    )
    results = adapter.deliver([stage_changed(deals[1]), item])
    assert [(r.outcome, r.retry_after, r.status) for r in results] == [
        (Outcome.RETRY, 1.0, 429),
        (Outcome.RETRY, 1.0, 429),
    ]
    assert "TEN_SECONDLY_ROLLING" in results[0].detail or "ten_secondly" in results[0].detail
    assert len(hs.requests) == 2


def test_retry_after_header_wins_over_the_policy(hs: FakeHubSpot, adapter: Adapter) -> None:
    """A Retry-After header on a 429 gives the wait."""
    hs.rate_limit(0, retry_after="7")
    [result] = adapter.deliver([stage_changed(hs.add_deal())])
    assert (result.outcome, result.retry_after) == (Outcome.RETRY, 7.0)


def test_daily_limit_waits_until_midnight(
    hs: FakeHubSpot, adapter: Adapter, clock: ManualClock
) -> None:
    """A 429 DAILY is a RETRY after the daily reset (midnight), never a second later."""
    hs.rate_limit(0, window=86400, policy="DAILY")
    clock.set(datetime(2026, 1, 5, 23, 0, tzinfo=UTC))
    [result] = adapter.deliver([stage_changed(hs.add_deal())])
    assert result.outcome is Outcome.RETRY
    assert result.retry_after == 3600.0


def test_rate_limit_window_rolls_on_the_clock(
    hs: FakeHubSpot, adapter: Adapter, clock: ManualClock
) -> None:
    """After the ten-second window passes, calls go through again."""
    hs.rate_limit(1)
    deal = hs.add_deal()
    assert adapter.deliver([stage_changed(deal)])[0].outcome is Outcome.DELIVERED
    assert adapter.deliver([stage_changed(deal)])[0].outcome is Outcome.RETRY
    clock.advance(timedelta(seconds=10))
    assert adapter.deliver([stage_changed(deal)])[0].outcome is Outcome.DELIVERED


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(500, Outcome.RETRY), (502, Outcome.RETRY), (503, Outcome.RETRY), (403, Outcome.FAILED)],
)
def test_server_errors_retry_and_refusals_fail(
    hs: FakeHubSpot, adapter: Adapter, status: int, outcome: Outcome
) -> None:
    """5xx is retried; a 403 (missing scope) is permanent; the body's message is in the detail."""
    hs.fail_next(status, {"status": "error", "message": "boom here", "category": "X"})
    [result] = adapter.deliver([stage_changed(hs.add_deal())])
    assert (result.outcome, result.status) == (outcome, status)
    assert "boom here" in result.detail


def test_bad_token_fails_without_showing_it(hs: FakeHubSpot, build: Any) -> None:
    """A 401 is permanent, hints at the token and never shows it."""
    adapter = build({"token": "env:T", "base_url": hs.url}, {"env:T": "pat-wrong-secret"})
    [result] = adapter.deliver([stage_changed(hs.add_deal())])
    assert (result.outcome, result.status) == (Outcome.FAILED, 401)
    assert "INVALID_AUTHENTICATION" in result.detail
    assert "token" in result.detail
    assert "pat-wrong-secret" not in result.detail


def test_a_stalled_server_is_a_retry_after_the_read_timeout(
    hs: FakeHubSpot, clock: ManualClock, make_adapter: Any
) -> None:
    """A server that does not answer within read_timeout gives a RETRY naming the call."""
    adapter = make_adapter(hs, clock, read_timeout=0.2)
    hs.stall_next()
    [result] = adapter.deliver([stage_changed("1")])
    assert result.outcome is Outcome.RETRY
    assert result.detail == "read timeout calling PATCH /crm/v3/objects/deals/1"


def test_an_unreachable_server_is_a_retry(build: Any) -> None:
    """A refused connection is a RETRY, not an exception."""
    with FakeHubSpot() as gone:
        url = gone.url
    adapter = build({"token": "env:T", "base_url": url, "connect_timeout": 0.5}, {"env:T": TOKEN})
    [result] = adapter.deliver([stage_changed("1")])
    assert result.outcome is Outcome.RETRY
    assert "ConnectError calling PATCH /crm/v3/objects/deals/1" in result.detail


def test_no_secret_in_any_detail_or_log(
    hs: FakeHubSpot, adapter: Adapter, caplog: pytest.LogCaptureFixture
) -> None:
    """Across successes, errors and throttling the token never shows in results or logs."""
    caplog.set_level(logging.DEBUG)
    hs.fail_next(500, {"message": f"echo Bearer {TOKEN}"})
    results = adapter.deliver([stage_changed(hs.add_deal())])
    results += adapter.deliver([stage_changed(None), stage_changed("1", to="nope")])
    hs.rate_limit(0)
    results += adapter.deliver([stage_changed(hs.add_deal())])
    assert "***" in results[0].detail
    for result in results:
        assert TOKEN not in result.detail
    assert TOKEN not in caplog.text


# -- concurrency -----------------------------------------------------------------------------------


def test_threads_share_one_client_and_its_connections(hs: FakeHubSpot, adapter: Adapter) -> None:
    """deliver() from 8 threads at once delivers everything over reused connections."""
    deals = [hs.add_deal() for _ in range(8)]
    results: list[Result] = []
    barrier = threading.Barrier(8)

    def run(deal: str) -> None:
        barrier.wait()
        for _ in range(5):
            results.extend(adapter.deliver([stage_changed(deal, lead=deal)]))

    threads = [threading.Thread(target=run, args=(d,)) for d in deals]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 40
    assert all(r.outcome is Outcome.DELIVERED for r in results)
    assert len({r.client_port for r in hs.requests}) <= 20 < len(hs.requests)


# -- configuration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "adapters.hubspot.token is required"),
        ({"token": "env:T", "tokn": 1}, "unknown option 'tokn'"),
        ({"token": "env:T", "object": "leads"}, "adapters.hubspot.object is 'leads'; allowed"),
        ({"token": "env:T", "read_timeout": 0}, "adapters.hubspot.read_timeout must be"),
        (
            {"token": "env:T", "base_url": "ftp://x"},
            "adapters.hubspot.base_url is not a usable URL",
        ),
        ({"token": "env:T", "owners": ["a"]}, "adapters.hubspot.owners must be a table"),
        ({"token": "env:T", "daily_reset_timezone": "Mars/Base"}, "IANA time zone"),
        ({"token": "env:MISSING"}, "secret env:MISSING is not set"),
    ],
)
def test_bad_options_name_the_key(options: dict[str, Any], message: str) -> None:
    """Invalid options raise AdapterConfigError naming the key and what is allowed."""
    with pytest.raises(AdapterConfigError, match=message.replace("(", r"\(")):
        hubspot.create("hubspot", options, resolver({"env:T": TOKEN}))


def test_create_gives_an_adapter(clock: ManualClock) -> None:
    """create() returns something satisfying the Adapter protocol, batching up to 100."""
    adapter = hubspot.create("hubspot", {"token": "env:T"}, resolver({"env:T": TOKEN}), clock)
    assert isinstance(adapter, Adapter)
    assert adapter.max_batch == 100
    adapter.close()


# -- helpers ---------------------------------------------------------------------------------------


@given(st.text(min_size=4), st.text(), st.text())
def test_redactor_never_lets_a_secret_through(secret: str, before: str, after: str) -> None:
    """Whatever surrounds it, a known secret never survives redaction."""
    text = Redactor([secret])(before + secret + after)
    assert secret not in text or secret in "***"


def test_redactor_masks_token_query_parameters() -> None:
    """api_token=... in a URL is masked even when the secret itself is unknown."""
    text = Redactor()("GET https://x/api/v2/deals/1?api_token=abc123&x=1")
    assert text == "GET https://x/api/v2/deals/1?api_token=***&x=1"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "12"}, 12.0),
        ({"Retry-After": "Mon, 05 Jan 2026 09:01:00 GMT"}, 60.0),
        (
            {
                "Retry-After": "Mon, 05 Jan 2026 09:01:00 GMT",
                "Date": "Mon, 05 Jan 2026 09:00:30 GMT",
            },
            30.0,
        ),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_reads_seconds_and_dates(headers: dict[str, str], expected: float) -> None:
    """Retry-After as seconds or an HTTP-date (against the response Date, else the clock)."""
    response = httpx.Response(429, headers=headers)
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert retry_after_seconds(response, now) == expected


@given(st.lists(st.tuples(st.sampled_from("abcde"), st.sampled_from(["deals", "contacts"]))))
def test_chunks_keep_each_records_order_and_size(writes: list[tuple[str, str]]) -> None:
    """Chunks hold one object type, at most the batch size, no record twice, in record order."""
    planned = [hubspot._Write(i, kind, key, None, {}) for i, (key, kind) in enumerate(writes)]
    chunks = hubspot._chunks(planned, 3)
    assert sorted(w.index for c in chunks for w in c) == list(range(len(writes)))
    for chunk in chunks:
        assert len(chunk) <= 3
        assert len({w.kind for w in chunk}) == 1
        assert len({w.key for w in chunk}) == len(chunk)
    position = {w.index: n for n, c in enumerate(chunks) for w in c}
    for key in "abcde":
        mine = [w.index for w in planned if w.key == key]
        assert [position[i] for i in mine] == sorted(position[i] for i in mine)
        assert len({position[i] for i in mine}) == len(mine)


def test_deployment_config_builds_all_three_crm_adapters(hs: FakeHubSpot, tmp_path: Any) -> None:
    """A leadflow.toml with hubspot, salesforce and pipedrive tables builds working adapters."""
    from fakes.pipedrive import FakePipedrive
    from fakes.salesforce import FakeSalesforce

    from leadflow.adapters import load_config

    with FakeSalesforce() as sf, FakePipedrive() as pd:
        path = tmp_path / "leadflow.toml"
        path.write_text(
            f'[adapters.hubspot]\ntype = "hubspot"\ntoken = "env:HUBSPOT_TOKEN"\n'
            f'base_url = "{hs.url}"\n'
            f'[adapters.sf]\ntype = "salesforce"\nclient_id = "{sf.client_id}"\n'
            f'client_secret = "env:SF_SECRET"\ntoken_url = "{sf.url}/services/oauth2/token"\n'
            f'[adapters.pd]\ntype = "pipedrive"\napi_token = "env:PD_TOKEN"\n'
            f'base_url = "{pd.url}"\n'
        )
        env = {
            "HUBSPOT_TOKEN": TOKEN,
            "SF_SECRET": sf.client_secret,
            "PD_TOKEN": pd.api_token,
            "LEADFLOW_ADAPTER_PD_READ_TIMEOUT": "12",
        }
        adapters = load_config(path, env).build_adapters()
        try:
            deal = hs.add_deal()
            sf.add("Lead", LastName="Doe", Company="Acme", Leadflow_Id__c="L-1")
            pd_deal = pd.add_deal()
            item = make_event(
                "stage_changed",
                to_stage="contacted",
                lead={"hubspot_deal_id": deal, "pipedrive_deal_id": pd_deal},
            )
            stages = {"hubspot": "qualifiedtobuy", "sf": "Working - Contacted", "pd": "2"}
            for name, adapter in adapters.items():
                [result] = adapter.deliver(
                    [delivery(item, name, stages={"contacted": stages[name]})]
                )
                assert result.outcome is Outcome.DELIVERED, (name, result.detail)
        finally:
            for adapter in adapters.values():
                adapter.close()


def test_the_engines_own_sla_events_become_tasks(
    hs: FakeHubSpot, clock: ManualClock, make_adapter: Any
) -> None:
    """Events the engine writes for the shipped inbound-lead (planned call attempts, the
    speed-to-call warning and breach) become open tasks named by the mark; a fulfilled SLA
    makes no call."""
    from leadflow.adapters.base import Delivery, Event, Subscription
    from leadflow.definitions import library_path
    from leadflow.engine import Engine

    deal = hs.add_deal(leadflow_lead_id="L-9")
    owners = {"sdr_ana": "101", "sdr_ben": "102", "sdr_cleo": "103"}
    adapter = make_adapter(hs, clock, id_property="leadflow_lead_id", owners=owners)
    sim = ManualClock(datetime(2026, 1, 5, 15, 0, tzinfo=UTC))  # Monday 10:00 in New York
    with Engine("sqlite://", clock=sim) as engine:
        engine.deploy(library_path("inbound-lead"))
        engine.start("inbound-lead", "L-9", {"email": "a@b.c"})
        sim.advance(timedelta(minutes=6))
        engine.record("inbound-lead", "L-9", "call")
        with engine.store.sa.connect() as conn:
            rows = conn.exec_driver_sql("SELECT payload, seq FROM lf_outbox ORDER BY id").all()
    events = [Event.from_json(payload, seq) for payload, seq in rows]
    wanted = [e for e in events if "sla" in e.type or e.type.endswith("task_due")]
    assert [e.type.rsplit(".", 1)[1] for e in wanted] == [
        "task_due",
        "sla_warned",
        "sla_breached",
        "sla_fulfilled",
    ]
    results = adapter.deliver([Delivery(e, Subscription("crm")) for e in wanted])
    assert [r.outcome for r in results] == [Outcome.DELIVERED] * 4, [r.detail for r in results]
    subjects = [c.json["properties"]["hs_task_subject"] for c in hs.calls("POST")]
    assert subjects == [
        "Call attempt 1 of 5 (lead L-9)",
        "New lead waiting: call it now (lead L-9)",
        "Speed to call missed: the lead was not called within 5 minutes (lead L-9)",
    ]
    assert results[3].detail.startswith("ignored:")
    assert all(c.json["associations"][0]["to"] == {"id": deal} for c in hs.calls("POST"))
