"""The Salesforce adapter against a local fake org (OAuth token endpoint and REST API)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fakes import delivery, make_event, resolver
from fakes.salesforce import FakeSalesforce

from leadflow.adapters import salesforce
from leadflow.adapters.base import Adapter, AdapterConfigError, Outcome, Result
from leadflow.engine.testing import ManualClock

SECRETS = {
    "env:SF_SECRET": "sf-client-secret-0123456789",
    "env:SF_REFRESH": "5Aep-fake-refresh-token",
}
STAGES = {
    "new": "Open - Not Contacted",
    "contacted": "Working - Contacted",
    "won": "Closed - Converted",
    "lost": "Closed - Not Converted",
}
FIELDS = {
    "last_name": "LastName",
    "company": "Company",
    "score": "Score__c",
    "lost_reason": "Lost_Reason__c",
}
OWNERS = {"ann@example.com": "005000000000001AAA", "bob@example.com": "005000000000002AAA"}
API = "/services/data/v59.0"


@pytest.fixture
def sf() -> Iterator[FakeSalesforce]:
    with FakeSalesforce(clock=ManualClock()) as server:
        yield server


@pytest.fixture
def build(sf: FakeSalesforce) -> Iterator[Any]:
    """salesforce.create(...) pointed at the fake; adapters closed after the test."""
    made: list[Adapter] = []

    def make(**options: Any) -> Adapter:
        opts = {
            "client_id": sf.client_id,
            "client_secret": "env:SF_SECRET",
            "token_url": f"{sf.url}/services/oauth2/token",
            "owners": OWNERS,
            **options,
        }
        made.append(salesforce.create("salesforce", opts, resolver(SECRETS), ManualClock()))
        return made[-1]

    yield make
    for adapter in made:
        adapter.close()


@pytest.fixture
def adapter(build: Any) -> Adapter:
    return build()  # type: ignore[no-any-return]


def moved(to: str = "contacted", lead: str = "L-1", **changes: Any) -> Any:
    event = make_event(
        "stage_changed",
        lead,
        stage=to,
        from_stage="new",
        to_stage=to,
        changes={k: [None, v] for k, v in changes.items()},
    )
    return delivery(event, stages=STAGES, fields=FIELDS)


def test_stage_change_upserts_the_lead_by_external_id(sf: FakeSalesforce, adapter: Adapter) -> None:
    """A stage change PATCHes /sobjects/Lead/Leadflow_Id__c/{lead} with the mapped Status."""
    sf.add("Lead", LastName="Doe", Company="Acme", Leadflow_Id__c="L-1")
    [result] = adapter.deliver([moved()])
    assert (result.outcome, result.status) == (Outcome.DELIVERED, 200), result.detail
    token_call, call = sf.requests
    assert token_call.form["grant_type"] == "client_credentials"
    assert call.method == "PATCH"
    assert call.path == f"{API}/sobjects/Lead/Leadflow_Id__c/L-1"
    assert call.headers["authorization"].startswith("Bearer 00Dfake!")
    assert call.json == {"Status": "Working - Contacted"}
    assert sf.by_external_id("Lead", "L-1")["Status"] == "Working - Contacted"


def test_start_creates_the_lead_with_mapped_fields(sf: FakeSalesforce, adapter: Adapter) -> None:
    """A started lead is created by the upsert (201) with stage, owner and mapped fields."""
    event = make_event(
        "started",
        stage="new",
        to_stage="new",
        owner="ann@example.com",
        data={"last_name": "Doe", "company": "Acme", "email": "x"},
    )
    [result] = adapter.deliver([delivery(event, stages=STAGES, fields=FIELDS)])
    assert (result.outcome, result.status) == (Outcome.DELIVERED, 201), result.detail
    assert "created" in result.detail
    assert sf.by_external_id("Lead", "L-1") == {
        "Status": "Open - Not Contacted",
        "OwnerId": "005000000000001AAA",
        "LastName": "Doe",
        "Company": "Acme",
        "Leadflow_Id__c": "L-1",
    }


def test_a_create_missing_required_fields_fails_with_the_error_code(
    sf: FakeSalesforce, adapter: Adapter
) -> None:
    """Salesforce's 400 REQUIRED_FIELD_MISSING is permanent, with code and message in detail."""
    [result] = adapter.deliver([moved(lead="L-new")])
    assert (result.outcome, result.status) == (Outcome.FAILED, 400)
    assert "REQUIRED_FIELD_MISSING" in result.detail
    assert "LastName, Company" in result.detail


def test_older_apis_answer_204_on_update(sf: FakeSalesforce, adapter: Adapter) -> None:
    """A 204 No Content upsert (older API versions) is delivered too."""
    sf.upsert_update_status = 204
    sf.add("Lead", LastName="Doe", Company="Acme", Leadflow_Id__c="L-1")
    [result] = adapter.deliver([moved()])
    assert (result.outcome, result.status) == (Outcome.DELIVERED, 204)


def test_duplicate_external_ids_fail(sf: FakeSalesforce, adapter: Adapter) -> None:
    """300 Multiple Choices (the external id matches several records) is permanent."""
    for _ in range(2):
        sf.add("Lead", LastName="Doe", Company="Acme", Leadflow_Id__c="L-1")
    [result] = adapter.deliver([moved()])
    assert (result.outcome, result.status) == (Outcome.FAILED, 300)
    assert "several records" in result.detail


def test_a_batch_is_one_collections_upsert_with_per_record_results(
    sf: FakeSalesforce, adapter: Adapter
) -> None:
    """Several leads go out as one sObject Collections upsert; a bad record fails alone."""
    sf.add("Lead", LastName="A", Company="X", Leadflow_Id__c="L-1")
    sf.add("Lead", LastName="B", Company="X", Leadflow_Id__c="L-2")
    bad = delivery(
        make_event("stage_changed", "L-2", to_stage="contacted"), stages={"contacted": "Bogus"}
    )
    results = adapter.deliver([moved(lead="L-1", score=7), bad, moved(lead="L-3")])
    assert [r.outcome for r in results] == [Outcome.DELIVERED, Outcome.FAILED, Outcome.FAILED]
    assert "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in results[1].detail
    assert "Leadflow_Id__c=L-2" in results[1].detail
    assert "REQUIRED_FIELD_MISSING" in results[2].detail
    [call] = sf.calls("PATCH")
    assert call.path == f"{API}/composite/sobjects/Lead/Leadflow_Id__c"
    assert call.json["allOrNone"] is False
    assert call.json["records"][0] == {
        "attributes": {"type": "Lead"},
        "Leadflow_Id__c": "L-1",
        "Status": "Working - Contacted",
        "Score__c": 7,
    }
    assert sf.by_external_id("Lead", "L-1")["Score__c"] == 7


def test_opportunities_take_stagename(sf: FakeSalesforce, build: Any) -> None:
    """With object = Opportunity the stage goes to StageName of the opportunity."""
    sf.add(
        "Opportunity",
        Name="Acme",
        StageName="Prospecting",
        CloseDate="2026-02-01",
        Leadflow_Id__c="L-1",
    )
    adapter = build(object="Opportunity")
    [result] = adapter.deliver(
        [delivery(make_event("closed_won", to_stage="won"), stages={"won": "Closed Won"})]
    )
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert sf.by_external_id("Opportunity", "L-1")["StageName"] == "Closed Won"


def test_activity_becomes_a_task_linked_by_external_id(
    sf: FakeSalesforce, adapter: Adapter
) -> None:
    """A recorded call becomes a completed Task whose Who is the lead, found by external id."""
    lead = sf.add("Lead", LastName="Doe", Company="Acme", Leadflow_Id__c="L-1")
    event = make_event(
        "activity_recorded",
        owner="bob@example.com",
        activity={"type": "call", "data": {"outcome": "voicemail"}},
    )
    [result] = adapter.deliver([delivery(event)])
    assert result.outcome is Outcome.DELIVERED, result.detail
    [call] = sf.calls("POST", f"{API}/sobjects/Task")
    assert call.json["Who"] == {"attributes": {"type": "Lead"}, "Leadflow_Id__c": "L-1"}
    [task] = sf.records["Task"].values()
    assert task["WhoId"] == lead
    assert task["Status"] == "Completed"
    assert task["TaskSubtype"] == "Call"
    assert task["OwnerId"] == "005000000000002AAA"
    assert task["ActivityDate"] == "2026-01-05"


def test_sla_event_becomes_an_open_high_priority_task(sf: FakeSalesforce, adapter: Adapter) -> None:
    """An SLA breach becomes a Not Started, High priority Task on the lead."""
    sf.add("Lead", LastName="Doe", Company="Acme", Leadflow_Id__c="L-1")
    event = make_event(
        "sla_breached", sla=[{"policy": "speed_to_call", "event": "breached"}], stage="new"
    )
    [result] = adapter.deliver([delivery(event)])
    assert result.outcome is Outcome.DELIVERED, result.detail
    [task] = sf.records["Task"].values()
    assert (task["Status"], task["Priority"]) == ("Not Started", "High")
    assert task["Subject"] == "speed_to_call breached: lead L-1 in stage new"


def test_a_task_for_an_unknown_lead_fails(sf: FakeSalesforce, adapter: Adapter) -> None:
    """A Task whose lead does not exist fails permanently with Salesforce's message."""
    event = make_event("activity_recorded", activity={"type": "email", "data": {}})
    [result] = adapter.deliver([delivery(event)])
    assert (result.outcome, result.status) == (Outcome.FAILED, 400)
    assert "Foreign key external ID: L-1 not found" in result.detail


def test_platform_event_published_for_every_event(sf: FakeSalesforce, build: Any) -> None:
    """With platform_event set each event is published with its envelope, ignored ones too."""
    sf.add("Lead", LastName="Doe", Company="Acme", Leadflow_Id__c="L-1")
    adapter = build(platform_event="Leadflow_Event__e")
    other = delivery(make_event("updated", seq=3, changes={"notes": [None, "x"]}), fields=FIELDS)
    results = adapter.deliver([moved(), other])
    assert [r.outcome for r in results] == [Outcome.DELIVERED, Outcome.DELIVERED]
    assert "published Leadflow_Event__e" in results[1].detail
    assert [e["Event_Type__c"] for e in sf.events] == [
        "leadflow.lead.stage_changed",
        "leadflow.lead.updated",
    ]
    assert sf.events[0]["Payload__c"] == moved().event.raw


# -- tokens ------------------------------------------------------------------------------------


def test_expired_session_refreshes_once_and_repeats(sf: FakeSalesforce, adapter: Adapter) -> None:
    """A 401 INVALID_SESSION_ID gets a new token and the call is repeated once."""
    sf.add("Lead", LastName="Doe", Company="Acme", Leadflow_Id__c="L-1")
    adapter.deliver([moved()])
    sf.expire_tokens()
    [result] = adapter.deliver([moved("won")])
    assert result.outcome is Outcome.DELIVERED, result.detail
    paths = [r.path for r in sf.requests]
    assert paths.count("/services/oauth2/token") == 2
    assert [r.path.startswith(API) for r in sf.requests[2:]] == [True, False, True]


def test_refresh_token_flow(sf: FakeSalesforce, build: Any) -> None:
    """auth = refresh_token posts the refresh token to the token URL."""
    sf.add("Lead", LastName="Doe", Company="Acme", Leadflow_Id__c="L-1")
    adapter = build(auth="refresh_token", refresh_token="env:SF_REFRESH")
    [result] = adapter.deliver([moved()])
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert sf.requests[0].form["refresh_token"] == SECRETS["env:SF_REFRESH"]


def test_401_after_refresh_is_permanent(sf: FakeSalesforce, adapter: Adapter) -> None:
    """A token that is refused right after a refresh fails permanently (no loop)."""
    sf.fail_next(
        401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], times=2
    )
    [result] = adapter.deliver([moved()])
    assert (result.outcome, result.status) == (Outcome.FAILED, 401)
    assert "again after a token refresh" in result.detail
    assert len(sf.calls(prefix="/services/oauth2/token")) == 2


def test_bad_client_secret_fails_and_stops_the_batch(sf: FakeSalesforce, build: Any) -> None:
    """A refused token request fails every delivery of the batch, with one token call only."""
    SECRETS["env:WRONG"] = "not-the-secret"
    try:
        adapter = build(client_secret="env:WRONG")
        results = adapter.deliver(
            [
                moved(lead="L-1"),
                delivery(make_event("activity_recorded", activity={"type": "call"})),
            ]
        )
    finally:
        del SECRETS["env:WRONG"]
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.FAILED]
    assert "invalid_client" in results[0].detail
    assert "not-the-secret" not in results[0].detail
    assert len(sf.requests) == 1


def test_token_endpoint_outage_is_a_retry(sf: FakeSalesforce, adapter: Adapter) -> None:
    """A 503 from the token URL is a RETRY naming the token URL."""
    sf.script_tokens = True
    sf.fail_next(503, {"error": "unavailable", "error_description": "maintenance"})
    [result] = adapter.deliver([moved()])
    assert (result.outcome, result.status) == (Outcome.RETRY, 503)
    assert "token URL" in result.detail


# -- limits and failures -----------------------------------------------------------------------


def test_request_limit_exceeded_is_a_retry_with_backoff(sf: FakeSalesforce, build: Any) -> None:
    """403 REQUEST_LIMIT_EXCEEDED is throttling: RETRY after request_limit_backoff."""
    sf.rate_limit(0)
    adapter = build(request_limit_backoff=120)
    [result] = adapter.deliver([moved()])
    assert (result.outcome, result.status, result.retry_after) == (Outcome.RETRY, 403, 120.0)
    assert "REQUEST_LIMIT_EXCEEDED" in result.detail
    assert "api-usage=0/0" in result.detail


def test_other_403_is_permanent(sf: FakeSalesforce, adapter: Adapter) -> None:
    """A 403 other than the request limit (no access) is a permanent failure."""
    sf.fail_next(
        403, [{"message": "insufficient access rights", "errorCode": "INSUFFICIENT_ACCESS"}]
    )
    [result] = adapter.deliver([moved()])
    assert (result.outcome, result.status) == (Outcome.FAILED, 403)


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_retry(sf: FakeSalesforce, adapter: Adapter, status: int) -> None:
    """5xx is a RETRY."""
    sf.fail_next(status, [{"message": "busy", "errorCode": "SERVER_UNAVAILABLE"}])
    [result] = adapter.deliver([moved()])
    assert (result.outcome, result.status) == (Outcome.RETRY, status)


def test_stall_is_a_retry(sf: FakeSalesforce, build: Any) -> None:
    """No answer within read_timeout is a RETRY."""
    adapter = build(read_timeout=0.2)
    sf.stall_next()
    [result] = adapter.deliver([moved()])
    assert result.outcome is Outcome.RETRY
    assert result.detail.startswith("read timeout calling PATCH http://127.0.0.1")


def test_unmapped_stage_and_owner_fail_without_a_call(sf: FakeSalesforce, adapter: Adapter) -> None:
    """An unmapped stage or owner fails permanently, naming it, with no API call."""
    assigned = delivery(make_event("assigned", owner="eve@example.com"))
    results = adapter.deliver([moved("nurture"), assigned])
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.FAILED]
    assert "'nurture'" in results[0].detail
    assert "'eve@example.com'" in results[1].detail
    assert sf.requests == []


def test_assigned_sets_ownerid(sf: FakeSalesforce, adapter: Adapter) -> None:
    """An owner change sets OwnerId from the owners option."""
    sf.add("Lead", LastName="Doe", Company="Acme", Leadflow_Id__c="L-1")
    [result] = adapter.deliver([delivery(make_event("assigned", owner="bob@example.com"))])
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert sf.by_external_id("Lead", "L-1")["OwnerId"] == "005000000000002AAA"


def test_no_secret_anywhere(
    sf: FakeSalesforce, adapter: Adapter, caplog: pytest.LogCaptureFixture
) -> None:
    """Client secret and access tokens never show in results or logs, even when echoed."""
    caplog.set_level(logging.DEBUG)
    sf.add("Lead", LastName="Doe", Company="Acme", Leadflow_Id__c="L-1")
    adapter.deliver([moved()])
    token = next(iter(sf.tokens))
    sf.fail_next(400, [{"message": f"bad {token} {SECRETS['env:SF_SECRET']}", "errorCode": "X"}])
    [result] = adapter.deliver([moved()])
    assert token not in result.detail
    assert SECRETS["env:SF_SECRET"] not in result.detail
    assert "***" in result.detail
    assert token not in caplog.text


def test_concurrent_expiry_refreshes_once(sf: FakeSalesforce, adapter: Adapter) -> None:
    """Threads that all hit an expired session share a single token refresh."""
    for n in range(6):
        sf.add("Lead", LastName="Doe", Company="Acme", Leadflow_Id__c=f"L-{n}")
    adapter.deliver([moved(lead="L-0")])
    sf.expire_tokens()
    results: list[Result] = []
    barrier = threading.Barrier(6)

    def run(n: int) -> None:
        barrier.wait()
        results.extend(adapter.deliver([moved(lead=f"L-{n}")]))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.outcome is Outcome.DELIVERED for r in results), results
    assert len(sf.calls(prefix="/services/oauth2/token")) == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "adapters.salesforce.client_id is required"),
        ({"client_id": "x"}, "adapters.salesforce.client_secret is required"),
        (
            {"client_id": "x", "client_secret": "env:SF_SECRET", "auth": "password"},
            "adapters.salesforce.auth is 'password'; allowed: client_credentials, refresh_token",
        ),
        (
            {"client_id": "x", "client_secret": "env:SF_SECRET", "auth": "refresh_token"},
            "adapters.salesforce.refresh_token is required",
        ),
        (
            {"client_id": "x", "client_secret": "env:SF_SECRET", "object": "Case"},
            "adapters.salesforce.object is 'Case'",
        ),
        (
            {"client_id": "x", "client_secret": "env:SF_SECRET", "token_url": "login"},
            "adapters.salesforce.token_url is not a usable URL",
        ),
    ],
)
def test_bad_options_name_the_key(options: dict[str, Any], message: str) -> None:
    """Invalid options raise AdapterConfigError naming the key and what is allowed."""
    with pytest.raises(AdapterConfigError, match=message):
        salesforce.create("salesforce", options, resolver(SECRETS))


def test_a_real_engines_events_reach_salesforce(
    sf: FakeSalesforce, build: Any, tmp_path: Any
) -> None:
    """The engine's own outbox envelopes of a lead's life upsert, task and close it in order."""
    import sqlalchemy as sa
    from fakes import WHEN

    from leadflow.adapters.base import Delivery, Event, Subscription
    from leadflow.engine import Engine

    url = f"sqlite:///{tmp_path / 'lf.db'}"
    engine = Engine(url, clock=ManualClock(WHEN), create=True)
    engine.deploy("tests/definitions/reference.yaml")
    engine.start("inbound-lead", "L-9", {"email": "doe@acme.test"}, owner="ann@example.com")
    engine.record("inbound-lead", "L-9", "call", {"outcome": "connected"})
    engine.update("inbound-lead", "L-9", {"budget": 5000, "score": 70})
    engine.fire("inbound-lead", "L-9", "contact")
    engine.assign("inbound-lead", "L-9", "bob@example.com")
    engine.fire("inbound-lead", "L-9", "lose", {"lost_reason": "no_budget"})
    engine.close()
    db = sa.create_engine(url)
    with db.connect() as conn:
        rows = conn.execute(sa.text("SELECT payload, seq FROM lf_outbox ORDER BY id")).all()
    db.dispose()
    subscription = Subscription(
        "salesforce",
        stages={
            "new": "Open - Not Contacted",
            "contacted": "Working - Contacted",
            "lost": "Closed - Not Converted",
        },
        fields={"email": "Email", "score": "Score__c", "lost_reason": "Lost_Reason__c"},
    )
    sf.add("Lead", LastName="Doe", Company="Acme", Leadflow_Id__c="L-9")
    adapter = build()
    events = [Delivery(Event.from_json(payload, seq), subscription) for payload, seq in rows]
    results = adapter.deliver(events)
    assert [e.event.type.rsplit(".", 1)[1] for e in events] == [
        "started",
        "activity_recorded",
        "updated",
        "stage_changed",
        "assigned",
        "closed_lost",
    ]
    assert [r.outcome for r in results] == [Outcome.DELIVERED] * 6, [r.detail for r in results]
    lead = sf.by_external_id("Lead", "L-9")
    assert lead["Status"] == "Closed - Not Converted"
    assert lead["Email"] == "doe@acme.test"
    assert (lead["Score__c"], lead["Lost_Reason__c"]) == (70, "no_budget")
    assert lead["OwnerId"] == "005000000000002AAA"
    [task] = sf.records["Task"].values()
    assert task["TaskSubtype"] == "Call"
