"""The routing dry run: where each lead of a file would go under a definition, and why, against
a database's team state (loads, away periods, rotation, owed turns), writing nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from leadflow.definitions import load_definition
from leadflow.engine import Engine
from leadflow.engine.routing import LeadFileError, dry_run, read_leads, set_away
from leadflow.engine.store.tables import metadata
from leadflow.engine.testing import ManualClock

HERE = Path(__file__).parents[2] / "definitions" / "routing"
DESKS = load_definition(HERE / "desks.yaml")
CATCH_UP = HERE / "catch-up.yaml"
MON = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The desks process on SQLite, then PostgreSQL, with live leads and an away period."""
    with Engine(db_url, clock=ManualClock(MON), create=True) as e:
        e.deploy(DESKS)
        for i in range(2):  # hank is full (capacity 2 in hot), erin's turn is taken
            e.start("desks", f"h{i}", {"email": f"h{i}@x.test"}, owner="hank")
        e.start("desks", "e0", {"email": "e0@x.test", "segment": "enterprise"})
        set_away(e.store, "frank", MON - timedelta(days=1), MON + timedelta(days=1), "vacation")
        yield e


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every leadflow table."""
    out = {}
    with engine.store.transaction("snapshot") as tx:
        for table in metadata.sorted_tables:
            tx.cur.execute(f"SELECT * FROM {table.name}")
            out[table.name] = sorted(map(tuple, tx.cur.fetchall()), key=repr)
    return out


def write_csv(path: Path, *rows: str) -> Path:
    path.write_text("lead_id,email,score,segment,source\n" + "".join(r + "\n" for r in rows))
    return path


def test_the_dry_run_follows_the_live_team_state_and_changes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    """hank full, frank away, erin's turn taken: the dry run says so lead by lead, each lead
    counting for the next, and every table is as it was afterwards."""
    leads = write_csv(
        tmp_path / "leads.csv",
        "n1,n1@x.test,95,,web",
        "n2,n2@x.test,95,,web",
        "n3,n3@x.test,95,,web",
        "n4,n4@x.test,,enterprise,fair",
        "n5,n5@x.test,,enterprise,fair",
    )
    before = snapshot(engine)
    got = dry_run(engine.store, DESKS, read_leads(leads, DESKS), MON)
    assert [(r.lead_id, r.rule, r.team, r.owner) for r in got] == [
        ("n1", 1, "hot", "ivy"),
        ("n2", 1, "hot", "jack"),
        ("n3", 1, "hot", "ivy"),
        ("n4", 2, "enterprise", "grace"),
        ("n5", 2, "enterprise", "erin"),
    ]
    assert got[0].skipped == (("hank", "at capacity"),)
    assert got[3].skipped == (("frank", "out of office"),)
    assert got[3].reason == "round robin in enterprise (routing rule 2)"
    assert snapshot(engine) == before
    assert engine.start("desks", "n4", {"email": "n4@x.test", "segment": "enterprise"}).owner == (
        "grace"
    )


def test_a_rule_change_is_tried_before_it_is_deployed(engine: Engine, tmp_path: Path) -> None:
    """A new version sending enterprise leads to smb is tried on the live state, undeployed."""
    text = (HERE / "desks.yaml").read_text().replace("version: 1", "version: 2")
    tried = load_definition(
        text.replace(
            'lead.segment == "enterprise"\', team: enterprise',
            'lead.segment == "enterprise"\', team: smb',
        )
    )
    leads = write_csv(tmp_path / "leads.csv", "n1,n1@x.test,,enterprise,web")
    [route] = dry_run(engine.store, tried, read_leads(leads, tried), MON)
    assert (route.team, route.owner, route.rule) == ("smb", "alice", 2)
    assert engine.definition("desks").version == 1


def test_json_lines_and_leads_without_ids(tmp_path: Path) -> None:
    """JSON lines keep their types; a row without an id is named by its line."""
    path = tmp_path / "leads.jsonl"
    path.write_text(
        '{"lead_id": "j1", "email": "j1@x.test", "score": 91}\n\n{"email": "j2@x.test"}\n'
    )
    assert read_leads(path, DESKS) == [
        ("j1", {"email": "j1@x.test", "score": 91}),
        ("line 3", {"email": "j2@x.test"}),
    ]


def test_bad_values_are_listed_with_file_and_line(tmp_path: Path) -> None:
    """Every bad cell is named (file:line, field, why) in one error; nothing is routed."""
    leads = write_csv(tmp_path / "leads.csv", "n1,n1@x.test,high,,", "n2,,50,gold,")
    with pytest.raises(LeadFileError) as caught:
        read_leads(leads, DESKS)
    text = str(caught.value)
    assert "3 bad values" in text
    assert f"{leads}:2: 'high' is not an integer (field score)" in text
    assert f"{leads}:3: segment:" in text
    assert f"{leads}:3: email:" in text
    assert "allowed: email (string), score (integer)" in text


def test_a_fraction_in_an_integer_field_is_refused_as_the_replay_refuses_it(
    tmp_path: Path,
) -> None:
    """The dry run reads cells as the replay does: 3.5 for an integer field is a bad value,
    not a score of 3."""
    leads = write_csv(tmp_path / "leads.csv", "f1,f1@x.test,3.5,,", "f2,f2@x.test,90,,")
    with pytest.raises(LeadFileError) as caught:
        read_leads(leads, DESKS)
    assert f"{leads}:2: '3.5' is not an integer (field score)" in str(caught.value)


def test_an_unreadable_file_is_a_lead_file_error(tmp_path: Path) -> None:
    """A missing file or a JSON line that is not an object is reported, not raised raw."""
    with pytest.raises(LeadFileError, match=r"cannot read .*missing\.csv"):
        read_leads(tmp_path / "missing.csv", DESKS)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("[1, 2]\n")
    with pytest.raises(LeadFileError, match="line 1 is not a JSON object"):
        read_leads(bad, DESKS)


def test_owed_catch_up_turns_show_in_the_dry_run(db_url: str, tmp_path: Path) -> None:
    """ben, owed turns after an absence, is shown taking the next leads; the turns stay owed."""
    clock = ManualClock(MON)
    with Engine(db_url, clock=clock, create=True) as engine:
        engine.deploy(CATCH_UP)
        set_away(engine.store, "ben", MON, MON + timedelta(hours=4, minutes=30))
        for i in range(4):
            clock.advance(timedelta(hours=1))
            engine.start("catchup", f"a{i}", {"email": f"a{i}@x.test"})
        definition = engine.definition("catchup")
        path = tmp_path / "leads.jsonl"
        path.write_text(
            "".join(f'{{"lead_id": "n{i}", "email": "n{i}@x.test"}}\n' for i in range(3))
        )
        before = snapshot(engine)
        later = MON + timedelta(hours=5)
        got = dry_run(engine.store, definition, read_leads(path, definition), later)
        assert [r.owner for r in got] == ["ben", "ben", "ana"]
        assert got[0].reason.startswith("catch-up turn in fair (1 turn still owed to ben)")
        assert snapshot(engine) == before
