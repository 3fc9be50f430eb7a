"""The HTTP API over real sockets: uvicorn on 127.0.0.1, an httpx client, SQLite and PostgreSQL.

Every answer checked here is part of the contract of ``/api/v1`` (docs/http-api.md): status,
problem details with the leadflow code, etags, idempotency keys and what each role may do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live_server import Served

from leadflow.definitions import library_path, load_definition
from leadflow.engine import Engine
from leadflow.engine.store import TokenStore
from leadflow.engine.testing import ManualClock
from leadflow.service import create_app

PROCESS = "inbound-lead"
LEADS = f"/api/v1/processes/{PROCESS}/leads"
LEAD_FIELDS = {
    "lead_id",
    "process",
    "version",
    "definition_version",
    "stage",
    "owner",
    "data",
    "closed",
    "probability",
    "created_at",
    "stage_entered_at",
    "updated_at",
    "etag",
}


class Api:
    """The served app, its engine and a bearer token per role."""

    def __init__(self, engine: Engine, served: Served) -> None:
        self.engine = engine
        self.url = served.url
        tokens = TokenStore(engine.store)
        now = datetime.now(UTC)
        self.tokens = {
            "admin": tokens.create("t-admin", "admin", at=now)[0],
            "ops": tokens.create("t-ops", "ops", at=now)[0],
            "manager": tokens.create(
                "t-manager", "manager", team="sdr", owner="sdr_manager", at=now
            )[0],
            "rep": tokens.create("t-rep", "rep", team="sdr", owner="sdr_ana", at=now)[0],
            "viewer": tokens.create("t-viewer", "viewer", at=now)[0],
            "board": tokens.create("t-board", "board", at=now)[0],
        }
        self.http = httpx.Client(base_url=served.url, timeout=10)

    def as_(self, role: str, headers: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}", **(headers or {})}

    def start(
        self, lead_id: str, owner: str | None = "sdr_ana", role: str = "admin"
    ) -> httpx.Response:
        body = {"lead_id": lead_id, "data": {"email": f"{lead_id}@example.com", "score": 70}}
        if owner is not None:
            body["owner"] = owner
        return self.http.post(LEADS, json=body, headers=self.as_(role))

    def history(self, lead_id: str) -> int:
        return len(self.engine.history(PROCESS, lead_id))


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    with Engine(db_url, create=True) as engine:
        engine.deploy(library_path(PROCESS))
        with Served(create_app(engine)) as served:
            client = Api(engine, served)
            yield client
            client.http.close()


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert "Traceback" not in response.text
    return body


def test_health_and_readiness(api: Api) -> None:
    """/healthz answers without a token; /readyz says the schema is at the shipped head."""
    assert api.http.get("/healthz").json() == {"status": "ok"}
    ready = api.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_openapi_and_docs_are_served(api: Api) -> None:
    """The OpenAPI document lists the lead routes, and the interactive docs page loads."""
    spec = api.http.get("/openapi.json").json()
    assert "/api/v1/processes/{process}/leads/{lead_id}/fire" in spec["paths"]
    assert api.http.get("/docs").status_code == 200


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer"])
def test_requests_without_a_valid_token_get_401(api: Api, header: str | None) -> None:
    """No token, an unknown one or another scheme: 401 with a Bearer challenge."""
    headers = {"Authorization": header} if header is not None else {}
    response = api.http.get(LEADS, headers=headers)
    _problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_start_answers_201_with_the_lead_and_its_etag(api: Api) -> None:
    """Starting a lead answers 201, its location, an ETag, and exactly the lead's fields."""
    response = api.start("l1")
    assert response.status_code == 201
    lead = response.json()
    assert set(lead) == LEAD_FIELDS
    assert lead["stage"] == "new"
    assert lead["owner"] == "sdr_ana"
    assert response.headers["etag"] == lead["etag"] == '"1"'
    assert response.headers["location"] == f"{LEADS}/l1"
    got = api.http.get(f"{LEADS}/l1", headers=api.as_("admin"))
    assert got.json() == lead
    assert got.headers["etag"] == '"1"'


def test_start_errors(api: Api) -> None:
    """A duplicate lead is 409, bad data 422 naming the field, an unknown process 404."""
    api.start("l1")
    _problem(api.start("l1"), 409, "duplicate_lead")
    bad = api.http.post(
        LEADS,
        json={"lead_id": "l2", "data": {"email": "x", "score": 500}},
        headers=api.as_("admin"),
    )
    body = _problem(bad, 422, "invalid_data")
    assert [i["field"] for i in body["issues"]] == ["score"]  # type: ignore[union-attr]
    missing = api.http.post(
        "/api/v1/processes/nope/leads", json={"lead_id": "x"}, headers=api.as_("admin")
    )
    _problem(missing, 404, "unknown_process")
    shapeless = api.http.post(LEADS, json={"data": {}}, headers=api.as_("admin"))
    assert _problem(shapeless, 422, "invalid_request")["issues"][0]["field"] == "lead_id"  # type: ignore[index]
    broken = api.http.post(
        LEADS,
        content=b'{"lead_id": "l3",',
        headers=api.as_("admin", {"Content-Type": "application/json"}),
    )
    body = _problem(broken, 422, "invalid_request")
    issue = body["issues"][0]  # type: ignore[index]
    assert issue["field"] == ""
    assert issue["message"].startswith("the body is not valid JSON at character 17: ")
    assert body["detail"] == "the request is invalid: body"
    bodiless = api.http.post(LEADS, headers=api.as_("admin"))
    issue = _problem(bodiless, 422, "invalid_request")["issues"][0]  # type: ignore[index]
    assert issue == {
        "field": "",
        "message": "a JSON object body is required (Content-Type: application/json)",
    }
    assert [i.lead_id for _, i in api.engine.leads(PROCESS)] == ["l1"]  # nothing else started


def test_fire_refusals_are_409_with_what_is_missing(api: Api) -> None:
    """Unmet criteria answer guard_failed with each unmet criterion; a trigger not allowed
    from the stage answers invalid_transition with the allowed ones; nothing changes."""
    api.start("l1")
    guard = api.http.post(f"{LEADS}/l1/fire", json={"trigger": "contact"}, headers=api.as_("admin"))
    body = _problem(guard, 409, "guard_failed")
    assert body["unmet"] == [
        {
            "id": "called",
            "message": "Log at least one call",
            "seen": {"type": "call", "count": 0, "min": 1},
        }
    ]
    wrong = api.http.post(f"{LEADS}/l1/fire", json={"trigger": "win"}, headers=api.as_("admin"))
    assert _problem(wrong, 409, "invalid_transition")["allowed"] == ["contact", "lose"]
    assert api.history("l1") == 1


@pytest.mark.parametrize("lead_id", ["a b/c", "crm/123/fire", "ünï?#%"])
def test_any_lead_id_a_lead_was_started_with_is_addressable(api: Api, lead_id: str) -> None:
    """Lead ids with ``/``, spaces, ``?``, ``#`` or ``%`` (percent-encoded in the URL) reach
    their lead on every route below it; a ``/`` in the id is not taken for a route's own."""
    started = api.start(lead_id)
    assert started.status_code == 201
    admin = api.as_("admin")
    url = f"{LEADS}/{quote(lead_id, safe='')}"
    assert started.headers["location"] == url
    read = api.http.get(url, headers=admin)
    assert read.status_code == 200, read.text
    assert read.json()["lead_id"] == lead_id
    call = api.http.post(f"{url}/activities", json={"type": "call"}, headers=admin)
    assert call.status_code == 201, call.text
    fired = api.http.post(f"{url}/fire", json={"trigger": "contact"}, headers=admin)
    assert (fired.status_code, fired.json()["lead_id"]) == (200, lead_id)
    patched = api.http.patch(url, json={"data": {"score": 80}}, headers=admin)
    assert patched.json()["data"]["score"] == 80
    history = api.http.get(f"{url}/history", headers=admin).json()
    assert [h["kind"] for h in history] == ["started", "activity", "transition", "updated"]
    assert api.http.get(f"{url}/next-steps", headers=admin).status_code == 200
    assert isinstance(api.http.get(f"{url}/slas", headers=admin).json(), list)
    assigned = api.http.post(f"{url}/assign", json={"owner": "sdr_ben"}, headers=admin)
    assert assigned.json()["owner"] == "sdr_ben"
    assert api.history(lead_id) == 5


def test_record_fire_update_assign_and_read(api: Api) -> None:
    """A call, then contact, a field change and a reassignment; history and next steps follow."""
    api.start("l1")
    admin = api.as_("admin")
    call = api.http.post(f"{LEADS}/l1/activities", json={"type": "call"}, headers=admin)
    assert call.status_code == 201
    fired = api.http.post(f"{LEADS}/l1/fire", json={"trigger": "contact"}, headers=admin)
    assert fired.status_code == 200
    assert fired.json()["stage"] == "contacted"
    patched = api.http.patch(f"{LEADS}/l1", json={"data": {"budget": 5000}}, headers=admin)
    assert patched.json()["data"]["budget"] == 5000
    moved = api.http.post(f"{LEADS}/l1/assign", json={"owner": "sdr_ben"}, headers=admin)
    assert moved.json()["owner"] == "sdr_ben"
    history = api.http.get(f"{LEADS}/l1/history", headers=admin).json()
    assert [h["kind"] for h in history] == [
        "started",
        "activity",
        "transition",
        "updated",
        "assigned",
    ]
    steps = api.http.get(f"{LEADS}/l1/next-steps", headers=admin).json()
    assert steps["stage"] == "contacted"
    assert {t["trigger"] for t in steps["triggers"]} == {"qualify", "lose"}


def test_if_match_with_a_stale_etag_is_412_and_changes_nothing(api: Api) -> None:
    """A write with the current etag applies; with an older one it answers 412."""
    api.start("l1")
    fresh = api.http.patch(
        f"{LEADS}/l1", json={"data": {"budget": 1}}, headers=api.as_("admin", {"If-Match": '"1"'})
    )
    assert fresh.status_code == 200
    assert fresh.headers["etag"] == '"2"'
    stale = api.http.patch(
        f"{LEADS}/l1", json={"data": {"budget": 2}}, headers=api.as_("admin", {"If-Match": '"1"'})
    )
    _problem(stale, 412, "precondition_failed")
    assert api.engine.get(PROCESS, "l1").data["budget"] == 1
    anything = api.http.patch(
        f"{LEADS}/l1", json={"data": {"budget": 3}}, headers=api.as_("admin", {"If-Match": "*"})
    )
    assert anything.status_code == 200  # "*" matches any current version


def test_idempotency_key_replays_the_first_answer(api: Api) -> None:
    """The same key and body return the first answer and change nothing more; the same key
    with another body is refused; another caller's same key is a different request."""
    api.start("l1")
    headers = api.as_("admin", {"Idempotency-Key": "call-1"})
    first = api.http.post(f"{LEADS}/l1/activities", json={"type": "call"}, headers=headers)
    again = api.http.post(f"{LEADS}/l1/activities", json={"type": "call"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert api.history("l1") == 2
    other = api.http.post(f"{LEADS}/l1/activities", json={"type": "email"}, headers=headers)
    _problem(other, 422, "idempotency_conflict")
    assert api.history("l1") == 2
    start = api.as_("admin", {"Idempotency-Key": "start-l2"})
    body = {"lead_id": "l2", "owner": "sdr_ana", "data": {"email": "l2@example.com"}}
    created = api.http.post(LEADS, json=body, headers=start)
    replay = api.http.post(LEADS, json=body, headers=start)
    assert created.status_code == replay.status_code == 201
    assert replay.json() == created.json()


def test_list_pages_with_a_cursor_and_filters(api: Api) -> None:
    """Five leads come back two at a time in start order; stage and state filters apply."""
    for n in range(5):
        api.start(f"l{n}")
    api.http.post(
        f"{LEADS}/l3/fire",
        json={"trigger": "lose", "data": {"lost_reason": "bad_data"}},
        headers=api.as_("admin"),
    )
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.http.get(LEADS, params=params, headers=api.as_("admin")).json()
        seen += [lead["lead_id"] for lead in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["l0", "l1", "l2", "l3", "l4"]
    open_ = api.http.get(LEADS, params={"state": "open"}, headers=api.as_("admin")).json()
    assert [lead["lead_id"] for lead in open_["items"]] == ["l0", "l1", "l2", "l4"]
    lost = api.http.get(LEADS, params={"stage": "lost"}, headers=api.as_("admin")).json()
    assert [lead["lead_id"] for lead in lost["items"]] == ["l3"]
    bad = api.http.get(LEADS, params={"cursor": "garbage!"}, headers=api.as_("admin"))
    _problem(bad, 422, "invalid_request")


def test_an_unknown_query_parameter_is_refused_not_ignored(api: Api) -> None:
    """``?closed=true`` (the filter is ``state``) is 422 naming it and what the route takes,
    instead of answering every lead; on reports and the outbox too; a caller without a token
    still gets 401 first."""
    api.start("q1")
    admin = api.as_("admin")
    misspelt = api.http.get(LEADS, params={"closed": "true", "limit": 5}, headers=admin)
    body = _problem(misspelt, 422, "invalid_request")
    assert body["detail"] == (
        "unknown query parameter 'closed'; this route takes: cursor, limit, owner, stage, "
        "state, team"
    )
    assert body["issues"] == [  # type: ignore[comparison-overlap]
        {"field": "query.closed", "message": "not a parameter of this route"}
    ]
    report = api.http.get(
        "/api/v1/reports/pipeline", params={"process": PROCESS, "proces": "x"}, headers=admin
    )
    assert "'proces'" in str(_problem(report, 422, "invalid_request")["detail"])
    outbox = api.http.get("/api/v1/outbox", params={"state": "dead"}, headers=admin)
    assert "'state'" in str(_problem(outbox, 422, "invalid_request")["detail"])
    one = api.http.get(f"{LEADS}/q1", params={"fields": "email"}, headers=admin)
    assert "this route takes: none" in str(_problem(one, 422, "invalid_request")["detail"])
    _problem(api.http.get(LEADS, params={"closed": "true"}), 401, "unauthorized")
    fine = api.http.get(LEADS, params={"state": "open", "limit": 5}, headers=admin)
    assert [lead["lead_id"] for lead in fine.json()["items"]] == ["q1"]
    titled = api.http.get(LEADS, params={"stage": "Contacted"}, headers=admin)
    body = _problem(titled, 422, "invalid_request")
    assert str(body["detail"]).startswith(
        "stage 'Contacted' is not a stage of inbound-lead (stages: new, contacted, "
    )
    empty = api.http.get(LEADS, params={"stage": "contacted"}, headers=admin)
    assert empty.json()["items"] == []


def test_a_stage_only_an_older_version_has_is_still_a_filter(api: Api) -> None:
    """Leads may still sit in a stage the newest version dropped: filtering on it answers."""
    v1 = (
        "process: shop\nversion: 1\nfields:\n  email: {type: string}\nstages:\n"
        "  new: {initial: true}\n  legacy: {}\n  done: {closed: won}\ntransitions:\n"
        "  - {name: park, from: new, to: legacy}\n  - {name: finish, from: '*', to: done}\n"
    )
    v2 = (
        v1.replace("version: 1", "version: 2")
        .replace("  legacy: {}\n", "")
        .replace("  - {name: park, from: new, to: legacy}\n", "")
    )
    ops = api.as_("ops", {"Content-Type": "application/yaml"})
    for text in (v1, v2):
        assert api.http.post("/api/v1/processes", content=text, headers=ops).status_code == 201
    assert api.engine.processes()["shop"] == [1, 2]
    listed = api.http.get(
        "/api/v1/processes/shop/leads", params={"stage": "legacy"}, headers=api.as_("admin")
    )
    assert (listed.status_code, listed.json()["items"]) == (200, [])


def test_a_rep_sees_and_changes_only_their_own_and_unassigned_leads(api: Api) -> None:
    """A rep lists their leads and unassigned ones, and is refused (403, naming the rule) on
    another rep's lead, which stays unchanged."""
    api.start("mine", owner="sdr_ana")
    api.start("theirs", owner="sdr_ben")
    rep = api.as_("rep")
    listed = api.http.get(LEADS, headers=rep).json()
    assert [lead["lead_id"] for lead in listed["items"]] == ["mine"]
    refused = api.http.post(f"{LEADS}/theirs/activities", json={"type": "call"}, headers=rep)
    assert _problem(refused, 403, "access_denied")["rule"] == "role:rep:own"
    assert api.history("theirs") == 1
    _problem(api.http.get(f"{LEADS}/theirs", headers=rep), 403, "access_denied")
    assert (
        api.http.post(f"{LEADS}/mine/activities", json={"type": "call"}, headers=rep).status_code
        == 201
    )


def test_a_manager_acts_on_their_teams_leads_only(api: Api) -> None:
    """A manager of team sdr reads and changes leads of its members, not of outsiders."""
    api.start("team", owner="sdr_ben")
    api.start("outside", owner="someone_else")
    manager = api.as_("manager")
    listed = api.http.get(LEADS, headers=manager).json()
    assert [lead["lead_id"] for lead in listed["items"]] == ["team"]
    ok = api.http.post(f"{LEADS}/team/assign", json={"owner": "sdr_cleo"}, headers=manager)
    assert ok.status_code == 200
    refused = api.http.post(f"{LEADS}/outside/assign", json={"owner": "sdr_cleo"}, headers=manager)
    assert _problem(refused, 403, "access_denied")["rule"] == "role:manager:team"


def test_read_only_and_board_roles(api: Api) -> None:
    """A viewer reads but cannot change; a board token reads the SLA board but no lead data."""
    api.start("l1")
    viewer = api.as_("viewer")
    assert api.http.get(f"{LEADS}/l1", headers=viewer).status_code == 200
    _problem(
        api.http.post(f"{LEADS}/l1/activities", json={"type": "call"}, headers=viewer),
        403,
        "access_denied",
    )
    board = api.as_("board")
    _problem(api.http.get(LEADS, headers=board), 403, "access_denied")
    _problem(api.http.get(f"{LEADS}/l1", headers=board), 403, "access_denied")
    sla = api.http.get("/api/v1/reports/sla", params={"process": PROCESS}, headers=board)
    assert sla.status_code == 200
    _problem(
        api.http.get("/api/v1/reports/stuck", params={"process": PROCESS}, headers=board),
        403,
        "access_denied",
    )


def test_deploy_needs_ops_and_reports_every_problem(api: Api) -> None:
    """ops deploys a new version (201); a rep is refused; a broken definition answers 422
    with each problem's line and column."""
    source = library_path(PROCESS).read_text(encoding="utf-8")
    text = re.sub(r"^version: \d+$", "version: 9", source, count=1, flags=re.M)
    _problem(
        api.http.post("/api/v1/processes", json={"yaml": text}, headers=api.as_("rep")),
        403,
        "access_denied",
    )
    deployed = api.http.post("/api/v1/processes", json={"yaml": text}, headers=api.as_("ops"))
    assert deployed.status_code == 201, deployed.text
    assert 9 in deployed.json()["versions"]
    broken = "process: x\nversion: 1\nstages:\n  a: {initial: tru}\n"
    body = _problem(
        api.http.post("/api/v1/processes", json={"yaml": broken}, headers=api.as_("ops")),
        422,
        "definition_invalid",
    )
    assert {(p["line"], p["column"]) for p in body["problems"]} == {(1, 1), (4, 16)}  # type: ignore[union-attr]
    shown = api.http.get(f"/api/v1/processes/{PROCESS}", headers=api.as_("viewer")).json()
    assert shown["latest"] == 9
    assert "speed_to_call" in {s["id"] for s in shown["slas"]}


def test_deploy_takes_the_yaml_itself_under_a_yaml_content_type(api: Api) -> None:
    """``curl --data-binary @process.yaml -H 'Content-Type: application/yaml'`` deploys; its
    problems are reported against ``?file=``; a body of another type is 415, a body that is
    not UTF-8 or a JSON object missing ``yaml`` is 422; no token is 401 before any of it."""
    source = library_path(PROCESS).read_text(encoding="utf-8")
    text = re.sub(r"^version: \d+$", "version: 7", source, count=1, flags=re.M)
    yaml_ops = api.as_("ops", {"Content-Type": "application/yaml"})
    deployed = api.http.post("/api/v1/processes", content=text.encode(), headers=yaml_ops)
    assert deployed.status_code == 201, deployed.text
    assert deployed.headers["location"] == f"/api/v1/processes/{PROCESS}"
    assert 7 in deployed.json()["versions"]
    again = api.as_("ops", {"Content-Type": "text/yaml; charset=utf-8"})
    assert api.http.post("/api/v1/processes", content=text, headers=again).status_code == 201
    broken = "process: x\nversion: 1\nstages:\n  a: {initial: tru}\n"
    body = _problem(
        api.http.post(
            "/api/v1/processes", params={"file": "x.yaml"}, content=broken, headers=yaml_ops
        ),
        422,
        "definition_invalid",
    )
    assert "x.yaml:4:16" in str(body["detail"])
    form = api.as_("ops", {"Content-Type": "text/plain"})
    refused = _problem(
        api.http.post("/api/v1/processes", content=text, headers=form),
        415,
        "unsupported_media_type",
    )
    assert "application/yaml" in str(refused["detail"])
    latin = api.http.post("/api/v1/processes", content=b"process: \xe9\n", headers=yaml_ops)
    issue = _problem(latin, 422, "invalid_request")["issues"][0]  # type: ignore[index]
    assert issue["field"] == ""
    assert issue["message"].startswith("not UTF-8 text")
    keyless = api.http.post("/api/v1/processes", json={"file": "a.yaml"}, headers=api.as_("ops"))
    issue = _problem(keyless, 422, "invalid_request")["issues"][0]  # type: ignore[index]
    assert issue["field"] == "yaml"
    anonymous = api.http.post(
        "/api/v1/processes", content=b"{", headers={"Content-Type": "application/json"}
    )
    _problem(anonymous, 401, "unauthorized")
    assert api.engine.processes()[PROCESS][-1] == 7


def test_batches_report_each_item(api: Api) -> None:
    """A batch start and a batch fire answer per item: the leads that passed, the errors."""
    items = [
        {"lead_id": "b1", "owner": "sdr_ana", "data": {"email": "b1@x.io"}},
        {"lead_id": "b2", "data": {"score": 7}},
    ]
    started = api.http.post(
        f"{LEADS}:batch-start", json={"items": items}, headers=api.as_("admin")
    ).json()
    assert [lead["lead_id"] for lead in started["succeeded"]] == ["b1"]
    assert [(f["index"], f["code"]) for f in started["failed"]] == [(1, "invalid_data")]
    fires = [
        {"lead_id": "b1", "trigger": "win"},
        {"lead_id": "b1", "trigger": "lose", "data": {"lost_reason": "bad_data"}},
    ]
    fired = api.http.post(
        f"{LEADS}:batch-fire", json={"items": fires}, headers=api.as_("admin")
    ).json()
    assert [(f["index"], f["code"]) for f in fired["failed"]] == [(0, "invalid_transition")]
    assert fired["succeeded"][0]["stage"] == "lost"


@pytest.mark.parametrize(
    "name", ["pipeline", "funnel", "stages", "stuck", "losses", "owners", "sla", "forecast"]
)
def test_every_report_answers_json(api: Api, name: str) -> None:
    """Each report of the CLI is served as JSON for a role that may read it."""
    api.start("l1")
    response = api.http.get(
        f"/api/v1/reports/{name}", params={"process": PROCESS}, headers=api.as_("manager")
    )
    assert response.status_code == 200, response.text
    assert response.json()


def test_outbox_status_and_retry_need_ops(api: Api) -> None:
    """ops sees the outbox backlog; a retry naming nothing is a 422; a rep is refused."""
    api.start("l1")
    status = api.http.get("/api/v1/outbox", headers=api.as_("ops"))
    assert status.status_code == 200
    assert status.json()["undispatched"] >= 1
    _problem(
        api.http.post("/api/v1/outbox/retry", json={}, headers=api.as_("ops")),
        422,
        "invalid_outbox_request",
    )
    _problem(api.http.get("/api/v1/outbox", headers=api.as_("rep")), 403, "access_denied")


def test_a_body_over_one_mib_is_413(api: Api) -> None:
    """A request body over 1 MiB is refused before it is read."""
    big = b'{"lead_id": "' + b"x" * (1 << 20) + b'"}'
    response = api.http.post(
        LEADS, content=big, headers=api.as_("admin", {"Content-Type": "application/json"})
    )
    _problem(response, 413, "too_large")


REQUESTS = st.sampled_from(
    [
        ("POST", "theirs/fire", {"trigger": "contact"}),
        ("POST", "theirs/fire", {"trigger": "win"}),
        ("POST", "theirs/activities", {"type": "call"}),
        ("PATCH", "theirs", {"data": {"score": 1}}),
        ("POST", "theirs/assign", {"owner": "sdr_ana"}),
        ("POST", "mine/fire", {"trigger": "contact"}),
        ("POST", "mine/fire", {"trigger": "qualify"}),
        ("PATCH", "mine", {"data": {"score": 900}}),
        ("PATCH", "mine", {"data": {"nope": 1}}),
        ("POST", "mine/activities", {"type": ""}),
    ]
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(request=REQUESTS, role=st.sampled_from(["rep", "viewer", "board"]))
def test_refused_or_failed_requests_change_nothing(
    tmp_path_factory: pytest.TempPathFactory, request: tuple[str, str, dict[str, object]], role: str
) -> None:
    """Whatever a caller sends, an answer of 4xx leaves the lead, its history and the outbox
    as they were."""
    path: Path = tmp_path_factory.mktemp("prop") / "lf.db"
    with Engine(f"sqlite:///{path}") as engine:
        engine.deploy(library_path(PROCESS))
        with Served(create_app(engine)) as served:
            api = Api(engine, served)
            api.start("mine", owner="sdr_ana")
            api.start("theirs", owner="sdr_ben")
            before = {
                lead: (engine.get(PROCESS, lead), api.history(lead)) for lead in ("mine", "theirs")
            }
            method, tail, body = request
            response = api.http.request(method, f"{LEADS}/{tail}", json=body, headers=api.as_(role))
            if response.status_code >= 400:
                assert response.status_code < 500, response.text
                after = {lead: (engine.get(PROCESS, lead), api.history(lead)) for lead in before}
                assert after == before
            api.http.close()


def test_a_leads_sla_clocks(tmp_path: Path) -> None:
    """A new lead's speed-to-call clock runs with its due time; after six business minutes
    without a call it shows the warning and the breach that fired."""
    start = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York
    clock = ManualClock(start)
    with Engine(f"sqlite:///{tmp_path / 'lf.db'}", clock=clock) as engine:
        engine.deploy(library_path(PROCESS))
        with Served(create_app(engine)) as served:
            api = Api(engine, served)
            api.start("l1")
            clocks = api.http.get(f"{LEADS}/l1/slas", headers=api.as_("rep")).json()
            assert [c["policy"] for c in clocks] == ["speed_to_call", "call_cadence"]
            running = clocks[0]
            assert running["state"] == "running"
            assert running["due_at"] == "2026-03-02T15:05:00+00:00"
            assert running["marks"] == []
            clock.advance(timedelta(minutes=6))
            late = api.http.get(f"{LEADS}/l1/slas", headers=api.as_("rep")).json()[0]
            assert late["breached"] is True
            assert [m["event"] for m in late["marks"]] == ["warned", "breached"]
            api.http.close()


def test_snoozing_an_sla_clock_over_http(api: Api) -> None:
    """A manager snoozes a lead's clock with a reason (200, in the history); a rep is refused
    with the SLA's rule (403), going over the maximum is 409 ``snooze_refused``, a bad duration
    422; refusals change nothing."""
    text = library_path(PROCESS).read_text(encoding="utf-8")
    text = re.sub(r"^version: \d+$", "version: 60", text, count=1, flags=re.M)
    text = text.replace(
        "    target: 5m business\n",
        "    target: 5m business\n    snooze: {max: 10m business, roles: [manager]}\n",
        1,
    )
    api.engine.deploy(load_definition(text, file="snooze.yaml"))
    assert api.start("sz").status_code == 201
    url = f"{LEADS}/sz/slas/speed_to_call/snooze"
    ok = api.http.post(
        url, json={"by": "5m", "reason": "asked for a call at 3"}, headers=api.as_("manager")
    )
    assert ok.status_code == 200, ok.text
    entry = api.engine.history(PROCESS, "sz")[-1]
    assert (entry.kind, entry.actor) == ("sla_snoozed", "sdr_manager")
    seen = api.history("sz")
    denied = api.http.post(url, json={"by": "1m", "reason": "x"}, headers=api.as_("rep"))
    assert _problem(denied, 403, "access_denied")["rule"] == "slas.speed_to_call.snooze.roles"
    over = api.http.post(url, json={"by": "6m", "reason": "x"}, headers=api.as_("manager"))
    assert "maximum of 10m business" in str(_problem(over, 409, "snooze_refused")["detail"])
    bad = api.http.post(url, json={"by": "soon", "reason": "x"}, headers=api.as_("manager"))
    _problem(bad, 422, "invalid_data")
    assert api.history("sz") == seen


def test_passing_a_lead_on_over_http(api: Api) -> None:
    """``POST .../pass`` with a reason routes the lead away from its owner (200, the reason in
    history); without a reason it is 422 and nothing changes."""
    assert api.start("ps").status_code == 201
    empty = api.http.post(f"{LEADS}/ps/pass", json={"reason": ""}, headers=api.as_("admin"))
    _problem(empty, 422, "invalid_request")
    seen = api.history("ps")
    passed = api.http.post(
        f"{LEADS}/ps/pass", json={"reason": "out tomorrow"}, headers=api.as_("admin")
    )
    assert passed.status_code == 200, passed.text
    assert passed.json()["owner"] != "sdr_ana"
    assert api.history("ps") == seen + 1
    assert api.engine.history(PROCESS, "ps")[-1].details["reason"].startswith("passed: out")


def test_the_fairness_report_answers_per_member(api: Api) -> None:
    """GET /reports/fairness lists each sdr member's routed leads against the fair share; a
    rep may not read the aggregate reports."""
    api.start("l1", owner=None)
    response = api.http.get(
        "/api/v1/reports/fairness", params={"process": PROCESS}, headers=api.as_("manager")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["report"] == "fairness"
    members = {r["member"]: r for r in body["rows"] if r["team"] == "sdr"}
    assert set(members) >= {"sdr_ana", "sdr_ben", "sdr_cleo"}
    assert sum(r["assigned"] for r in body["rows"]) == 1
    refused = api.http.get(
        "/api/v1/reports/fairness", params={"process": PROCESS}, headers=api.as_("rep")
    )
    assert refused.status_code == 403


def test_the_handoff_report_answers_per_pair(api: Api) -> None:
    """GET /reports/handoffs gives, per SLA and hand-off pair, how fast the receiving team
    acted; like the SLA board, every role may read it."""
    handoff = Path(__file__).parents[1] / "definitions" / "sla" / "handoff.yaml"
    api.engine.deploy(handoff)
    t0 = datetime.now(UTC) - timedelta(hours=2)
    api.engine.start("sla-handoff", "H1", owner="mkt-queue", at=t0)
    api.engine.assign("sla-handoff", "H1", "sam", at=t0 + timedelta(minutes=10))
    api.engine.record("sla-handoff", "H1", "call", at=t0 + timedelta(minutes=40))
    for role in ("manager", "rep", "board"):
        response = api.http.get(
            "/api/v1/reports/handoffs", params={"process": "sla-handoff"}, headers=api.as_(role)
        )
        assert response.status_code == 200, (role, response.text)
    rows = {(r["policy"], r["from_team"], r["to_team"]): r for r in response.json()["rows"]}
    pair = rows[("mkt_to_sdr", "marketing", "sdr")]
    assert (pair["count"], pair["met"], pair["breached"]) == (1, 1, 0)
    assert pair["median_seconds"] == 1800.0
