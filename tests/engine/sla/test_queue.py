"""The live queue: active SLA clocks of open leads, the next breach first, in the Python API,
``leadflow report queue`` and ``GET /api/v1/processes/{process}/queue`` (what the caller may
read only)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from live_server import Served
from typer.testing import CliRunner

from leadflow.cli import app
from leadflow.engine import Engine
from leadflow.engine.store import TokenStore
from leadflow.service import create_app

CLOCKS = Path(__file__).parents[2] / "definitions" / "sla" / "clocks.yaml"
P = "sla-clocks"


class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        return self.at


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """Three leads started a minute apart (the respond SLA: 1 business hour), one called."""
    clock = Clock()
    with Engine(db_url, clock=clock, create=True) as e:
        e.deploy(CLOCKS)
        for n, owner in enumerate(("ann", "bob", "ann")):
            e.start(P, f"L{n}", owner=owner, at=clock.at + timedelta(minutes=n))
        e.record(P, "L1", "call")  # fulfils bob's respond clock
        yield e


def test_the_queue_lists_running_clocks_the_next_breach_first(engine: Engine) -> None:
    """Only running or paused clocks, soonest due first; filters by owner, team and SLA; an
    unknown team or SLA is a ValueError naming the ones there are."""
    items = engine.sla_queue(P, policy="respond")
    assert [(q.lead_id, q.owner) for q in items] == [("L0", "ann"), ("L2", "ann")]
    assert items[0].due_at is not None
    assert items[1].due_at is not None
    assert items[0].due_at <= items[1].due_at
    assert [q.lead_id for q in engine.sla_queue(P, owners={"bob"}, policy="respond")] == []
    assert {q.lead_id for q in engine.sla_queue(P, team="reps")} >= {"L0", "L2"}
    with pytest.raises(ValueError, match=r"no team 'nobody'.*teams: reps"):
        engine.sla_queue(P, team="nobody")
    with pytest.raises(ValueError, match="no SLA 'fast'"):
        engine.sla_queue(P, policy="fast")


def test_the_cli_and_the_http_api_serve_it_within_the_callers_scope(
    engine: Engine, db_url: str
) -> None:
    """``leadflow report queue --format json``; over HTTP a rep sees only their own leads, the
    board role no lead at all."""
    shown = CliRunner().invoke(
        app, ["report", "queue", "--db", db_url, "-p", P, "--sla", "respond", "--format", "json"]
    )
    assert shown.exit_code == 0, shown.output
    assert [q["lead_id"] for q in json.loads(shown.stdout)] == ["L0", "L2"]
    tokens = TokenStore(engine.store)
    now = datetime.now(UTC)
    bob, _ = tokens.create("b", "rep", owner="bob", team="reps", at=now)
    admin, _ = tokens.create("a", "admin", at=now)
    board, _ = tokens.create("w", "board", at=now)
    with Served(create_app(engine)) as served, httpx.Client(base_url=served.url) as http:

        def get(token: str) -> httpx.Response:
            return http.get(
                f"/api/v1/processes/{P}/queue",
                params={"policy": "respond"},
                headers={"Authorization": f"Bearer {token}"},
            )

        assert [q["lead_id"] for q in get(admin).json()] == ["L0", "L2"]
        assert get(bob).json() == []
        assert get(board).status_code == 403
