"""POST /api/v1/leads and GET /api/v1/journeys through uvicorn, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from live_server import Served

from leadflow.definitions import library_path
from leadflow.engine import Engine
from leadflow.engine.store import TokenStore
from leadflow.service import create_app

INBOUND = Path(library_path("inbound-lead")).read_text()
JOURNEYS = """\
journeys:
  - {when: 'lead.segment == "enterprise"', process: enterprise-journey}
  - {when: 'lead.segment == "mid_market"', process: mid-market-journey}
"""


class Api:
    """The served app, its engine and an admin and a viewer token."""

    def __init__(self, engine: Engine, served: Served) -> None:
        self.engine = engine
        tokens = TokenStore(engine.store)
        now = datetime.now(UTC)
        self.admin = tokens.create("t-admin", "admin", at=now)[0]
        self.viewer = tokens.create("t-viewer", "viewer", at=now)[0]
        self.http = httpx.Client(base_url=served.url, timeout=10)

    def as_(self, token: str, headers: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", **(headers or {})}

    def start(self, body: dict[str, object], **headers: str) -> httpx.Response:
        return self.http.post("/api/v1/leads", json=body, headers=self.as_(self.admin, headers))


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    """inbound-lead and two copies of it deployed, the journeys set, the app served."""
    with Engine(db_url, create=True) as engine:
        engine.deploy(library_path("inbound-lead"))
        for process in ("enterprise-journey", "mid-market-journey"):
            engine.deploy(re.sub(r"^process:.*$", f"process: {process}", INBOUND, flags=re.M))
        engine.set_journeys(JOURNEYS)
        with Served(create_app(engine)) as served:
            client = Api(engine, served)
            yield client
            client.http.close()


def test_a_lead_starts_in_the_process_its_fields_choose(api: Api) -> None:
    """201, the lead in the journey's process, and a Location under that process."""
    body = {"lead_id": "h1", "data": {"email": "h1@example.com", "segment": "enterprise"}}
    response = api.start(body)
    assert response.status_code == 201, response.text
    lead = response.json()
    assert (lead["process"], lead["lead_id"], lead["stage"]) == ("enterprise-journey", "h1", "new")
    assert response.headers["Location"] == "/api/v1/processes/enterprise-journey/leads/h1"
    assert response.headers["ETag"] == lead["etag"]
    assert api.engine.get("enterprise-journey", "h1").data["segment"] == "enterprise"
    other = api.start({"lead_id": "m1", "data": {"email": "m@x.io", "segment": "mid_market"}})
    assert other.json()["process"] == "mid-market-journey"


def test_no_matching_rule_is_a_404_no_journey(api: Api) -> None:
    """A lead no rule matches gets problem details with code no_journey; nothing starts."""
    response = api.start({"lead_id": "s1", "data": {"email": "s1@example.com", "segment": "smb"}})
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "no_journey"
    assert "enterprise-journey" in problem["detail"]
    assert all(not api.engine.leads(p) for p in api.engine.processes())


def test_an_idempotency_key_replays_the_first_answer(api: Api) -> None:
    """The same key and body answer as the first time; the lead starts once."""
    body = {"lead_id": "h2", "data": {"email": "h2@example.com", "segment": "enterprise"}}
    first = api.start(body, **{"Idempotency-Key": "lead-h2"})
    again = api.start(body, **{"Idempotency-Key": "lead-h2"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert len(api.engine.history("enterprise-journey", "h2")) == 1
    duplicate = api.start(body)
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "duplicate_lead"


def test_access_rules_apply(api: Api) -> None:
    """A viewer may read the journeys but not start a lead through them."""
    body = {"lead_id": "h3", "data": {"email": "h3@example.com", "segment": "enterprise"}}
    response = api.http.post("/api/v1/leads", json=body, headers=api.as_(api.viewer))
    assert response.status_code == 403
    assert response.json()["code"] == "access_denied"


def test_get_journeys_lists_the_rules_for_any_token(api: Api) -> None:
    """Any valid token reads the rules in order; no token is a 401."""
    response = api.http.get("/api/v1/journeys", headers=api.as_(api.viewer))
    assert response.status_code == 200
    assert response.json() == {
        "journeys": [
            {"when": 'lead.segment == "enterprise"', "process": "enterprise-journey"},
            {"when": 'lead.segment == "mid_market"', "process": "mid-market-journey"},
        ]
    }
    assert api.http.get("/api/v1/journeys").status_code == 401
