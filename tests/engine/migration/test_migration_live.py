"""Live migration of running leads to another definition version: the dry run's counts equal the
apply's, each migrated lead gets one history row and one event, blocked leads stay, a crash
mid-apply resumes without migrating anyone twice, and the three SLA deadline policies behave as
documented on simulated time; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

import leadflow.engine.migration._apply as apply_module
from leadflow.cli._migrate import canary_app, migrate
from leadflow.engine import Engine, GuardFailed, UnknownProcess
from leadflow.engine import migration as mig
from leadflow.engine.migration import (
    InvalidMigration,
    MigrationInProgress,
    abandon_migration,
    apply_migration,
    migration_runs,
    plan_migration,
)
from leadflow.engine.testing import ManualClock

HERE = Path(__file__).parents[2] / "definitions" / "migration"
V1 = HERE / "v1.yaml"
V2 = HERE / "v2.yaml"
P = "pipeline"
T0 = datetime.fromisoformat("2026-01-05T09:00:00+00:00")
NURTURE = {"nurture": "new"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def engine(db_url: str, clock: ManualClock) -> Iterator[Engine]:
    with Engine(db_url, clock=clock, create=True) as e:
        e.deploy(V1)
        yield e


# a population: (lead kind, how many); kinds and their outcome migrating to v2 with NURTURE
KINDS = {
    "new": "clean",  # in new, valid data
    "mid": "data_invalid",  # segment 'mid' is gone in v2
    "nurture": "mapped",  # nurture is gone; mapped to new
    "working": "fails_criteria",  # working needs a budget to leave in v2
    "budget": "clean",  # working with a budget
    "closed": None,  # closed leads are not migrated
}


def populate(engine: Engine, counts: dict[str, int]) -> dict[str, str]:
    """Start leads of each kind on v1; returns lead id -> kind."""
    leads: dict[str, str] = {}
    for kind, n in counts.items():
        for i in range(n):
            lead = f"{kind}-{i}"
            data: dict[str, Any] = {"email": f"{lead}@example.com"}
            if kind == "mid":
                data["segment"] = "mid"
            if kind == "budget":
                data["budget"] = 1000
            engine.start(P, lead, data)
            if kind == "nurture":
                engine.fire(P, lead, "park")
            if kind in ("working", "budget"):
                engine.fire(P, lead, "work")
            if kind == "closed":
                engine.fire(P, lead, "lose", {"lost_reason": "other"})
            leads[lead] = kind
    return leads


def expected_counts(counts: dict[str, int], mapping: dict[str, str]) -> dict[str, int]:
    out = dict.fromkeys(mig.OUTCOMES, 0)
    for kind, n in counts.items():
        outcome = KINDS[kind]
        if outcome == "mapped" and not mapping:
            outcome = "unmapped"
        if outcome is not None:
            out[outcome] += n
    return out


def rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.store.sa.connect() as conn:
        return list(conn.execute(sa.text(sql), params).all())


def migrated_history(engine: Engine) -> dict[str, int]:
    """Lead id -> number of `migrated` history rows."""
    found = rows(
        engine,
        "SELECT i.lead_id, count(*) FROM lf_history h JOIN lf_instances i ON i.id = h.instance_id "
        "WHERE h.kind = 'migrated' GROUP BY i.lead_id",
    )
    return {r[0]: int(r[1]) for r in found}


def migrated_events(engine: Engine) -> list[dict[str, Any]]:
    found = rows(engine, "SELECT payload FROM lf_outbox WHERE type = 'leadflow.lead.migrated'")
    return [json.loads(r[0]) for r in found]


def sla_marks(engine: Engine, lead: str, policy: str) -> list[tuple[str, datetime]]:
    """(event, at) of the fired marks of ``policy`` on a lead."""
    return [
        (h.details["sla"][0]["event"], h.at)
        for h in engine.history(P, lead)
        if h.kind == "sla" and h.details["sla"][0]["policy"] == policy
    ]


def timer(engine: Engine, lead: str, policy: str) -> datetime | None:
    found = rows(
        engine,
        "SELECT t.due_at FROM lf_timers t JOIN lf_instances i ON i.id = t.instance_id "
        "WHERE i.lead_id = :lead AND t.policy = :policy",
        lead=lead,
        policy=policy,
    )
    return engine.store.decode_time(found[0][0]) if found else None


# -- dry run -----------------------------------------------------------------------------------


def test_the_dry_run_reports_each_outcome_with_examples_and_writes_nothing(
    engine: Engine,
) -> None:
    """The dry run counts clean, mapped, fails-criteria, unmapped and invalid-data leads, names
    the criteria and data issues, leaves closed leads out, and changes no row."""
    populate(engine, {"new": 3, "mid": 2, "nurture": 2, "working": 2, "budget": 1, "closed": 2})
    engine.deploy(V2)
    before = rows(engine, "SELECT id, version, definition_version FROM lf_instances ORDER BY id")
    plan = plan_migration(engine, P, 2, sla_policy="keep")
    assert plan.counts == {
        "clean": 4,
        "mapped": 0,
        "fails_criteria": 2,
        "unmapped": 2,
        "data_invalid": 2,
        "skips_criteria": 0,
        "forced": 0,
    }
    assert (plan.moved, plan.blocked) == (6, 4)
    assert plan.unmet == {"exit/budget_known": 2}
    assert plan.by_version == {1: 10}
    failing = plan.examples["fails_criteria"][0]
    assert [(c.id, c.message, c.met) for c in failing.criteria] == [
        ("budget_known", "Record the budget", False)
    ]
    invalid = plan.examples["data_invalid"][0]
    assert invalid.issues[0].field == "segment"
    assert "'mid' is not one of: smb, enterprise" in invalid.issues[0].message
    assert plan.examples["unmapped"][0].to_stage is None
    mapped = plan_migration(engine, P, 2, NURTURE, "keep")
    assert (mapped.counts["mapped"], mapped.counts["unmapped"]) == (2, 0)
    assert rows(engine, "SELECT id, version, definition_version FROM lf_instances ORDER BY id") == (
        before
    )
    assert rows(engine, "SELECT count(*) FROM lf_migrations")[0][0] == 0
    assert json.loads(json.dumps(mapped.as_dict()))["counts"] == mapped.counts


def test_a_criterion_already_unmet_under_the_old_version_is_not_newly_failing(
    engine: Engine,
) -> None:
    """Only criteria the new version adds or tightens count: migrating v2 leads to an identical
    v3 finds every lead clean although v2's budget criterion is unmet for some of them."""
    engine.deploy(V2)
    engine.start(P, "w", {"email": "a@b.c"})
    engine.fire(P, "w", "work")
    assert engine.get(P, "w").definition_version == 2
    engine.deploy(V2.read_text().replace("version: 2", "version: 3"))
    plan = plan_migration(engine, P, 3, sla_policy="keep", from_version=2)
    assert plan.counts["clean"] == 1
    assert plan.counts["fails_criteria"] == 0


def test_a_stage_that_became_closed_needs_a_mapping(engine: Engine) -> None:
    """A lead whose open stage is a closed stage in the target is `unmapped` (migration never
    closes a lead); mapping that stage to an open one moves it."""
    populate(engine, {"nurture": 1})
    v3 = (
        V1.read_text()
        .replace("version: 1", "version: 3")
        .replace("nurture: {}", "nurture: {closed: lost}")
        .replace("from: [new, nurture]", "from: new")
        .replace("stages: [new, nurture]", "stages: [new]")
    )
    engine.deploy(v3)
    assert plan_migration(engine, P, 3, sla_policy="keep").counts["unmapped"] == 1
    assert plan_migration(engine, P, 3, NURTURE, "keep").counts["mapped"] == 1


# -- apply -------------------------------------------------------------------------------------


def test_apply_moves_leads_with_one_history_row_and_event_each_and_equals_the_dry_run(
    engine: Engine,
) -> None:
    """Apply in batches of 3 gives the dry run's counts; every moved lead is on v2 in its new
    stage with exactly one `migrated` history row and one `leadflow.lead.migrated` event
    carrying the versions, stages and SLA policy; blocked and closed leads are untouched."""
    population = {"new": 4, "mid": 2, "nurture": 3, "working": 2, "budget": 2, "closed": 1}
    leads = populate(engine, population)
    engine.deploy(V2)
    plan = plan_migration(engine, P, 2, NURTURE, "keep")
    seen: list[int] = []
    result = apply_migration(
        engine,
        P,
        2,
        NURTURE,
        "keep",
        batch=3,
        actor="ops",
        on_batch=lambda r: seen.append(r.batches),
    )
    assert result.counts == plan.counts == expected_counts(population, NURTURE)
    assert (result.status, result.resumed, result.batches) == ("done", False, 5)
    assert seen == [1, 2, 3, 4, 5]
    history = migrated_history(engine)
    for lead, kind in leads.items():
        instance = engine.get(P, lead)
        if KINDS[kind] in mig.MOVED:
            assert instance.definition_version == 2
            assert history[lead] == 1
        else:
            assert instance.definition_version == 1
            assert lead not in history
    nurtured = engine.history(P, "nurture-0")[-1]
    assert (nurtured.kind, nurtured.from_stage, nurtured.to_stage, nurtured.actor) == (
        "migrated",
        "nurture",
        "new",
        "ops",
    )
    assert engine.get(P, "nurture-0").stage == "new"
    events = migrated_events(engine)
    assert len(events) == result.moved == 11
    data = next(e["data"] for e in events if e["subject"] == "nurture-0")
    assert (data["from_version"], data["to_version"], data["definition_version"]) == (1, 2, 2)
    assert (data["from_stage"], data["to_stage"], data["sla_policy"]) == ("nurture", "new", "keep")
    assert data["outcome"] == "mapped"
    run = migration_runs(engine, P)[0]
    assert (run.status, run.counts, run.actor) == ("done", result.counts, "ops")


def test_a_migrated_lead_runs_under_the_new_rules(engine: Engine) -> None:
    """After migration the lead's next fire checks v2's criteria: leaving working needs a budget."""
    populate(engine, {"working": 1})
    engine.deploy(V2)
    apply_migration(engine, P, 2, sla_policy="keep")
    with pytest.raises(GuardFailed) as info:
        engine.fire(P, "working-0", "win")
    assert [c.id for c in info.value.unmet] == ["budget_known"]
    assert engine.fire(P, "working-0", "win", {"budget": 5}).closed == "won"


def test_running_again_migrates_nothing_twice_and_picks_up_newly_mappable_leads(
    engine: Engine,
) -> None:
    """A finished migration run again finds no lead on the old version except blocked ones; with
    a mapping for them, a new run moves exactly those."""
    populate(engine, {"new": 2, "nurture": 2})
    engine.deploy(V2)
    first = apply_migration(engine, P, 2, sla_policy="keep")
    assert (first.counts["clean"], first.counts["unmapped"]) == (2, 2)
    again = apply_migration(engine, P, 2, sla_policy="keep")
    assert again.counts["clean"] == 0
    assert again.counts["unmapped"] == 2
    mapped = apply_migration(engine, P, 2, NURTURE, "keep")
    assert mapped.counts == {**dict.fromkeys(mig.OUTCOMES, 0), "mapped": 2}
    assert set(migrated_history(engine).values()) == {1}
    assert len(migration_runs(engine, P)) == 3


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    population=st.fixed_dictionaries(
        {kind: st.integers(0, 4) for kind in KINDS},
    ),
    batch=st.integers(1, 7),
    mapping=st.sampled_from([{}, NURTURE]),
    policy=st.sampled_from(mig.SLA_POLICIES),
)
def test_dry_run_counts_equal_apply_results_for_any_population(
    population: dict[str, int], batch: int, mapping: dict[str, str], policy: str
) -> None:
    """For any mix of leads, batch size, mapping and SLA policy, the apply's counts are the dry
    run's and the expected ones, and every moved lead has exactly one `migrated` row."""
    with Engine("sqlite://", clock=ManualClock(T0)) as e:
        e.deploy(V1)
        populate(e, population)
        e.deploy(V2)
        plan = plan_migration(e, P, 2, mapping, policy, batch=batch)
        result = apply_migration(e, P, 2, mapping, policy, batch=batch)
        assert plan.counts == result.counts == expected_counts(population, mapping)
        history = migrated_history(e)
        assert len(history) == result.moved
        assert set(history.values()) <= {1}


# -- crash and resume --------------------------------------------------------------------------


class Crash(Exception):
    """Injected between a batch's writes and its commit."""


def test_a_failure_mid_apply_rolls_back_the_batch_and_a_rerun_resumes(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure inside the third batch's transaction (the documented BEFORE_COMMIT test hook of
    _migration_apply) loses only that batch; running the same migration again resumes the run
    after the second batch, and every lead ends up migrated exactly once with the dry run's
    counts."""
    leads = populate(engine, {"new": 6, "mid": 2, "nurture": 3, "working": 2})
    engine.deploy(V2)
    plan = plan_migration(engine, P, 2, NURTURE, "restart")
    calls: list[int] = []

    def crash(run_id: int, last: int) -> None:
        calls.append(last)
        if len(calls) == 3:
            raise Crash

    monkeypatch.setattr(apply_module, "BEFORE_COMMIT", crash)
    with pytest.raises(Crash):
        apply_migration(engine, P, 2, NURTURE, "restart", batch=4)
    run = migration_runs(engine, P)[0]
    assert run.status == "running"
    assert sum(run.counts.values()) == 8
    assert len(migrated_history(engine)) == sum(n for k, n in run.counts.items() if k in mig.MOVED)
    monkeypatch.setattr(apply_module, "BEFORE_COMMIT", None)
    result = apply_migration(engine, P, 2, NURTURE, "restart", batch=4)
    assert (result.resumed, result.run_id, result.status) == (True, run.id, "done")
    assert result.counts == plan.counts
    history = migrated_history(engine)
    assert set(history.values()) == {1}
    assert len(history) == len([k for k in leads.values() if KINDS[k] in mig.MOVED])
    assert len(migrated_events(engine)) == len(history)


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from leadflow.engine import Engine
    import leadflow.engine.migration._apply as apply_module
    from leadflow.engine import migration as mig

    url, where, at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    calls = []

    def die(*_args):
        calls.append(1)
        if len(calls) == at:
            os.kill(os.getpid(), signal.SIGKILL)

    if where == "inside":
        apply_module.BEFORE_COMMIT = die
    engine = Engine(url)
    mig.apply_migration(
        engine, "pipeline", 2, {"nurture": "new"}, "keep", batch=5,
        on_batch=die if where == "after" else None,
    )
    """
)


@pytest.mark.parametrize("where", ["inside", "after"])
def test_a_process_killed_mid_apply_resumes_without_double_migration(
    sqlite_url: str, tmp_path: Path, where: str
) -> None:
    """A subprocess applying the migration is killed with SIGKILL inside its third batch's
    transaction (or right after the third commit); the same migration run again finishes the
    run: each lead migrated once, counts equal to the dry run's."""
    with Engine(sqlite_url, clock=ManualClock(T0)) as e:
        e.deploy(V1)
        leads = populate(e, {"new": 12, "mid": 3, "nurture": 5, "working": 4})
        e.deploy(V2)
        plan = plan_migration(e, P, 2, NURTURE, "keep")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run(
        [sys.executable, str(script), sqlite_url, where, "3"],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    with Engine(sqlite_url, clock=ManualClock(T0)) as e:
        run = migration_runs(e, P)[0]
        assert run.status == "running"
        assert sum(run.counts.values()) == (15 if where == "after" else 10)
        result = apply_migration(e, P, 2, NURTURE, "keep", batch=5)
        assert (result.resumed, result.status) == (True, "done")
        assert result.counts == plan.counts
        history = migrated_history(e)
        assert set(history.values()) == {1}
        assert len(history) == len([k for k in leads.values() if KINDS[k] in mig.MOVED])


@pytest.mark.postgres
def test_two_engines_applying_at_once_migrate_each_lead_once(postgres_url: str) -> None:
    """Two engines applying the same migration at the same time on PostgreSQL share one run: row
    locks and the run's progress check keep every lead to one migration, and the run's counts
    are the dry run's."""
    from leadflow.engine.store import upgrade

    upgrade(postgres_url)
    with Engine(postgres_url, clock=ManualClock(T0)) as e:
        e.deploy(V1)
        assert e.start_many(P, [(f"L{i}", {"email": "a@b.c"}) for i in range(400)]).ok
        e.deploy(V2)
        plan = plan_migration(e, P, 2, sla_policy="keep")
    errors: list[BaseException] = []
    results: list[mig.MigrationResult] = []
    ready = threading.Barrier(2)

    def work() -> None:
        try:
            with Engine(postgres_url, clock=ManualClock(T0)) as mine:
                ready.wait(timeout=60)
                results.append(apply_migration(mine, P, 2, sla_policy="keep", batch=20))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    assert len({r.run_id for r in results}) == 1
    with Engine(postgres_url, clock=ManualClock(T0)) as e:
        history = migrated_history(e)
        assert len(history) == 400
        assert set(history.values()) == {1}
        runs = migration_runs(e, P)
        assert len(runs) == 1
        assert runs[0].counts == plan.counts


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "policy", "kwargs", "message"),
    [
        ({"nurture": "nowhere"}, "keep", {}, "'nowhere' is not a stage of version 2"),
        ({"nurture": "lost"}, "keep", {}, "'lost' is a closed stage of version 2"),
        ({"nurtur": "new"}, "keep", {}, "'nurtur' is not a stage of the versions migrated from"),
        ({}, "later", {}, "SLA policy 'later' is not one of: keep, restart, recompute"),
        ({}, "keep", {"from_version": 2}, "from and to are both version 2"),
        ({}, "keep", {"batch": 0}, "batch must be a whole number of at least 1"),
    ],
)
def test_bad_parameters_are_refused_naming_what_is_allowed(
    engine: Engine, mapping: dict[str, str], policy: str, kwargs: dict[str, Any], message: str
) -> None:
    """A wrong mapping, SLA policy, version pair or batch size raises InvalidMigration saying what
    was wrong and what is allowed; no run is created and no lead changes."""
    populate(engine, {"nurture": 1})
    engine.deploy(V2)
    for call in (plan_migration, apply_migration):
        with pytest.raises(InvalidMigration) as info:
            call(engine, P, 2, mapping, policy, **kwargs)
        assert message in str(info.value)
        assert info.value.code == "invalid-migration"
    assert migration_runs(engine) == []
    assert engine.get(P, "nurture-0").definition_version == 1


def test_an_undeployed_target_version_is_refused(engine: Engine) -> None:
    """Migrating to a version that is not deployed raises UnknownProcess naming the process."""
    with pytest.raises(UnknownProcess, match="version 9 is not deployed"):
        apply_migration(engine, P, 9, sla_policy="keep")
    assert migration_runs(engine) == []


def test_an_unfinished_run_with_other_parameters_blocks_until_abandoned(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a run is unfinished, a migration with other parameters raises MigrationInProgress
    naming the run; after abandoning it, the new migration runs (leads already moved stay)."""
    populate(engine, {"new": 6})
    engine.deploy(V2)

    def crash(run_id: int, last: int) -> None:
        raise Crash

    monkeypatch.setattr(apply_module, "BEFORE_COMMIT", crash)
    with pytest.raises(Crash):
        apply_migration(engine, P, 2, sla_policy="keep", batch=2)
    monkeypatch.setattr(apply_module, "BEFORE_COMMIT", None)
    run = migration_runs(engine, P)[0]
    with pytest.raises(MigrationInProgress, match=f"run {run.id} of 'pipeline'") as info:
        apply_migration(engine, P, 2, sla_policy="restart")
    assert "SLA keep" in str(info.value)
    assert abandon_migration(engine, run.id).status == "abandoned"
    with pytest.raises(InvalidMigration, match="only a running run can be abandoned"):
        abandon_migration(engine, run.id)
    result = apply_migration(engine, P, 2, sla_policy="restart")
    assert result.counts["clean"] == 6


# -- SLA deadline policies on simulated time ---------------------------------------------------


@pytest.fixture
def waiting(engine: Engine, clock: ManualClock) -> Engine:
    """One lead in `new` since T0; at T0+50m its v1 response clock (1h) has warned at 30m."""
    engine.start(P, "L", {"email": "a@b.c"})
    clock.advance(timedelta(minutes=50))
    assert sla_marks(engine, "L", "respond") == [("warned", T0 + timedelta(minutes=30))]
    engine.deploy(V2)
    return engine


def clocks_note(engine: Engine) -> dict[str, Any]:
    entry = engine.history(P, "L")[-1]
    assert entry.kind == "migrated"
    notes: dict[str, Any] = entry.details["clocks"]
    return notes


def test_keep_leaves_the_pending_deadline_where_it_was(waiting: Engine, clock: ManualClock) -> None:
    """`keep`: the v1 deadline (T0+1h) stays although v2's target is 2h; v2 marks behind the
    shifted clock (20m, 45m) never fire late, and the breach is recorded at T0+1h."""
    apply_migration(waiting, P, 2, sla_policy="keep")
    assert timer(waiting, "L", "respond") == T0 + timedelta(hours=1)
    note = clocks_note(waiting)["respond"]
    assert note == {
        "action": "kept",
        "deadline_before": (T0 + timedelta(hours=1)).isoformat(),
        "deadline_after": (T0 + timedelta(hours=1)).isoformat(),
    }
    clock.advance(timedelta(hours=3))
    assert sla_marks(waiting, "L", "respond") == [
        ("warned", T0 + timedelta(minutes=30)),
        ("breached", T0 + timedelta(hours=1)),
    ]


def test_restart_starts_the_new_clock_from_the_migration(
    waiting: Engine, clock: ManualClock
) -> None:
    """`restart`: v2's clock starts at the migration (T0+50m): its marks fall at +20m, +45m and
    the 2h breach after that, and nothing of v1's ladder is left."""
    at = T0 + timedelta(minutes=50)
    apply_migration(waiting, P, 2, sla_policy="restart")
    assert (
        clocks_note(waiting)["respond"]["deadline_after"] == (at + timedelta(hours=2)).isoformat()
    )
    clock.advance(timedelta(hours=5))
    assert sla_marks(waiting, "L", "respond") == [
        ("warned", T0 + timedelta(minutes=30)),
        ("warned", at + timedelta(minutes=20)),
        ("warned", at + timedelta(minutes=45)),
        ("breached", at + timedelta(hours=2)),
    ]


def test_recompute_applies_the_new_ladder_to_the_original_start(
    waiting: Engine, clock: ManualClock
) -> None:
    """`recompute`: v2's ladder on the clock started at T0: the 20m mark counts as covered by
    v1's 30m warning, the 45m mark that passed unfired fires on the next sweep recorded at
    T0+45m, and the breach moves to T0+2h."""
    apply_migration(waiting, P, 2, sla_policy="recompute")
    assert timer(waiting, "L", "respond") == T0 + timedelta(minutes=45)
    assert (
        clocks_note(waiting)["respond"]["deadline_after"] == (T0 + timedelta(hours=2)).isoformat()
    )
    clock.advance(timedelta(0))  # the next sweep
    clock.advance(timedelta(hours=3))
    assert sla_marks(waiting, "L", "respond") == [
        ("warned", T0 + timedelta(minutes=30)),
        ("warned", T0 + timedelta(minutes=45)),
        ("breached", T0 + timedelta(hours=2)),
    ]


@pytest.mark.parametrize("policy", mig.SLA_POLICIES)
def test_a_dropped_policy_stops_and_a_new_one_starts(
    engine: Engine, clock: ManualClock, policy: str
) -> None:
    """Whatever the policy, v1's `legacy` clock (gone in v2) is stopped with its timer deleted,
    and v2's new `work_clock` starts at the migration for a lead in working."""
    engine.start(P, "W", {"email": "a@b.c"})
    engine.fire(P, "W", "work")
    engine.start(P, "N", {"email": "a@b.c"})
    clock.advance(timedelta(hours=1, minutes=10))
    assert timer(engine, "N", "legacy") == T0 + timedelta(days=2)
    engine.deploy(V2)
    at = clock.now()
    apply_migration(engine, P, 2, sla_policy=policy)
    assert timer(engine, "N", "legacy") is None
    entry = engine.history(P, "N")[-1]
    assert entry.details["sla"] == [
        {"policy": "legacy", "event": "stopped", "elapsed": 4200.0, "breached": False}
    ]
    assert entry.details["clocks"]["legacy"]["action"] == "stopped"
    started = [e for e in engine.history(P, "W")[-1].details["sla"] if e["policy"] == "work_clock"]
    assert started == [{"policy": "work_clock", "event": "started", "started_at": at.isoformat()}]
    assert timer(engine, "W", "work_clock") == at + timedelta(days=3)
    clock.advance(timedelta(days=4))
    assert [e for e, _ in sla_marks(engine, "W", "work_clock")] == ["breached"]
    assert sla_marks(engine, "N", "legacy") == []


# -- CLI ---------------------------------------------------------------------------------------


def cli() -> typer.Typer:
    """The migrate command and canary sub-app as cli/_app.py registers them."""
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command()(migrate)
    app.add_typer(canary_app, name="canary")
    return app


def one_error_line(result: Result) -> str:
    """The command failed with exit 1 and exactly one ``error:`` line; return it."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture
def cli_db(sqlite_url: str) -> str:
    """A SQLite database with v1 leads of every kind and v2 deployed."""
    with Engine(sqlite_url, clock=ManualClock(T0)) as e:
        e.deploy(V1)
        populate(e, {"new": 3, "mid": 1, "nurture": 2, "working": 1})
        e.deploy(V2)
    return sqlite_url


def test_cli_dry_run_prints_counts_examples_and_writes_nothing(cli_db: str) -> None:
    """`migrate --dry-run` prints the count of each outcome, the newly unmet criteria and the
    blocked leads with the reason, and migrates nobody."""
    result = CliRunner().invoke(
        cli(), ["migrate", P, "--to", "2", "--sla", "keep", "--dry-run", "--db", cli_db]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "dry run: migrating pipeline to v2 (nothing written)" in out
    for outcome, n in (("clean", 3), ("unmapped", 2), ("data_invalid", 1), ("fails_criteria", 1)):
        assert re.search(rf"{outcome}\s+│\s+{n}\s", out), out
    assert "exit/budget_known: 1 lead\n" in out
    assert "segment: 'mid' is not one of: smb, enterprise" in out
    assert "nurture-0  nurture (v1)" in out
    with Engine(cli_db) as e:
        assert migration_runs(e) == []


def test_cli_apply_with_a_mapping_prints_the_run_and_matches_the_json_dry_run(cli_db: str) -> None:
    """`migrate --map nurture=new` applies in batches (progress on stderr); its JSON counts equal
    the dry run's JSON counts."""
    args = ["migrate", P, "--to", "2", "--sla", "recompute", "--map", "nurture=new"]
    plan = CliRunner().invoke(cli(), [*args, "--dry-run", "--json", "--db", cli_db])
    assert plan.exit_code == 0, plan.output
    shown = CliRunner().invoke(cli(), [*args, "--batch", "3", "--db", cli_db])
    assert shown.exit_code == 0, shown.output
    assert "migration run 1 of pipeline to v2: finished (3 batches now)" in shown.stdout
    assert "batch 3: 7 leads processed" in shown.stderr
    with Engine(cli_db) as e:
        assert migration_runs(e)[0].counts == json.loads(plan.stdout)["counts"]
        assert json.loads(plan.stdout)["counts"]["mapped"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "2"], "--sla required"),
        (["--sla", "keep"], "--to VERSION required"),
        (["--to", "2", "--sla", "keep", "--map", "nurture"], "--map 'nurture' must be OLD=NEW"),
        (
            ["--to", "2", "--sla", "keep", "--map", "a=b", "--map", "a=c"],
            "--map maps 'a' twice",
        ),
        (["--to", "2", "--sla", "keep", "--map", "nurture=gone"], "'gone' is not a stage of"),
        (["--to", "7", "--sla", "keep"], "version 7 is not deployed"),
        (["--abandon", "5"], "run 5 does not exist"),
    ],
)
def test_cli_bad_input_is_one_error_line(cli_db: str, args: list[str], message: str) -> None:
    """Missing --to/--sla, a malformed or conflicting --map, an unknown stage or version, an
    unknown run: one `error:` line naming the problem, exit 1, nothing migrated."""
    result = CliRunner().invoke(cli(), ["migrate", P, *args, "--db", cli_db])
    assert message in one_error_line(result)
    with Engine(cli_db) as e:
        assert engine_versions(e) == {1}


def test_cli_sla_must_be_one_of_the_three_policies(cli_db: str) -> None:
    """An --sla outside keep, restart, recompute is a usage error listing the three."""
    result = CliRunner().invoke(
        cli(), ["migrate", P, "--to", "2", "--sla", "later", "--db", cli_db]
    )
    assert result.exit_code == 2
    assert "keep" in result.stderr
    assert "recompute" in result.stderr


def test_cli_abandon_releases_an_unfinished_run(
    cli_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unfinished run blocks other parameters with one error line naming it; --abandon
    ends it."""

    def crash(run_id: int, last: int) -> None:
        raise Crash

    monkeypatch.setattr(apply_module, "BEFORE_COMMIT", crash)
    with Engine(cli_db) as e, pytest.raises(Crash):
        apply_migration(e, P, 2, sla_policy="keep", batch=2)
    monkeypatch.setattr(apply_module, "BEFORE_COMMIT", None)
    blocked = CliRunner().invoke(
        cli(), ["migrate", P, "--to", "2", "--sla", "restart", "--db", cli_db]
    )
    assert "migration run 1 of 'pipeline'" in one_error_line(blocked)
    done = CliRunner().invoke(cli(), ["migrate", P, "--abandon", "1", "--db", cli_db])
    assert done.exit_code == 0, done.output
    assert "abandoned migration run 1 of pipeline" in done.stdout


def engine_versions(engine: Engine) -> set[int]:
    return {int(r[0]) for r in rows(engine, "SELECT definition_version FROM lf_instances")}
