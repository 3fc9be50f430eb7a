"""Canary starts: a deterministic share of new leads starts on a chosen version, the rest on the
newest other version; start and start_many agree, retries pick the same version, bad input
changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from leadflow.cli._migrate import canary_app, migrate
from leadflow.engine import Engine, UnknownProcess
from leadflow.engine._canary import bucket
from leadflow.engine.migration import (
    InvalidCanary,
    canary,
    clear_canary,
    set_canary,
)
from leadflow.engine.testing import ManualClock

HERE = Path(__file__).parents[2] / "definitions"
V1 = HERE / "reference.yaml"
V2 = HERE / "runtime" / "inbound-lead-v2.yaml"
P = "inbound-lead"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    with Engine(db_url, clock=ManualClock(), create=True) as e:
        e.deploy(V1)
        e.deploy(V2)
        yield e


def test_without_a_canary_new_leads_start_on_the_latest_version(engine: Engine) -> None:
    """No canary row: every new lead starts on the newest deployed version."""
    assert canary(engine, P) is None
    assert {engine.start(P, f"L{i}", {"email": "a@b.c"}).definition_version for i in range(20)} == {
        2
    }


def test_a_canary_starts_its_share_on_its_version_and_the_rest_on_the_other(
    engine: Engine,
) -> None:
    """With a 30% canary on v1 (an older version: a rollback canary), the leads whose hash falls
    under 0.3 start on v1 and all others on v2, the newest other version; about 30% overall."""
    set_canary(engine, P, 1, 0.3)
    versions = {
        lead: engine.start(P, lead, {"email": "a@b.c"}).definition_version
        for lead in (f"lead-{i}" for i in range(400))
    }
    for lead, version in versions.items():
        assert version == (1 if bucket(P, lead) < 0.3 else 2)
    share = sum(v == 1 for v in versions.values()) / len(versions)
    assert 0.22 < share < 0.38


def test_start_many_picks_the_same_version_per_lead_as_start(engine: Engine) -> None:
    """start_many chooses per lead, exactly as start would for the same lead id."""
    set_canary(engine, P, 2, 0.5)
    leads = [f"batch-{i}" for i in range(200)]
    result = engine.start_many(P, [(lead, {"email": "a@b.c"}) for lead in leads])
    assert result.ok
    for instance in result.succeeded:
        expected = 2 if bucket(P, instance.lead_id) < 0.5 else 1
        assert instance.definition_version == expected
    assert {i.definition_version for i in result.succeeded} == {1, 2}


def test_a_retried_start_picks_the_same_version(engine: Engine) -> None:
    """The choice depends only on the process and the lead id: a start that failed on bad data
    and is retried lands on the version the first attempt chose."""
    set_canary(engine, P, 1, 0.5)
    for i in range(40):
        lead = f"retry-{i}"
        with pytest.raises(Exception, match="email"):
            engine.start(P, lead, {})
        first = engine.start(P, lead, {"email": "a@b.c"}).definition_version
        assert first == (1 if bucket(P, lead) < 0.5 else 2)


def test_share_one_starts_everyone_on_the_canary_and_clear_restores_latest(
    engine: Engine,
) -> None:
    """A share of 1 sends every new lead to the canary version; clearing it returns to latest."""
    set_canary(engine, P, 1, 1.0)
    assert {engine.start(P, f"A{i}", {"email": "a@b.c"}).definition_version for i in range(20)} == {
        1
    }
    assert clear_canary(engine, P) is True
    assert clear_canary(engine, P) is False
    assert engine.start(P, "after", {"email": "a@b.c"}).definition_version == 2


def test_set_replaces_and_show_reads_back(engine: Engine) -> None:
    """Setting a canary again replaces it; canary() returns the stored version, share and time."""
    set_canary(engine, P, 1, 0.1)
    now = engine.clock.now()
    found = set_canary(engine, P, 2, 0.25)
    read = canary(engine, P)
    assert read == found
    assert (read.version, read.share, read.set_at) == (2, 0.25, now)


def test_a_canary_on_the_only_version_starts_everyone_there(db_url: str) -> None:
    """When the canary's version is the only one deployed, the rest also start on it."""
    with Engine(db_url, create=True) as e:
        e.deploy(V1)
        set_canary(e, P, 1, 0.1)
        assert {e.start(P, f"x{i}", {"email": "a@b.c"}).definition_version for i in range(10)} == {
            1
        }


@pytest.mark.parametrize("share", [0, -0.1, 1.5, float("nan"), float("inf"), True, "0.1", None])
def test_a_share_outside_zero_to_one_is_refused(engine: Engine, share: object) -> None:
    """A share that is not a number in (0, 1] is refused with a message saying what is allowed,
    and the canary stays as it was."""
    set_canary(engine, P, 1, 0.5)
    with pytest.raises(InvalidCanary, match=r"share must be a number in \(0, 1\]") as info:
        set_canary(engine, P, 2, share)  # type: ignore[arg-type]
    assert info.value.code == "invalid-canary"
    stored = canary(engine, P)
    assert stored is not None
    assert (stored.version, stored.share) == (1, 0.5)


def test_a_version_that_is_not_deployed_is_refused(engine: Engine) -> None:
    """A canary on an undeployed version raises UnknownProcess and stores nothing."""
    with pytest.raises(UnknownProcess, match="version 7 is not deployed"):
        set_canary(engine, P, 7, 0.5)
    with pytest.raises(UnknownProcess):
        set_canary(engine, "no-such-process", 1, 0.5)
    assert canary(engine, P) is None


@settings(max_examples=200, deadline=None)
@given(lead=st.text(min_size=1, max_size=40), low=st.floats(0.01, 1.0), high=st.floats(0.01, 1.0))
def test_raising_the_share_only_moves_leads_to_the_canary(
    lead: str, low: float, high: float
) -> None:
    """The bucket is in [0, 1) and fixed per lead, so a lead on the canary at a share stays on it
    at every larger share."""
    b = bucket(P, lead)
    assert 0 <= b < 1
    assert b == bucket(P, lead)
    small, large = sorted((low, high))
    assert not (b < small) or b < large


# -- CLI ---------------------------------------------------------------------------------------


def cli() -> typer.Typer:
    """The canary sub-app as cli/_app.py registers it."""
    app = typer.Typer(pretty_exceptions_enable=False)
    app.add_typer(canary_app, name="canary")
    app.command()(migrate)
    return app


@pytest.fixture
def cli_db(sqlite_url: str) -> str:
    with Engine(sqlite_url) as e:
        e.deploy(V1)
        e.deploy(V2)
    return sqlite_url


def test_cli_set_show_clear(cli_db: str) -> None:
    """`canary set` stores the canary, `show` describes who starts where, `clear` removes it."""
    runner = CliRunner()
    done = runner.invoke(cli(), ["canary", "set", P, "1", "--share", "0.1", "--db", cli_db])
    assert done.exit_code == 0, done.output
    assert "10% of new inbound-lead leads start on v1" in done.stdout
    shown = runner.invoke(cli(), ["canary", "show", P, "--db", cli_db])
    assert "inbound-lead: 10% of new leads start on v1, the rest on v2" in shown.stdout
    as_json = runner.invoke(cli(), ["canary", "show", P, "--json", "--db", cli_db])
    assert json.loads(as_json.stdout)["canary"]["share"] == 0.1
    cleared = runner.invoke(cli(), ["canary", "clear", P, "--db", cli_db])
    assert "canary of inbound-lead cleared" in cleared.stdout
    shown = runner.invoke(cli(), ["canary", "show", P, "--db", cli_db])
    assert "no canary; new leads start on v2 (the newest)" in shown.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", P, "1", "--share", "0"], "share must be a number in (0, 1]"),
        (["set", P, "9", "--share", "0.5"], "version 9 is not deployed"),
        (["show", "nope"], "process 'nope' is not deployed"),
    ],
)
def test_cli_bad_input_is_one_error_line(cli_db: str, args: list[str], message: str) -> None:
    """A share out of range, an undeployed version or process: one `error:` line, exit 1."""
    result = CliRunner().invoke(cli(), ["canary", *args, "--db", cli_db])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert message in lines[0]
