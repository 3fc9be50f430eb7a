"""The engine object and deploy: opening databases, schema revisions, deploying, listing and
reading back definitions and their versions.

Part of the engine's API call by call (the fixtures are in this folder's conftest.py, the
helpers in runtime_support.py).
"""

from __future__ import annotations

import gc
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from runtime_support import (
    CEL_ACTIVITIES,
    FEATURES,
    REFERENCE,
    REFERENCE_V2,
    T0,
    F,
    P,
    contacted,
    counts,
    fails_cleanly,
    minutes,
    start,
)

from leadflow.definitions import (
    DefinitionError,
    ProcessDefinition,
    library_names,
    load_definition,
    load_library,
)
from leadflow.engine import (
    DeployConflict,
    Engine,
    GuardFailed,
    SchemaMismatch,
    UnknownProcess,
)
from leadflow.engine.testing import ManualClock

# -- the engine object -----------------------------------------------------------------------


def test_engine_accepts_a_path_and_works_as_context_manager(tmp_path: Path) -> None:
    """An ``os.PathLike`` opens a SQLite file and ``with Engine(...)`` closes it on exit."""
    with Engine(tmp_path / "lf.db", clock=ManualClock(T0)) as eng:
        eng.deploy(REFERENCE)
        start(eng)
    with Engine(f"sqlite:///{tmp_path / 'lf.db'}") as again:
        assert again.get(P, "L1").data == {"email": "l1@example.com"}


def test_engine_deploys_a_shipped_process_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``deploy("inbound-lead")`` deploys the shipped process, from a directory without it."""
    monkeypatch.chdir(tmp_path)
    with Engine(tmp_path / "lf.db", clock=ManualClock(T0)) as eng:
        assert eng.deploy("inbound-lead").process == "inbound-lead"
        assert "inbound-lead" in eng.processes()


@pytest.mark.postgres
def test_postgres_without_schema_needs_create(postgres_url: str) -> None:
    """An empty database is refused unless ``create=True``, and the refusal leaks no connection."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(SchemaMismatch) as info:
            Engine(postgres_url)
        found, message = info.value.found, str(info.value)
        del info
        gc.collect()
    assert found is None
    assert "run `leadflow db upgrade --db URL`" in message
    Engine(postgres_url, create=True).close()
    Engine(postgres_url).close()  # the schema exists now
    leaked = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaked == []


def test_an_engine_given_a_sqlalchemy_engine_leaves_it_open(db_url: str) -> None:
    """``Engine(sa_engine)`` uses the caller's engine and does not dispose it on close."""
    owned = sa.create_engine(db_url)
    try:
        with Engine(owned, clock=ManualClock(T0), create=True) as eng:
            assert eng.store.sa is owned
            eng.deploy(REFERENCE)
            start(eng)
        assert owned.pool.checkedin() >= 1
        with owned.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM lf_instances")).scalar_one()
        assert count == 1
    finally:
        owned.dispose()


def test_a_database_at_another_schema_revision_is_refused(sqlite_url: str) -> None:
    """An engine refuses a database whose schema revision it does not know."""
    Engine(sqlite_url).close()
    raw = sa.create_engine(sqlite_url)
    with raw.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0000_old'"))
    raw.dispose()
    with pytest.raises(SchemaMismatch) as info:
        Engine(sqlite_url)
    assert info.value.found == "0000_old"
    assert "is at schema revision 0000_old" in str(info.value)


# -- deploy ----------------------------------------------------------------------------------


def test_deploy_returns_the_definition_and_lists_it(make_engine: Callable[..., Engine]) -> None:
    """Deploy returns the loaded definition; ``processes`` and ``definition`` report it."""
    eng = make_engine()
    assert eng.processes() == {}
    deployed = eng.deploy(REFERENCE)
    assert isinstance(deployed, ProcessDefinition)
    assert deployed == load_definition(REFERENCE)
    eng.deploy(FEATURES)
    assert eng.processes() == {P: [1], F: [1]}
    assert eng.definition(P) == deployed
    assert eng.definition(P, 1) == deployed
    assert counts(eng)["lf_definitions"] == 2


def test_deploy_is_idempotent_for_the_same_content(engine: Engine) -> None:
    """Deploying the same content again, as a path, text or model, writes nothing new."""
    text = REFERENCE.read_text()
    reformatted = "# the same process, other layout\n" + text.replace(
        "{type: string, required: true}", "{required: true, type: string}"
    )
    before = counts(engine)
    assert engine.deploy(REFERENCE) == load_definition(REFERENCE)
    assert engine.deploy(text) == load_definition(REFERENCE)
    assert engine.deploy(reformatted) == load_definition(REFERENCE)
    assert engine.deploy(load_definition(REFERENCE)) == load_definition(REFERENCE)
    assert counts(engine) == before
    assert engine.processes() == {P: [1], F: [1]}


def test_deploy_same_version_with_other_content_conflicts(
    engine: Engine, make_engine: Callable[..., Engine]
) -> None:
    """Other content under a deployed version raises DeployConflict and leaves the original."""
    changed = REFERENCE.read_text().replace("lead.score >= 60", "lead.score >= 70")
    before = counts(engine)
    with pytest.raises(DeployConflict) as info:
        engine.deploy(changed)
    assert (info.value.process, info.value.version, info.value.code) == (P, 1, "deploy-conflict")
    assert "give the new content a new version number" in str(info.value)
    assert counts(engine) == before
    fresh = make_engine()
    with pytest.raises(DeployConflict):
        fresh.deploy(changed)
    for eng in (engine, fresh):
        qualify = next(t for t in eng.definition(P).transitions if t.name == "qualify")
        assert qualify.guard[0].cel == "lead.score >= 60"  # type: ignore[union-attr]


def test_deploy_rejects_an_invalid_definition(engine: Engine) -> None:
    """A definition that does not load raises DefinitionError and deploys nothing."""
    before = counts(engine)
    with pytest.raises(DefinitionError):
        engine.deploy(REFERENCE.read_text().replace("to: won", "to: wonn"))
    assert counts(engine) == before


def test_new_leads_start_on_the_latest_version_running_leads_stay(
    engine: Engine, make_engine: Callable[..., Engine]
) -> None:
    """After v2 is deployed new leads run on v2 while a lead started on v1 keeps v1's rules."""
    contacted(engine, "OLD", score=70, budget=1, decision_maker="Dana")
    engine.deploy(REFERENCE_V2)
    assert engine.processes() == {P: [1, 2], F: [1]}
    assert engine.definition(P).version == 2
    assert engine.definition(P, 1).version == 1
    contacted(engine, "NEW", score=70, budget=1, decision_maker="Dana")
    assert engine.get(P, "OLD").definition_version == 1
    assert engine.get(P, "NEW").definition_version == 2

    old = engine.fire(P, "OLD", "qualify", at=minutes(3))
    assert (old.stage, old.definition_version, old.probability) == ("qualified", 1, 40)
    error = fails_cleanly(
        engine, P, "NEW", GuardFailed, lambda: engine.fire(P, "NEW", "qualify", at=minutes(3))
    )
    assert [(c.id, c.message, c.seen) for c in error.unmet] == [
        ("score_ok", "Score must be at least 80", {"lead.score": 70})
    ]
    # a fresh engine that deployed nothing reads both versions back from the database
    fresh = make_engine()
    fresh.update(P, "NEW", {"score": 85}, at=minutes(4))
    new = fresh.fire(P, "NEW", "qualify", at=minutes(5))
    assert (new.stage, new.definition_version, new.probability) == ("qualified", 2, 50)
    assert fresh.get(P, "OLD") == old


def test_a_fresh_engine_reads_every_deployed_definition_back_unchanged(
    make_engine: Callable[..., Engine],
) -> None:
    """Definitions stored by one engine load back equal in another (library and fixtures)."""
    deployer = make_engine()
    originals = [load_library(name) for name in library_names()]
    originals += [load_definition(FEATURES), load_definition(CEL_ACTIVITIES)]
    for definition in originals:
        deployer.deploy(definition)
    reader = make_engine()
    for definition in originals:
        assert reader.definition(definition.process, definition.version) == definition
        assert reader.deploy(definition) == definition  # same digest: no conflict


def test_unknown_process_is_reported_with_what_is_deployed(engine: Engine) -> None:
    """Asking for an undeployed process or version raises UnknownProcess naming what exists."""
    with pytest.raises(UnknownProcess) as info:
        engine.definition("nope")
    assert (info.value.process, info.value.version, info.value.known) == ("nope", None, (P, F))
    assert str(info.value) == f"process 'nope' is not deployed (deployed: {P}, {F})"
    with pytest.raises(UnknownProcess) as info:
        engine.definition(P, 7)
    assert (info.value.process, info.value.version) == (P, 7)
    assert str(info.value).startswith(f"process '{P}' version 7 is not deployed")


def test_stage_order_survives_the_database(tmp_path: Path) -> None:
    """A definition read back by a new engine keeps its stages in the order written (the main
    path first), not sorted by name."""
    url = f"sqlite:///{tmp_path / 'order.db'}"
    with Engine(url) as first:
        deployed = first.deploy(REFERENCE)
    with Engine(url) as second:
        assert list(second.definition(deployed.process).stages) == list(deployed.stages)


def test_versions_deployed_with_sorted_digests_redeploy_cleanly(tmp_path: Path) -> None:
    """A version stored by leadflow 0.1 (digest of the key-sorted JSON) is the same content."""
    import hashlib

    from leadflow.definitions import load_definition

    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    definition = load_definition(REFERENCE)
    legacy = json.dumps(
        definition.model_dump(mode="json", by_alias=True, exclude_defaults=True),
        sort_keys=True,
        separators=(",", ":"),
    )
    with Engine(url) as engine:
        engine.deploy(definition)
        with engine.store.sa.begin() as conn:
            conn.execute(
                sa.text("UPDATE lf_definitions SET digest = :d"),
                {"d": hashlib.sha256(legacy.encode()).hexdigest()},
            )
        assert engine.deploy(definition) == definition
