"""Why a lead went where it did: the routing reason in the start's history, the rule matched and
the members skipped, through the Python API, the CLI's history and the batch start."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadflow.cli import app
from leadflow.engine import Engine
from leadflow.engine.routing import RoutingStore, set_away
from leadflow.engine.routing._router import Router
from leadflow.engine.testing import ManualClock

DESKS = Path(__file__).parents[2] / "definitions" / "routing" / "desks.yaml"
P = "desks"
MON = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The desks process on SQLite, then PostgreSQL, on a manual clock."""
    with Engine(db_url, clock=ManualClock(MON), create=True) as e:
        e.deploy(DESKS)
        yield e


def test_a_routed_start_keeps_the_routing_reason_in_its_history(engine: Engine) -> None:
    """The started entry of a routed lead says why it got its owner; a given owner says nothing."""
    engine.start(P, "e1", {"email": "e1@x.test", "segment": "enterprise"})
    engine.start(P, "e2", {"email": "e2@x.test"}, owner="sam")
    first = engine.history(P, "e1")[0]
    assert first.kind == "started"
    assert first.details["owner"] == "erin"
    assert first.details["reason"] == "round robin in enterprise (routing rule 2)"
    assert "reason" not in engine.history(P, "e2")[0].details


def test_a_queued_start_says_why_nobody_took_it(engine: Engine) -> None:
    """With the whole team away the start's reason names every member and why."""
    for rep in ("erin", "frank", "grace"):
        set_away(engine.store, rep, MON, MON + timedelta(days=1))
    engine.start(P, "e1", {"email": "e1@x.test", "segment": "enterprise"})
    reason = engine.history(P, "e1")[0].details["reason"]
    assert reason == "everyone in enterprise out of office: queued (routing rule 2)"


def test_batch_starts_keep_the_reason_too(engine: Engine) -> None:
    """start_many routes each lead and records the reason of each."""
    engine.start_many(
        P, [{"lead_id": f"s{i}", "data": {"email": f"s{i}@x.test"}} for i in range(2)]
    )
    reasons = [engine.history(P, f"s{i}")[0].details["reason"] for i in range(2)]
    assert reasons == ["weighted round robin in smb (routing rule 4)"] * 2


def test_the_decision_names_the_rule_and_the_members_skipped(engine: Engine) -> None:
    """frank away: the decision for the next lead skips him, with why, by rule 2."""
    engine.start(P, "e0", {"email": "e0@x.test", "segment": "enterprise"})  # erin's turn
    set_away(engine.store, "frank", MON, MON + timedelta(days=1))
    router = Router(engine.definition(P))
    with engine.store.transaction("route") as tx:
        decision = router.route(RoutingStore.of(tx), None, {"segment": "enterprise"}, MON)
    assert (decision.owner, decision.rule) == ("grace", 2)
    assert decision.skipped == (("frank", "out of office"),)


def test_history_on_the_command_line_shows_why(engine: Engine, db_url: str) -> None:
    """`leadflow history` prints the owner and the routing reason of the start."""
    engine.start(P, "e1", {"email": "e1@x.test", "segment": "enterprise"})
    out = CliRunner().invoke(app, ["history", P, "e1", "--db", db_url], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "owner erin" in out.output
    assert "why: round robin in enterprise (routing rule 2)" in out.output
