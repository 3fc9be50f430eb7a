"""A --map that moves leads forward checks what it skips: a lead that could not have fired its
way there (never called, no budget) is blocked as ``skips_criteria`` and listed by the dry run;
one that meets every skipped criterion moves (``new=qualified`` used to move leads never
called, and ``win`` then closed one as won with no call)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from leadflow.cli._migrate import migrate
from leadflow.engine import Engine
from leadflow.engine.migration import BLOCKED, InvalidMigration, apply_migration, plan_migration
from leadflow.engine.testing import ManualClock

REFERENCE = Path(__file__).parents[2] / "definitions" / "reference.yaml"
P = "inbound-lead"
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """v1 and v2 (the same process, renumbered) deployed; L-cold never called, L-ready with
    everything qualifying needs, both in ``new`` on v1."""
    text = REFERENCE.read_text(encoding="utf-8")
    with Engine(f"sqlite:///{tmp_path}/m.db", clock=ManualClock(T0)) as eng:
        eng.deploy(text)
        eng.start(P, "L-cold", {"email": "c@x.io"})
        eng.start(P, "L-ready", {"email": "r@x.io", "budget": 5000, "score": 80})
        eng.update(P, "L-ready", {"decision_maker": "Ann"})
        eng.record(P, "L-ready", "call")
        eng.deploy(text.replace("version: 1", "version: 2", 1))
        yield eng


def test_a_forward_mapping_blocks_leads_that_skip_unmet_criteria(engine: Engine) -> None:
    """``new=qualified``: the never-called lead is blocked naming the unmet criteria of the
    way (the call of ``contact``, the budget to leave ``contacted``, ``qualify``'s guard)."""
    assert "skips_criteria" in BLOCKED
    plan = plan_migration(engine, P, 2, {"new": "qualified"})
    assert plan.counts["skips_criteria"] == 1
    assert plan.counts["mapped"] == 1
    (cold,) = plan.examples["skips_criteria"]
    assert cold.lead_id == "L-cold"
    assert {c.id for c in cold.criteria} >= {"called", "budget_known", "dm_known"}
    result = apply_migration(engine, P, 2, {"new": "qualified"})
    assert result.counts["skips_criteria"] == 1
    assert engine.get(P, "L-cold").stage == "new"
    assert engine.get(P, "L-cold").definition_version == 1
    assert engine.get(P, "L-ready").stage == "qualified"
    assert engine.get(P, "L-ready").definition_version == 2


def test_the_dry_run_lists_the_leads_that_would_skip_criteria(engine: Engine) -> None:
    """``leadflow migrate --dry-run`` counts and lists them with the unmet criteria."""
    app = typer.Typer()
    app.command()(migrate)
    url = str(engine.store.sa.url)
    result = CliRunner().invoke(
        app,
        [P, "--db", url, "--to", "2", "--map", "new=qualified", "--sla", "keep", "--dry-run"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "blocked: --map skips criteria it does not meet" in result.stdout
    assert "skips_criteria (first 1):" in result.stdout
    assert "L-cold  new (v1)  called: " in result.stdout


def test_force_with_a_reason_moves_them_and_records_why_in_history(engine: Engine) -> None:
    """``force=`` moves the blocked lead too, as ``forced``; its ``migrated`` history row keeps
    the reason and the criteria it skipped. A blank reason is refused, changing nothing."""
    with pytest.raises(InvalidMigration, match="force needs a reason"):
        apply_migration(engine, P, 2, {"new": "qualified"}, force="  ")
    assert engine.get(P, "L-cold").definition_version == 1
    result = apply_migration(engine, P, 2, {"new": "qualified"}, force="signed on the phone")
    assert (result.counts["forced"], result.counts["skips_criteria"]) == (1, 0)
    cold = engine.get(P, "L-cold")
    assert (cold.stage, cold.definition_version) == ("qualified", 2)
    (row,) = [h for h in engine.history(P, "L-cold") if h.kind == "migrated"]
    assert row.details["outcome"] == "forced"
    forced = row.details["forced"]
    assert forced["reason"] == "signed on the phone"
    assert {"called", "budget_known", "dm_known"} <= set(forced["skipped_criteria"])
    (ready,) = [h for h in engine.history(P, "L-ready") if h.kind == "migrated"]
    assert "forced" not in ready.details


def test_cli_force_needs_a_reason_and_the_dry_run_still_lists_them(engine: Engine) -> None:
    """``--force`` without ``--reason`` is one error line; ``--dry-run --force --reason`` still
    lists the lead as skipping criteria and moves nothing; the real run moves it."""
    app = typer.Typer()
    app.command()(migrate)
    url = str(engine.store.sa.url)
    base = [P, "--db", url, "--to", "2", "--map", "new=qualified", "--sla", "keep"]
    runner = CliRunner()
    bare = runner.invoke(app, [*base, "--force"], env={"COLUMNS": "200"})
    assert bare.exit_code != 0
    assert bare.output.strip().splitlines() == [
        "error: --force needs --reason TEXT: why leads may skip exit criteria"
    ]
    why = ["--force", "--reason", "agreed with sales ops"]
    dry = runner.invoke(app, [*base, *why, "--dry-run"], env={"COLUMNS": "200"})
    assert dry.exit_code == 0, dry.output
    assert "L-cold  new (v1)  called: " in dry.stdout
    assert engine.get(P, "L-cold").definition_version == 1
    done = runner.invoke(app, [*base, *why], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert "forced (first 1):" in done.stdout
    assert engine.get(P, "L-cold").stage == "qualified"
    last = [h for h in engine.history(P, "L-cold") if h.kind == "migrated"][-1]
    assert last.details["forced"]["reason"] == "agreed with sales ops"
