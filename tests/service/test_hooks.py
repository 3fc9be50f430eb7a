"""Inbound webhooks over HTTP: verified CRM events become engine calls; echoes and duplicates do
nothing. The service's inbound app runs under uvicorn on 127.0.0.1 and is called over sockets.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from live_server import Served
from typer.testing import CliRunner

from leadflow.adapters import (
    AdapterConfigError,
    load_config,
    sign_hubspot_v3,
    standard_webhook_headers,
)
from leadflow.adapters.inbound import MAX_BODY
from leadflow.cli import app as cli_app
from leadflow.engine import Engine
from leadflow.engine.testing import ManualClock
from leadflow.service import app_from_env, create_inbound_app

LIBRARY = Path(__file__).parents[2] / "definitions" / "library" / "inbound-lead.yaml"
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HS_SECRET = "hubspot-client-secret-0123456789"
HS_TOKEN = "pat-na1-hubspot-token-0123456789"
PD_PASSWORD = "pipedrive-basic-password-0123"
ENV = {"SW": SW_SECRET, "HS": HS_SECRET, "HS_TOKEN": HS_TOKEN, "PD": PD_PASSWORD}
BASE = "https://hooks.example.com"
"""The URL the CRMs call: a TLS proxy in front of the server (see :func:`call`)."""
CONFIG = """
[inbound.commands]
kind = "standard-webhooks"
process = "inbound-lead"
secret = "env:SW"

[inbound.hubspot]
kind = "hubspot"
process = "inbound-lead"
client_secret = "env:HS"
echo_source_ids = ["777"]
[inbound.hubspot.triggers]
closedwon = "win"
closedlost = "lose"

[inbound.hubspot_api]
kind = "hubspot"
process = "inbound-lead"
client_secret = "env:HS"
token = "env:HS_TOKEN"
api_base = "{api}"
lead_id = "property:leadflow_id"
triggers = {{ closedlost = "lose" }}
fields = {{ lost_reason = "closed_lost_reason" }}

[inbound.pipedrive]
kind = "pipedrive"
process = "inbound-lead"
username = "leadflow"
password = "env:PD"
echo_user_ids = [42]
triggers = {{ won = "win", lost = "lose" }}
fields = {{ lost_reason = "lost_reason" }}
"""


class FakeHubSpot:
    """HubSpot's object read endpoint: deal properties by id, Bearer token required."""

    def __init__(self) -> None:
        self.deals: dict[str, dict[str, Any]] = {}
        self.auth: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.auth.append(self.headers.get("Authorization", ""))
                deal_id = self.path.split("?")[0].rsplit("/", 1)[1]
                if self.headers.get("Authorization") != f"Bearer {HS_TOKEN}":
                    status, body = 401, {"status": "error", "category": "INVALID_AUTHENTICATION"}
                elif deal_id not in fake.deals:
                    status, body = 404, {"status": "error", "category": "OBJECT_NOT_FOUND"}
                else:
                    status, body = 200, {"id": deal_id, "properties": fake.deals[deal_id]}
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hubspot_api() -> Iterator[FakeHubSpot]:
    fake = FakeHubSpot()
    yield fake
    fake.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def engine(tmp_path: Path, clock: ManualClock) -> Iterator[Engine]:
    with Engine(f"sqlite:///{tmp_path / 'lf.db'}", clock=clock) as built:
        built.deploy(LIBRARY)
        yield built


def served(engine: Engine, config: Path, env: dict[str, str] = ENV) -> Iterator[Served]:
    server = Served(
        create_inbound_app(engine, load_config(config, env=env)),
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )
    yield server
    server.close()


@pytest.fixture
def app(engine: Engine, tmp_path: Path, hubspot_api: FakeHubSpot) -> Iterator[Served]:
    path = tmp_path / "leadflow.toml"
    path.write_text(CONFIG.format(api=hubspot_api.url))
    yield from served(engine, path)


PROXIED = {"Host": "hooks.example.com", "X-Forwarded-Proto": "https"}
"""What the TLS proxy at BASE adds: the host the CRM called and the scheme it used."""


def call(app: Served, method: str, path: str, body: bytes = b"", **headers: str) -> httpx.Response:
    """One request over a socket, as if through the proxy at BASE (see :data:`PROXIED`)."""
    return httpx.request(
        method, f"{app.url}{path}", content=body, headers=PROXIED | headers, timeout=30
    )


def command(app: Served, clock: ManualClock, payload: Any, msg_id: str = "msg_1") -> httpx.Response:
    body = json.dumps(payload).encode()
    ts = int(clock.now().timestamp())
    headers = standard_webhook_headers([SW_SECRET], msg_id, ts, body)
    return call(app, "POST", "/hooks/commands", body, **headers)


def hubspot(
    app: Served, clock: ManualClock, events: list[dict[str, Any]], source: str = "hubspot"
) -> httpx.Response:
    body = json.dumps(events).encode()
    ts = int(clock.now().timestamp() * 1000)
    signature = sign_hubspot_v3(HS_SECRET, "POST", f"{BASE}/hooks/{source}", body, ts)
    headers = {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": str(ts)}
    return call(app, "POST", f"/hooks/{source}", body, **headers)


def stage_event(event_id: int, deal: str, stage: str, **extra: Any) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "subscriptionType": "deal.propertyChange",
        "objectId": deal,
        "propertyName": "dealstage",
        "propertyValue": stage,
        "changeSource": "CRM_UI",
        **extra,
    }


def pipedrive(app: Served, payload: dict[str, Any], password: str = PD_PASSWORD) -> httpx.Response:
    auth = "Basic " + base64.b64encode(f"leadflow:{password}".encode()).decode()
    return call(app, "POST", "/hooks/pipedrive", json.dumps(payload).encode(), Authorization=auth)


def qualified(engine: Engine, lead_id: str) -> None:
    engine.start("inbound-lead", lead_id, {"email": "a@example.com", "score": 70})
    engine.record("inbound-lead", lead_id, "call")
    engine.fire("inbound-lead", lead_id, "contact")
    engine.fire("inbound-lead", lead_id, "qualify", {"budget": 5000, "decision_maker": "Ann"})


def test_healthz_and_routing(app: Served) -> None:
    """GET /healthz is ok; unknown routes and sources are 404; wrong methods 405."""
    assert call(app, "GET", "/healthz").json() == {"status": "ok"}
    assert call(app, "GET", "/nope").status_code == 404
    assert call(app, "POST", "/hooks/nope").json()["error"] == "unknown-source"
    response = call(app, "GET", "/hooks/commands")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_standard_webhooks_command_fires_the_trigger(
    app: Served, engine: Engine, clock: ManualClock
) -> None:
    """A signed command fires its trigger as actor crm:<source>."""
    engine.start("inbound-lead", "L1", {"email": "a@example.com"})
    engine.record("inbound-lead", "L1", "call")
    response = command(app, clock, {"lead_id": "L1", "trigger": "contact", "data": {"budget": 10}})
    assert response.status_code == 200
    assert response.json() == {
        "status": "fired",
        "lead_id": "L1",
        "trigger": "contact",
        "stage": "contacted",
    }
    assert engine.get("inbound-lead", "L1").data["budget"] == 10
    assert engine.history("inbound-lead", "L1")[-1].actor == "crm:commands"


@pytest.mark.parametrize(
    ("mangle", "check"),
    [("secret", "bad-signature"), ("old", "timestamp-too-old"), ("missing", "missing-header")],
)
def test_unverified_requests_are_401_and_change_nothing(
    app: Served, engine: Engine, clock: ManualClock, mangle: str, check: str
) -> None:
    """A bad signature, a stale timestamp or a missing header is 401 naming the check."""
    engine.start("inbound-lead", "L1", {"email": "a@example.com"})
    body = json.dumps(
        {"lead_id": "L1", "trigger": "lose", "data": {"lost_reason": "bad_data"}}
    ).encode()
    ts = int(clock.now().timestamp()) - (400 if mangle == "old" else 0)
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    headers = standard_webhook_headers([other if mangle == "secret" else SW_SECRET], "m", ts, body)
    if mangle == "missing":
        del headers["webhook-signature"]
    response = call(app, "POST", "/hooks/commands", body, **headers)
    assert response.status_code == 401
    assert response.json()["check"] == check
    assert SW_SECRET[6:] not in response.text
    assert engine.get("inbound-lead", "L1").version == 1


def test_duplicate_delivery_is_idempotent(app: Served, engine: Engine, clock: ManualClock) -> None:
    """The same webhook-id twice fires once; the second answer says duplicate."""
    engine.start("inbound-lead", "L1", {"email": "a@example.com"})
    payload = {"lead_id": "L1", "trigger": "lose", "data": {"lost_reason": "bad_data"}}
    assert command(app, clock, payload).json()["status"] == "fired"
    second = command(app, clock, payload)
    assert second.status_code == 200
    assert second.json() == {"status": "duplicate", "id": "msg_1"}
    assert [h.trigger for h in engine.history("inbound-lead", "L1")] == [None, "lose"]


def test_concurrent_duplicates_fire_once(app: Served, engine: Engine, clock: ManualClock) -> None:
    """Two copies of one delivery arriving at once fire the trigger once."""
    engine.start("inbound-lead", "L1", {"email": "a@example.com"})
    body = json.dumps(
        {"lead_id": "L1", "trigger": "lose", "data": {"lost_reason": "bad_data"}}
    ).encode()
    headers = standard_webhook_headers([SW_SECRET], "msg_c", int(clock.now().timestamp()), body)

    async def both() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=app.url, headers=PROXIED, timeout=30) as client:
            sends = [
                client.post("/hooks/commands", content=body, headers=headers) for _ in range(4)
            ]
            return list(await asyncio.gather(*sends))

    statuses = sorted(r.json()["status"] for r in asyncio.run(both()))
    assert statuses == ["duplicate", "duplicate", "duplicate", "fired"]
    assert engine.get("inbound-lead", "L1").version == 2


@pytest.mark.parametrize(
    ("payload", "status", "error"),
    [
        ({"lead_id": "nobody", "trigger": "contact"}, 404, "lead-not-found"),
        ({"lead_id": "L1", "trigger": "win"}, 409, "invalid-transition"),
        ({"lead_id": "L1", "trigger": "contact"}, 409, "guard-failed"),
        ({"lead_id": "L1", "trigger": "lose", "data": {"lost_reason": "meh"}}, 422, "invalid-data"),
        ({"lead_id": "L1"}, 422, "bad-payload"),
        ([1, 2], 422, "bad-payload"),
    ],
)
def test_engine_errors_are_json_4xx(
    app: Served, engine: Engine, clock: ManualClock, payload: Any, status: int, error: str
) -> None:
    """Unknown leads, disallowed triggers, unmet criteria and bad data are 4xx JSON answers."""
    engine.start("inbound-lead", "L1", {"email": "a@example.com"})
    response = command(app, clock, payload)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert engine.get("inbound-lead", "L1").version == 1
    if error == "guard-failed":
        assert [u["id"] for u in response.json()["unmet"]] == ["called"]
    if error == "invalid-transition":
        assert "contact" in response.json()["allowed"]


def test_a_failed_delivery_can_be_retried(app: Served, engine: Engine, clock: ManualClock) -> None:
    """After a 409 the CRM's retry of the same delivery id is processed again, not deduped."""
    engine.start("inbound-lead", "L1", {"email": "a@example.com"})
    assert command(app, clock, {"lead_id": "L1", "trigger": "contact"}).status_code == 409
    engine.record("inbound-lead", "L1", "call")
    assert command(app, clock, {"lead_id": "L1", "trigger": "contact"}).json()["status"] == "fired"


def test_body_that_is_not_json_is_400(app: Served, clock: ManualClock) -> None:
    """A verified body that is not JSON is a 400 saying so."""
    headers = standard_webhook_headers([SW_SECRET], "m", int(clock.now().timestamp()), b"{nope")
    response = call(app, "POST", "/hooks/commands", b"{nope", **headers)
    assert response.status_code == 400
    assert response.json()["message"] == "the body is not JSON"


def test_hubspot_closedwon_fires_win(app: Served, engine: Engine, clock: ManualClock) -> None:
    """A signed dealstage change to closedwon fires win on the lead with the deal's id."""
    qualified(engine, "9001")
    response = hubspot(app, clock, [stage_event(1, "9001", "closedwon")])
    assert response.json()["status"] == "fired"
    assert engine.get("inbound-lead", "9001").stage == "won"
    assert engine.history("inbound-lead", "9001")[-1].actor == "crm:hubspot"


def test_hubspot_echo_and_unmapped_changes_are_ignored(
    app: Served, engine: Engine, clock: ManualClock
) -> None:
    """Our own stage write coming back, our app's changes and unmapped values change nothing."""
    qualified(engine, "9001")
    engine.fire("inbound-lead", "9001", "win")
    version = engine.get("inbound-lead", "9001").version
    events = [
        stage_event(1, "9001", "closedwon"),
        stage_event(2, "9001", "closedlost", sourceId="777", changeSource="INTEGRATION"),
        stage_event(3, "9001", "appointmentscheduled"),
        {**stage_event(4, "9001", "closedwon"), "propertyName": "amount"},
    ]
    response = hubspot(app, clock, events)
    assert response.status_code == 200
    reasons = [r["reason"] for r in response.json()["results"]]
    assert reasons == ["echo", "echo", "not-mapped", "not-mapped"]
    assert engine.get("inbound-lead", "9001").version == version


def test_hubspot_batch_with_a_failure_reports_each(
    app: Served, engine: Engine, clock: ManualClock
) -> None:
    """A batch answers with the first failure's status and one result per event."""
    qualified(engine, "9001")
    response = hubspot(
        app, clock, [stage_event(1, "9001", "closedwon"), stage_event(2, "404", "closedwon")]
    )
    assert response.status_code == 404
    assert [r["status_code"] for r in response.json()["results"]] == [200, 404]
    again = hubspot(app, clock, [stage_event(1, "9001", "closedwon")])
    assert again.json()["status"] == "duplicate"


def test_hubspot_signature_over_another_url_is_refused(app: Served, clock: ManualClock) -> None:
    """A v3 signature made for another URI does not verify."""
    body = json.dumps([stage_event(1, "1", "closedwon")]).encode()
    ts = int(clock.now().timestamp() * 1000)
    signature = sign_hubspot_v3(
        HS_SECRET, "POST", "https://evil.example.com/hooks/hubspot", body, ts
    )
    headers = {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": str(ts)}
    response = call(app, "POST", "/hooks/hubspot", body, **headers)
    assert response.status_code == 401
    assert response.json()["check"] == "bad-signature"


def test_hubspot_reads_lead_id_and_lost_reason_through_the_api(
    app: Served,
    engine: Engine,
    clock: ManualClock,
    hubspot_api: FakeHubSpot,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With a property lead id and fields, the deal is read from the CRM API with the token."""
    engine.start("inbound-lead", "L-7", {"email": "a@example.com"})
    hubspot_api.deals["555"] = {"leadflow_id": "L-7", "closed_lost_reason": "no_budget"}
    response = hubspot(app, clock, [stage_event(1, "555", "closedlost")], source="hubspot_api")
    assert response.json()["status"] == "fired"
    lead = engine.get("inbound-lead", "L-7")
    assert (lead.stage, lead.data["lost_reason"]) == ("lost", "no_budget")
    assert hubspot_api.auth == [f"Bearer {HS_TOKEN}"]
    missing = hubspot(app, clock, [stage_event(2, "556", "closedlost")], source="hubspot_api")
    assert missing.status_code == 502
    assert "HTTP 404" in missing.json()["message"]
    assert HS_TOKEN not in missing.text + caplog.text


def test_pipedrive_v2_won_fires_win(app: Served, engine: Engine) -> None:
    """A Pipedrive v2 deal change to status won with Basic auth fires win."""
    qualified(engine, "31")
    payload = {"meta": {"action": "change", "entity": "deal", "entity_id": "31", "id": "d-1",
                        "version": "2.0", "user_id": 5}, "data": {"id": 31, "status": "won"},
               "previous": {"status": "open"}}  # fmt: skip
    assert pipedrive(app, payload).json()["status"] == "fired"
    assert engine.get("inbound-lead", "31").stage == "won"
    assert pipedrive(app, payload).json()["status"] == "duplicate"


def test_pipedrive_v1_lost_carries_the_reason(app: Served, engine: Engine) -> None:
    """A v1 updated.deal to lost fires lose with lost_reason from the deal."""
    engine.start("inbound-lead", "32", {"email": "a@example.com"})
    payload = {"event": "updated.deal", "meta": {"action": "updated", "object": "deal", "id": 32,
               "timestamp": 1, "user_id": 5}, "current": {"id": 32, "status": "lost",
               "lost_reason": "competitor"}, "previous": {"id": 32, "status": "open"}}  # fmt: skip
    assert pipedrive(app, payload).json()["status"] == "fired"
    assert engine.get("inbound-lead", "32").data["lost_reason"] == "competitor"


def test_pipedrive_echo_unchanged_and_bad_password(app: Served, engine: Engine) -> None:
    """Our integration user's change is an echo, an unchanged status is ignored, bad auth is 401."""
    engine.start("inbound-lead", "33", {"email": "a@example.com"})
    meta = {"action": "change", "entity": "deal", "version": "2.0"}
    ours = {"meta": meta | {"id": "e1", "user_id": 42}, "data": {"id": 33, "status": "lost"}}
    same = {"meta": meta | {"id": "e2", "user_id": 5}, "data": {"id": 33, "status": "lost"},
            "previous": {"status": "lost"}}  # fmt: skip
    assert pipedrive(app, ours).json() == {"status": "ignored", "reason": "echo"}
    assert pipedrive(app, same).json() == {"status": "ignored", "reason": "not-mapped"}
    denied = pipedrive(app, ours | {"meta": meta | {"id": "e3"}}, password="guess")
    assert denied.status_code == 401
    assert denied.json()["check"] == "bad-credentials"
    assert engine.get("inbound-lead", "33").version == 1


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('kind = "zapier"\nprocess = "p"', "kind 'zapier' is not one of"),
        ('kind = "standard-webhooks"\nsecret = "env:SW"', "missing key 'process'"),
        ('kind = "hubspot"\nprocess = "p"\nclient_secret = "env:HS"', "key 'triggers' must map"),
        ('kind = "standard-webhooks"\nprocess = "p"\nsecret = "env:UNSET"', "UNSET is not set"),
        ('kind = "pipedrive"\nprocess = "p"\nusername = "u"\npasword = "env:PD"', "did you mean"),
        ('kind = "standard-webhooks"\nprocess = "p"\nsecret = "env:SW"\nlead_id = "x"', "lead_id"),
    ],
)
def test_bad_sources_name_file_and_table(
    engine: Engine, tmp_path: Path, table: str, expected: str
) -> None:
    """A bad inbound source is an AdapterConfigError naming the file and [inbound.<name>]."""
    path = tmp_path / "c.toml"
    path.write_text(f"[inbound.src]\n{table}\n")
    with pytest.raises(AdapterConfigError) as info:
        create_inbound_app(engine, load_config(path, env=ENV))
    assert f"{path}: [inbound.src]:" in str(info.value)
    assert expected in str(info.value)


def test_real_uvicorn_server_accepts_a_signed_request(
    engine: Engine, tmp_path: Path, clock: ManualClock
) -> None:
    """The app served by uvicorn on a real socket verifies and applies a signed command."""
    path = tmp_path / "c.toml"
    path.write_text(
        '[inbound.commands]\nkind = "standard-webhooks"\n'
        'process = "inbound-lead"\nsecret = "env:SW"\n'
    )
    server = Served(create_inbound_app(engine, load_config(path, env=ENV)))
    engine.start("inbound-lead", "U1", {"email": "a@example.com"})
    body = json.dumps(
        {"lead_id": "U1", "trigger": "lose", "data": {"lost_reason": "bad_data"}}
    ).encode()
    headers = standard_webhook_headers([SW_SECRET], "u-1", int(clock.now().timestamp()), body)
    try:
        response = httpx.post(f"{server.url}/hooks/commands", content=body, headers=headers)
    finally:
        server.close()
    assert response.status_code == 200
    assert engine.get("inbound-lead", "U1").stage == "lost"


def test_hubspot_signature_covers_the_uri_as_called_with_its_query(
    app: Served, engine: Engine, clock: ManualClock
) -> None:
    """The signed URI is the one the CRM called: scheme, host, raw path and query string."""
    qualified(engine, "9001")
    body = json.dumps([stage_event(1, "9001", "closedwon")]).encode()
    ts = int(clock.now().timestamp() * 1000)
    uri = f"{app.url}/hooks/hubspot?portal=42&a=%2F"
    headers = {"X-HubSpot-Request-Timestamp": str(ts)}
    without_query = sign_hubspot_v3(HS_SECRET, "POST", uri.partition("?")[0], body, ts)
    refused = httpx.post(
        uri, content=body, headers=headers | {"X-HubSpot-Signature-v3": without_query}
    )
    assert refused.status_code == 401
    assert refused.json()["check"] == "bad-signature"
    signature = sign_hubspot_v3(HS_SECRET, "POST", uri, body, ts)
    response = httpx.post(
        uri, content=body, headers=headers | {"X-HubSpot-Signature-v3": signature}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "fired"


def test_body_over_one_mebibyte_is_413_and_changes_nothing(
    app: Served, engine: Engine, clock: ManualClock
) -> None:
    """A body over 1 MiB is 413, declared or streamed; a body of exactly 1 MiB is read."""
    engine.start("inbound-lead", "L1", {"email": "a@example.com"})
    big = b" " * (MAX_BODY + 1)
    headers = standard_webhook_headers([SW_SECRET], "big", int(clock.now().timestamp()), big)
    declared = call(app, "POST", "/hooks/commands", big, **headers)
    assert declared.status_code == 413
    assert declared.json() == {
        "error": "too-large",
        "message": f"bodies are limited to {MAX_BODY} bytes",
    }

    def chunks() -> Iterator[bytes]:
        for _ in range(4 * MAX_BODY // 65536):  # 4 MiB, chunked, with no Content-Length
            yield b" " * 65536

    streamed = httpx.post(
        f"{app.url}/hooks/commands", content=chunks(), headers=PROXIED | headers, timeout=30
    )
    assert streamed.status_code == 413
    assert streamed.json()["error"] == "too-large"
    exact = b" " * MAX_BODY
    headers = standard_webhook_headers([SW_SECRET], "exact", int(clock.now().timestamp()), exact)
    response = call(app, "POST", "/hooks/commands", exact, **headers)
    assert response.status_code == 400
    assert response.json()["message"] == "the body is not JSON"
    assert engine.get("inbound-lead", "L1").version == 1


@pytest.mark.parametrize("where", ["engine.fire", "clock.now"])
def test_unexpected_exception_is_500_without_a_traceback(
    app: Served,
    engine: Engine,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    where: str,
) -> None:
    """An exception in the engine or around it is a JSON 500; the details go to the log only."""
    engine.start("inbound-lead", "L1", {"email": "a@example.com"})
    engine.record("inbound-lead", "L1", "call")
    payload = {"lead_id": "L1", "trigger": "contact"}
    body = json.dumps(payload).encode()
    headers = standard_webhook_headers([SW_SECRET], "boom", int(clock.now().timestamp()), body)

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom: secret internals")

    owner, name = (engine, "fire") if where == "engine.fire" else (clock, "now")
    monkeypatch.setattr(owner, name, boom)
    with caplog.at_level(logging.ERROR):
        response = call(app, "POST", "/hooks/commands", body, **headers)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": "internal",
        "message": "the engine failed; see the server log",
    }
    assert "Traceback" not in response.text
    assert "boom" not in response.text
    assert "boom: secret internals" in caplog.text
    monkeypatch.undo()
    assert engine.get("inbound-lead", "L1").stage == "new"


def serve_inbound_cli(*args: str) -> Any:
    return CliRunner().invoke(cli_app, ["serve-inbound", *args])


def test_serve_inbound_without_uvicorn_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without uvicorn installed, `leadflow serve-inbound` says which extra to install."""
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = serve_inbound_cli("--db", f"sqlite:///{tmp_path / 'x.db'}")
    assert result.exit_code == 1
    assert result.stderr.count("error:") == 1
    assert "pip install 'leadflow[serve]'" in result.stderr


def test_serve_inbound_runs_the_service_app_with_uvicorn(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`leadflow serve-inbound` runs the service (with the inbound sources of its config) with
    uvicorn, on its host and port."""
    seen: dict[str, Any] = {}

    def run(app: Any, **options: Any) -> None:
        seen.update(options, app=app, config=os.environ.get("LEADFLOW_CONFIG"))

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setenv("SW", SW_SECRET)
    monkeypatch.setenv("LEADFLOW_DB", "unset")  # restored after the test
    monkeypatch.delenv("LEADFLOW_CONFIG", raising=False)
    path = tmp_path / "c.toml"
    path.write_text(
        '[inbound.commands]\nkind = "standard-webhooks"\n'
        'process = "inbound-lead"\nsecret = "env:SW"\n'
    )
    db = f"sqlite:///{tmp_path / 'x.db'}"
    result = serve_inbound_cli("--db", db, "--config", str(path), "--port", "9099")
    assert result.exit_code == 0, result.output
    assert seen.pop("app") == "leadflow.service:app_from_env"
    assert seen.pop("config") == str(path.resolve())
    assert seen == {
        "factory": True,
        "host": "127.0.0.1",
        "port": 9099,
        "workers": 1,
        "log_level": "info",
    }
    assert os.environ["LEADFLOW_DB"] == "unset"  # the caller's environment is restored
    monkeypatch.setenv("LEADFLOW_DB", db)
    monkeypatch.setenv("LEADFLOW_CONFIG", str(path))
    app = app_from_env()  # what each uvicorn worker builds: the API with the hooks
    assert {"/hooks/{source}", "/api/v1/processes"} <= set(app.openapi()["paths"])
    app.state.engine.close()


def test_serve_inbound_with_a_bad_source_is_one_error_line(tmp_path: Path) -> None:
    """A bad [inbound.<name>] table is one `error:` line naming file and table, exit code 1."""
    path = tmp_path / "c.toml"
    path.write_text('[inbound.src]\nkind = "zapier"\nprocess = "p"\n')
    result = serve_inbound_cli("--db", f"sqlite:///{tmp_path / 'x.db'}", "--config", str(path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [result.stderr.splitlines()[0]]
    assert result.stderr.startswith(f"error: {path}: [inbound.src]:")
