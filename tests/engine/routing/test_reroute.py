"""``reroute:`` rules: a lead is routed again when named fields change (a rescore), with the
reason in history; a lead whose team still fits keeps its owner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from leadflow.definitions import DefinitionError, load_definition
from leadflow.engine import Engine

RESCORE = Path(__file__).parents[2] / "definitions" / "auto" / "reroute.yaml"
P = "rescore"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    with Engine(db_url, create=True) as e:
        e.deploy(RESCORE)
        yield e


def test_a_rescore_routes_the_lead_again_and_says_why(engine: Engine) -> None:
    """A field lead rescored to 90 goes to the inside team; the history says which field
    changed and the routing decision; the outbox carries the assignment."""
    assert engine.start(P, "l1", {"score": 30}).owner == "fay"
    lead = engine.update(P, "l1", {"score": 90})
    assert lead.owner in ("ana", "ben")
    last = engine.history(P, "l1")[-1]
    assert (last.kind, last.actor) == ("assigned", "rule:reroute")
    assert last.details["previous_owner"] == "fay"
    assert last.details["reason"].startswith("rerouted: score changed; ")
    assert "inside" in last.details["reason"]


def test_no_reroute_when_the_team_still_fits_or_another_field_changed(engine: Engine) -> None:
    """A rescore that keeps the lead in its owner's team, a change of another field, and a
    closed lead's rescore leave the owner as it is."""
    owner = engine.start(P, "l2", {"score": 85}).owner
    assert engine.update(P, "l2", {"score": 95}).owner == owner
    assert engine.update(P, "l2", {"note": "called back"}).owner == owner
    engine.fire(P, "l2", "lose", {"lost_reason": "no_fit"})
    assert engine.update(P, "l2", {"score": 10}).owner == owner
    assert [h.kind for h in engine.history(P, "l2")].count("assigned") == 0


def test_fire_with_data_and_batches_reroute_too(engine: Engine) -> None:
    """A fire whose data changes the score reroutes (fire_many as fire)."""
    engine.start(P, "l3", {"score": 20})
    engine.start(P, "l4", {"score": 20})
    assert engine.fire(P, "l3", "work", {"score": 99}).owner in ("ana", "ben")
    result = engine.fire_many(P, [{"lead_id": "l4", "trigger": "work", "data": {"score": 99}}])
    assert result.succeeded[0].owner in ("ana", "ben")
    assert engine.get(P, "l4").owner == result.succeeded[0].owner


def test_reroute_rules_are_checked_on_load() -> None:
    """Unknown fields and stages are located errors with did-you-mean; a reroute rule without
    routing rules is refused."""
    text = RESCORE.read_text(encoding="utf-8")
    bad = text.replace("on: [score]", "on: [scroe]").replace("[new, working]", "[new, wrking]")
    with pytest.raises(DefinitionError) as refused:
        load_definition(bad, file="r.yaml")
    messages = [p.message for p in refused.value.problems]
    assert any("unknown field 'scroe'" in m and "score" in m for m in messages)
    assert any("'wrking' is not an open stage" in m and "working" in m for m in messages)
    alone = (
        text.split("teams:")[0]
        + "reroute:\n  - on: [score]\n"
        + text.split("reroute:\n  - on: [score]\n")[1]
    )
    with pytest.raises(DefinitionError, match="rerouted by the routing rules, but there are none"):
        load_definition(alone, file="r.yaml")
