"""Reports for a role never use the fields the role may not read (``access: ... hidden``): in
the Python API (``hidden=``) and over HTTP, where the caller's role decides."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from live_server import Served

from leadflow.definitions import load_definition
from leadflow.engine import Engine, reports
from leadflow.engine.store import TokenStore
from leadflow.service import create_app

PROCESS = "partner-leads"
SOURCE = Path(__file__).parents[2] / "definitions" / "access" / "partner-leads.yaml"
TEXT = SOURCE.read_text(encoding="utf-8").replace(
    "  sharing:", "    manager: {hidden: [amount, lost_reason]}\n  sharing:"
)
HIDDEN = frozenset({"amount", "lost_reason"})


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """Two leads worth 1234 and 5678, the second lost to a competitor."""
    with Engine(f"sqlite:///{tmp_path / 'lf.db'}") as built:
        built.deploy(load_definition(TEXT, file="p.yaml"))
        built.start(PROCESS, "a", {"amount": 1234, "segment": "smb"}, owner="x")
        built.start(PROCESS, "b", {"amount": 5678}, owner="y")
        built.fire(PROCESS, "b", "lose", {"lost_reason": "competitor"})
        yield built


def test_reports_given_hidden_fields_leave_their_values_out(engine: Engine) -> None:
    """A hidden value field is not the default value field, a hidden loss field is not read;
    without ``hidden`` the same reports show both."""
    shown = [
        reports.pipeline(engine, PROCESS).as_dict(),
        reports.loss_reasons(engine, PROCESS).as_dict(),
        reports.owners(engine, PROCESS).as_dict(),
    ]
    assert "1234" in str(shown)
    assert "competitor" in str(shown)
    kept = [
        reports.pipeline(engine, PROCESS, hidden=HIDDEN).as_dict(),
        reports.loss_reasons(engine, PROCESS, hidden=HIDDEN).as_dict(),
        reports.owners(engine, PROCESS, hidden=HIDDEN).as_dict(),
        reports.stuck(engine, PROCESS, hidden=HIDDEN).as_dict(),
        reports.forecast(engine, PROCESS, hidden=HIDDEN).as_dict(),
    ]
    text = str(kept)
    for secret in ("1234", "5678", "competitor"):
        assert secret not in text
    assert kept[0]["value_field"] is None
    assert kept[1]["loss_field"] is None
    with pytest.raises(reports.ReportError, match="'amount' is a field you may not read"):
        reports.pipeline(engine, PROCESS, value_field="amount", hidden=HIDDEN)


def test_http_reports_follow_the_callers_hidden_fields(engine: Engine) -> None:
    """A manager whose role hides amount and lost_reason gets reports without them, and is
    refused (403, naming the rule) when it asks for amount as the value field; an admin sees
    them."""
    tokens = TokenStore(engine.store)
    manager, _ = tokens.create("m", "manager", team="emea", at=datetime.now(UTC))
    admin, _ = tokens.create("a", "admin", at=datetime.now(UTC))
    with Served(create_app(engine)) as served, httpx.Client(base_url=served.url) as http:

        def get(name: str, token: str, **params: str) -> httpx.Response:
            return http.get(
                f"/api/v1/reports/{name}",
                params={"process": PROCESS, **params},
                headers={"Authorization": f"Bearer {token}"},
            )

        for name in ("pipeline", "losses", "owners", "forecast", "stuck"):
            answer = get(name, manager)
            assert answer.status_code == 200, answer.text
            assert "1234" not in answer.text, name
            assert "competitor" not in answer.text, name
        assert "competitor" in get("losses", admin).text
        assert "1234" in get("pipeline", admin).text
        refused = get("pipeline", manager, value_field="amount")
    assert refused.status_code == 403
    assert refused.json()["code"] == "access_denied"
    assert refused.json()["rule"] == "access:roles.manager.hidden"
