"""Target matrix on simulated time: the first matching rule gives a clock its target when it
starts, the history records the rule, the board has a row per rule."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from leadflow.definitions import DefinitionError, load_definition
from leadflow.engine import Engine
from leadflow.engine.reports import sla_board
from leadflow.engine.testing import ManualClock

MATRIX = Path(__file__).parents[2] / "definitions" / "sla" / "matrix.yaml"
P = "sla-matrix"
MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # the office opens


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY)


@pytest.fixture
def engine(sqlite_url: str, clock: ManualClock) -> Iterator[Engine]:
    with Engine(sqlite_url, clock=clock, create=True) as e:
        e.deploy(MATRIX)
        yield e


def fired(engine: Engine, lead: str, policy: str = "respond") -> list[tuple[str, datetime]]:
    """(event, time) of the fired marks of one policy."""
    return [
        (h.details["sla"][0]["event"], h.at)
        for h in engine.history(P, lead)
        if h.kind == "sla" and h.details["sla"][0]["policy"] == policy
    ]


def started(engine: Engine, lead: str, policy: str = "respond") -> list[dict[str, Any]]:
    return [
        e
        for h in engine.history(P, lead)
        for e in h.details.get("sla", ())
        if e["policy"] == policy and e["event"] in ("started", "restarted")
    ]


def test_the_first_matching_rule_sets_the_target_and_its_ladder(
    engine: Engine, clock: ManualClock
) -> None:
    """Enterprise breaches after 5 business minutes, a hot lead after 30, smb after an hour,
    the rest after the default 4 hours; the 50% warning follows each target."""
    engine.start(P, "ent", {"segment": "enterprise", "score": 95})  # both match: order wins
    engine.start(P, "hot", {"score": 90})
    engine.start(P, "smb", {"segment": "startup"})
    engine.start(P, "other", {"score": 10})
    clock.advance(timedelta(hours=5))
    assert fired(engine, "ent") == [
        ("warned", MONDAY + timedelta(minutes=2, seconds=30)),
        ("breached", MONDAY + timedelta(minutes=5)),
    ]
    assert fired(engine, "hot")[-1] == ("breached", MONDAY + timedelta(minutes=30))
    assert fired(engine, "smb") == [
        ("warned", MONDAY + timedelta(minutes=30)),
        ("breached", MONDAY + timedelta(hours=1)),
    ]
    assert fired(engine, "other")[-1] == ("breached", MONDAY + timedelta(hours=4))
    assert [
        e.get("rule") for lead in ("ent", "hot", "smb", "other") for e in started(engine, lead)
    ] == [
        "enterprise",
        "hot",
        "smb",
        "default",
    ]
    assert started(engine, "ent")[0]["target"] == "5m business"
    marks = [
        h.details["sla"][0]
        for h in engine.history(P, "ent")
        if h.kind == "sla" and h.details["sla"][0]["policy"] == "respond"
    ]
    assert marks[-1]["target"] == 300.0


def test_the_target_is_kept_when_the_lead_changes_mid_clock(
    engine: Engine, clock: ManualClock
) -> None:
    """A lead upgraded to enterprise after its clock started keeps the smb hour."""
    engine.start(P, "L", {"segment": "smb"})
    clock.advance(timedelta(minutes=10))
    engine.update(P, "L", {"segment": "enterprise"})
    clock.advance(timedelta(hours=2))
    assert fired(engine, "L")[-1] == ("breached", MONDAY + timedelta(hours=1))
    status = {s.policy: s for s in engine.slas(P, "L")}
    assert (status["respond"].target_seconds, status["respond"].rule) == (3600, "smb")
    assert status["respond"].as_dict()["rule"] == "smb"


def test_calendar_matrix_and_no_default(engine: Engine, clock: ManualClock) -> None:
    """A matrix in calendar time works the same; an SLA without a default gives a lead that
    matches no rule no clock at all."""
    engine.start(P, "ent", {"segment": "enterprise"})
    engine.start(P, "smb", {"segment": "smb"})
    clock.advance(timedelta(hours=3))
    assert fired(engine, "ent", "strict")[-1] == ("breached", MONDAY + timedelta(minutes=10))
    assert fired(engine, "smb", "strict")[-1] == ("breached", MONDAY + timedelta(hours=1))
    assert fired(engine, "ent", "vip_only")[-1] == ("breached", MONDAY + timedelta(hours=2))
    assert started(engine, "smb", "vip_only") == []
    assert "vip_only" not in {s.policy for s in engine.slas(P, "smb")}


def test_the_board_has_a_row_per_target_rule(engine: Engine, clock: ManualClock) -> None:
    """Met and breached clocks are counted on the row of the rule they started under."""
    engine.start(P, "e1", {"segment": "enterprise"}, owner="ann")
    engine.start(P, "e2", {"segment": "enterprise"}, owner="ann")
    engine.start(P, "s1", {"segment": "smb"}, owner="ann")
    clock.advance(timedelta(minutes=3))
    engine.record(P, "e1", "call")
    engine.record(P, "s1", "call")
    clock.advance(timedelta(minutes=10))
    rows = {(r.policy, r.target): r for r in sla_board(engine, P).rows if r.owner == "ann"}
    assert (rows[("respond", "enterprise")].met, rows[("respond", "enterprise")].breached) == (
        1,
        1,
    )
    assert rows[("respond", "smb")].met == 1
    assert rows[("respond", "smb")].median_response == 180.0
    assert ("respond", "default") not in rows
    assert rows[("strict", "default")].pending == 1


def test_a_matrix_that_cannot_work_is_refused_with_its_position() -> None:
    """Mixed kinds of time, a rule named default, an unknown field and a wrong value are load
    errors naming the file, line and what is allowed."""
    text = MATRIX.read_text(encoding="utf-8")
    bad = text.replace("target: 30m business}", "target: 30m}").replace(
        "match: {segment: [smb, startup]}", "match: {segmnt: [smb, startup]}"
    )
    with pytest.raises(DefinitionError) as info:
        load_definition(bad, file="matrix.yaml")
    shown = "\n".join(str(p) for p in info.value.problems)
    assert "every target of one SLA counts the same kind of time" in shown
    assert "matrix.yaml:" in shown
    none = text.replace("    target: 1h\n    targets:", "    targets:").replace(
        "{name: enterprise, match: {segment: enterprise}, target: 10m}",
        "{name: default, match: {segment: big}, target: 10m}",
    )
    with pytest.raises(DefinitionError) as info:
        load_definition(none, file="matrix.yaml")
    shown = "\n".join(str(p) for p in info.value.problems)
    assert "'default' names the SLA's own target" in shown


@pytest.mark.parametrize("policy", ["keep", "recompute", "restart"])
def test_a_live_migration_keeps_a_clocks_rule_by_name(
    engine: Engine, clock: ManualClock, policy: str
) -> None:
    """Migrated to a version whose rules are reordered and whose enterprise target is 10
    business minutes, an enterprise clock keeps its rule by name, under the new target: keep
    holds the old deadline, recompute moves it, restart counts from the migration."""
    from leadflow.engine.migration import apply_migration

    engine.start(P, "ent", {"segment": "enterprise"})
    clock.advance(timedelta(minutes=1))
    text = MATRIX.read_text(encoding="utf-8").replace("version: 1", "version: 2")
    enterprise = "      - {name: enterprise, match: {segment: enterprise}, target: 5m business}\n"
    smb = "      - {name: smb, match: {segment: [smb, startup]}, target: 1h business}\n"
    text = text.replace(enterprise, "").replace(smb, smb + enterprise.replace("5m", "10m"))
    engine.deploy(load_definition(text))
    apply_migration(engine, P, 2, sla_policy=policy)
    status = {s.policy: s for s in engine.slas(P, "ent")}
    assert status["respond"].target_seconds == 600
    clock.advance(timedelta(minutes=30))
    breach = [t for e, t in fired(engine, "ent") if e == "breached"]
    minutes = {"keep": 5, "recompute": 10, "restart": 11}[policy]
    assert breach == [MONDAY + timedelta(minutes=minutes)]
