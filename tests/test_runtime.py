"""The engine's API, call by call: what succeeds, what fails, and that a failure changes nothing.

Storage matters for almost every call here, so most tests take ``db_url`` and run once on SQLite
and once on PostgreSQL. Times are explicit (``at=``) or come from a :class:`ManualClock`, so every
stored time is asserted exactly.
"""

from __future__ import annotations

import gc
import json
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from leadflow.definitions import (
    DefinitionError,
    ProcessDefinition,
    library_names,
    load_definition,
    load_library,
)
from leadflow.engine import (
    EVENT_TYPES,
    BatchResult,
    ConcurrentUpdate,
    CriterionResult,
    DeployConflict,
    DuplicateLead,
    Engine,
    FieldIssue,
    GuardFailed,
    HistoryEntry,
    Instance,
    InvalidData,
    InvalidTransition,
    LeadflowError,
    LeadNotFound,
    NextSteps,
    PlaybookStatus,
    SchemaMismatch,
    TriggerOption,
    UnknownProcess,
)
from leadflow.engine.testing import ManualClock

HERE = Path(__file__).parent
REFERENCE = HERE / "definitions" / "reference.yaml"
RUNTIME = HERE / "definitions" / "runtime"
REFERENCE_V2 = RUNTIME / "inbound-lead-v2.yaml"
FEATURES = RUNTIME / "features.yaml"
CEL_ACTIVITIES = RUNTIME / "cel-activities.yaml"

P = "inbound-lead"
F = "runtime-features"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TABLES = ("lf_definitions", "lf_instances", "lf_history", "lf_outbox", "lf_activities")


def minutes(n: float) -> datetime:
    """``T0`` plus ``n`` minutes."""
    return T0 + timedelta(minutes=n)


# -- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    """Simulated time starting at ``T0``."""
    return ManualClock(T0)


@pytest.fixture
def make_engine(db_url: str, clock: ManualClock) -> Iterator[Callable[..., Engine]]:
    """A factory of engines on the test's database; each is closed after the test."""
    opened: list[Engine] = []

    def make(**kwargs: Any) -> Engine:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("create", True)
        engine = Engine(db_url, **kwargs)
        opened.append(engine)
        return engine

    yield make
    for engine in opened:
        engine.close()


@pytest.fixture
def engine(make_engine: Callable[..., Engine]) -> Engine:
    """An engine with the reference and the feature definitions deployed."""
    eng = make_engine()
    eng.deploy(REFERENCE)
    eng.deploy(FEATURES)
    return eng


@pytest.fixture
def other_db_url(db_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A second empty database on the same backend as ``db_url``."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'other.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    url: str = server.create_database()
    yield url
    server.drop_database(url.rsplit("/", 1)[1])


def counts(engine: Engine) -> dict[str, int]:
    """Row counts of every leadflow table."""
    with engine.store.sa.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def outbox(engine: Engine) -> list[dict[str, Any]]:
    """The outbox rows, oldest first, with the envelope parsed."""
    with engine.store.sa.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT event_id, seq, type, payload FROM lf_outbox ORDER BY id")
        ).all()
    return [{"event_id": r[0], "seq": r[1], "type": r[2], "event": json.loads(r[3])} for r in rows]


def snapshot(engine: Engine, process: str, lead_id: str) -> tuple[Any, Any, dict[str, int]]:
    """What a call could change: the instance, its history and every table's row count."""
    try:
        state: Any = engine.get(process, lead_id)
        history: Any = engine.history(process, lead_id)
    except LeadflowError as exc:
        state, history = type(exc), None
    return state, history, counts(engine)


def fails_cleanly(
    engine: Engine, process: str, lead_id: str, error: type[Exception], call: Callable[[], Any]
) -> Any:
    """Run ``call``, expect exactly ``error``, check nothing changed, and return the error."""
    before = snapshot(engine, process, lead_id)
    with pytest.raises(error) as info:
        call()
    assert type(info.value) is error
    assert snapshot(engine, process, lead_id) == before
    return info.value


def start(engine: Engine, lead_id: str = "L1", at: datetime = T0, **data: Any) -> Instance:
    """Start ``lead_id`` in the reference process (email filled in unless given)."""
    data.setdefault("email", f"{lead_id.lower()}@example.com")
    return engine.start(P, lead_id, data, at=at)


def contacted(engine: Engine, lead_id: str = "L1", **data: Any) -> Instance:
    """A reference lead moved to ``contacted`` (start at T0, call at +1m, contact at +2m)."""
    start(engine, lead_id, **data)
    engine.record(P, lead_id, "call", at=minutes(1))
    return engine.fire(P, lead_id, "contact", at=minutes(2))


def qualified(engine: Engine, lead_id: str = "L1") -> Instance:
    """A reference lead moved to ``qualified`` at +3m."""
    contacted(engine, lead_id, score=70, budget=1000, decision_maker="Dana")
    return engine.fire(P, lead_id, "qualify", at=minutes(3))


def unmet_ids(error: GuardFailed) -> list[str]:
    """The ids of the unmet criteria of a GuardFailed."""
    return [c.id for c in error.unmet]


# -- the engine object -----------------------------------------------------------------------


def test_engine_accepts_a_path_and_works_as_context_manager(tmp_path: Path) -> None:
    """An ``os.PathLike`` opens a SQLite file and ``with Engine(...)`` closes it on exit."""
    with Engine(tmp_path / "lf.db", clock=ManualClock(T0)) as eng:
        eng.deploy(REFERENCE)
        start(eng)
    with Engine(f"sqlite:///{tmp_path / 'lf.db'}") as again:
        assert again.get(P, "L1").data == {"email": "l1@example.com"}


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


# -- start -----------------------------------------------------------------------------------


def test_start_creates_the_instance_in_the_initial_stage(engine: Engine) -> None:
    """Start returns version 1 in the initial stage with every time set to ``at``."""
    at = datetime(2026, 1, 5, 11, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    inst = engine.start(P, "L1", {"email": "a@example.com", "score": 55}, owner="ann", at=at)
    assert inst == Instance(
        process=P,
        lead_id="L1",
        stage="new",
        owner="ann",
        data={"email": "a@example.com", "score": 55},
        closed=None,
        version=1,
        definition_version=1,
        probability=None,
        created_at=at,
        updated_at=at,
        stage_entered_at=at,
    )
    assert inst.is_open
    stored = engine.get(P, "L1")
    assert stored == inst
    assert stored.stage_entered_at.utcoffset() == timedelta(0)
    assert stored.stage_entered_at == datetime(2026, 1, 5, 9, 30, 15, 123456, tzinfo=UTC)


def test_start_defaults_to_the_clock(engine: Engine, clock: ManualClock) -> None:
    """Without ``at`` the start happens at the engine clock's now."""
    clock.advance(timedelta(hours=3))
    inst = engine.start(P, "L1", {"email": "a@example.com"})
    assert inst.created_at == T0 + timedelta(hours=3)
    assert engine.history(P, "L1")[0].at == T0 + timedelta(hours=3)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        pytest.param(
            {"email": "a@x", "scroe": 1},
            "scroe",
            "not a field of this process (did you mean 'score'?) (fields: email, score, "
            "segment, budget, decision_maker, lost_reason)",
            id="unknown-field",
        ),
        pytest.param({"email": 5}, "email", "expected text, got integer", id="wrong-type"),
        pytest.param(
            {"email": "a@x", "segment": "huge"},
            "segment",
            "'huge' is not one of: smb, mid_market, enterprise",
            id="enum-value",
        ),
        pytest.param(
            {"email": "a@x", "score": 101}, "score", "value 101 is above the maximum 100", id="max"
        ),
        pytest.param(
            {"email": "a@x", "score": -1}, "score", "value -1 is below the minimum 0", id="min"
        ),
        pytest.param(
            {"email": "a@x", "score": 5.5},
            "score",
            "expected a whole number, got 5.5",
            id="fraction",
        ),
        pytest.param(
            {"email": "a@x", "score": True},
            "score",
            "expected a whole number, got boolean",
            id="bool-is-no-integer",
        ),
        pytest.param(
            {"email": "a@x", "budget": "lots"}, "budget", "expected a number, got text", id="number"
        ),
        pytest.param({}, "email", "is required", id="required-missing"),
        pytest.param({"email": None}, "email", "is required", id="required-null"),
        pytest.param({"email": ""}, "email", "is required", id="required-empty"),
    ],
)
def test_start_rejects_invalid_data(
    engine: Engine, data: dict[str, Any], field: str, message: str
) -> None:
    """Data breaking the field contract raises InvalidData naming the field; nothing is stored."""
    error = fails_cleanly(engine, P, "L1", InvalidData, lambda: engine.start(P, "L1", data))
    assert error.issues == (FieldIssue(field, message),)
    assert (error.process, error.lead_id, error.code) == (P, "L1", "invalid-data")
    assert f"invalid data: {field}: {message}" in str(error)


def test_start_reports_every_issue_at_once(engine: Engine) -> None:
    """Every broken field is listed in one InvalidData, in the order given."""
    error = fails_cleanly(
        engine, P, "L1", InvalidData, lambda: engine.start(P, "L1", {"score": 500, "x": 1})
    )
    assert [i.field for i in error.issues] == ["score", "x", "email"]


def test_start_normalises_typed_fields(engine: Engine) -> None:
    """Datetimes are stored in UTC, dates as ISO text, integral floats as ints, extras kept."""
    inst = engine.start(
        F,
        "L1",
        {
            "email": "a@x",
            "meeting_at": "2026-01-10T10:00:00+01:00",
            "close_date": datetime(2026, 2, 1, tzinfo=UTC).date(),
            "tags": ("a", "b"),
            "source": {"campaign": "spring", "clicks": 3},
        },
        at=T0,
    )
    expected = {
        "email": "a@x",
        "meeting_at": "2026-01-10T09:00:00+00:00",
        "close_date": "2026-02-01",
        "tags": ["a", "b"],
        "source": {"campaign": "spring", "clicks": 3},
    }
    assert inst.data == expected
    assert engine.get(F, "L1").data == expected
    assert start(engine, "L2", score=70.0).data == {"email": "l2@example.com", "score": 70}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        pytest.param(
            {"meeting_at": "2026-01-10T10:00:00"},
            "meeting_at",
            "'2026-01-10T10:00:00' has no timezone; add one (2026-01-31T09:00:00+01:00)",
            id="naive-datetime",
        ),
        pytest.param(
            {"close_date": "soon"},
            "close_date",
            "expected a date (YYYY-MM-DD), got 'soon'",
            id="date",
        ),
        pytest.param(
            {"tags": ["a", "b", "c", "d"]},
            "tags",
            "the number of items 4 is above the maximum 3",
            id="list-max",
        ),
        pytest.param({"tags": [1]}, "tags", "item 0: expected text, got integer", id="list-item"),
    ],
)
def test_start_rejects_invalid_typed_fields(
    engine: Engine, data: dict[str, Any], field: str, message: str
) -> None:
    """Datetime, date and list fields are checked on start too."""
    error = fails_cleanly(
        engine, F, "L1", InvalidData, lambda: engine.start(F, "L1", {"email": "a@x", **data})
    )
    assert error.issues == (FieldIssue(field, message),)


def test_start_returns_what_get_reads_back_for_extra_fields(engine: Engine) -> None:
    """With ``extra: allow`` the instance start returns equals the stored one (JSON values)."""
    inst = engine.start(
        F, "L1", {"email": "a@x", "seen_at": datetime(2026, 1, 1, tzinfo=UTC), "pair": (1, 2)}
    )
    assert inst == engine.get(F, "L1")
    assert inst.data == {"email": "a@x", "seen_at": "2026-01-01T00:00:00+00:00", "pair": [1, 2]}


def test_start_rejects_extra_values_that_are_not_json(engine: Engine) -> None:
    """An undeclared field whose value cannot be stored raises InvalidData naming the field."""
    error = fails_cleanly(
        engine, F, "L1", InvalidData, lambda: engine.start(F, "L1", {"email": "a@x", "x": object()})
    )
    assert [i.field for i in error.issues] == ["x"]


def test_start_duplicate_lead(engine: Engine) -> None:
    """Starting a lead twice raises DuplicateLead and leaves the first instance as it was."""
    first = start(engine, score=10)
    error = fails_cleanly(
        engine, P, "L1", DuplicateLead, lambda: start(engine, score=90, at=minutes(5))
    )
    assert (error.process, error.lead_id, error.code) == (P, "L1", "duplicate-lead")
    assert str(error) == f"lead 'L1' is already started in process '{P}'"
    assert engine.get(P, "L1") == first


def test_the_same_lead_id_runs_in_two_processes(engine: Engine) -> None:
    """A lead id is unique per process, not globally."""
    start(engine)
    other = engine.start(F, "L1", {"email": "a@x"})
    assert (other.process, other.stage) == (F, "open")
    assert engine.get(P, "L1").stage == "new"


def test_start_unknown_process(engine: Engine) -> None:
    """Starting in an undeployed process raises UnknownProcess and writes nothing."""
    error = fails_cleanly(
        engine, "nope", "L1", UnknownProcess, lambda: engine.start("nope", "L1", {"email": "a"})
    )
    assert error.process == "nope"


@pytest.mark.parametrize("lead_id", ["", "x" * 256], ids=["empty", "too-long"])
def test_start_rejects_a_bad_lead_id_naming_it(engine: Engine, lead_id: str) -> None:
    """An empty or over-long lead id raises InvalidData whose issue names ``lead_id``."""
    error = fails_cleanly(engine, P, lead_id, InvalidData, lambda: start(engine, lead_id))
    assert error.issues == (
        FieldIssue("lead_id", "must be non-empty text of at most 255 characters"),
    )


def test_start_accepts_a_255_character_lead_id(engine: Engine) -> None:
    """255 characters is the longest lead id, and it round-trips."""
    lead_id = "L" * 255
    assert start(engine, lead_id).lead_id == lead_id
    assert engine.get(P, lead_id).lead_id == lead_id


# -- fire ------------------------------------------------------------------------------------


def test_fire_moves_the_lead(engine: Engine) -> None:
    """A fire whose criteria hold moves the lead and stamps stage_entered_at with ``at``."""
    start(engine, score=70)
    engine.record(P, "L1", "call", at=minutes(1))
    inst = engine.fire(P, "L1", "contact", actor="ann", at=minutes(2))
    assert inst == Instance(
        process=P,
        lead_id="L1",
        stage="contacted",
        owner=None,
        data={"email": "l1@example.com", "score": 70},
        closed=None,
        version=3,
        definition_version=1,
        probability=None,
        created_at=T0,
        updated_at=minutes(2),
        stage_entered_at=minutes(2),
    )
    assert engine.get(P, "L1") == inst


def test_fire_merges_the_payload_on_success(engine: Engine) -> None:
    """Data sent with a successful fire is merged and recorded as changes."""
    contacted(engine, score=70)
    inst = engine.fire(
        P, "L1", "qualify", {"budget": 5000, "decision_maker": "Dana"}, at=minutes(3)
    )
    assert (inst.stage, inst.probability, inst.version) == ("qualified", 40, 4)
    assert inst.data == {
        "email": "l1@example.com",
        "score": 70,
        "budget": 5000,
        "decision_maker": "Dana",
    }
    assert engine.get(P, "L1") == inst
    entry = engine.history(P, "L1")[-1]
    assert entry.details["changes"] == {"budget": [None, 5000], "decision_maker": [None, "Dana"]}
    assert outbox(engine)[-1]["event"]["data"]["changes"] == entry.details["changes"]


def test_fire_into_won_closes_the_lead(engine: Engine) -> None:
    """Reaching the won stage sets closed=won and the stage's probability."""
    qualified(engine)
    inst = engine.fire(P, "L1", "win", at=minutes(4))
    assert (inst.stage, inst.closed, inst.probability, inst.is_open) == ("won", "won", 100, False)
    assert inst.stage_entered_at == minutes(4)
    assert engine.get(P, "L1") == inst
    assert outbox(engine)[-1]["type"] == "leadflow.lead.closed_won"
    assert engine.history(P, "L1")[-1].details["closed"] == "won"


def test_fire_into_lost_needs_the_required_field(engine: Engine) -> None:
    """``lose`` requires lost_reason in its data, then closes the lead as lost."""
    start(engine)
    error = fails_cleanly(engine, P, "L1", GuardFailed, lambda: engine.fire(P, "L1", "lose"))
    assert error.unmet == (
        CriterionResult(
            id="requires_lost_reason",
            message="Provide 'lost_reason' with 'lose'",
            met=False,
            kind="requires",
            source="guard:lose",
            seen={"lost_reason": None},
        ),
    )
    inst = engine.fire(P, "L1", "lose", {"lost_reason": "competitor"}, at=minutes(1))
    assert (inst.stage, inst.closed, inst.probability) == ("lost", "lost", 0)
    assert inst.data == {"email": "l1@example.com", "lost_reason": "competitor"}
    assert outbox(engine)[-1]["type"] == "leadflow.lead.closed_lost"
    assert engine.history(P, "L1")[-1].criteria == [
        CriterionResult(
            id="requires_lost_reason",
            message="Provide 'lost_reason' with 'lose'",
            met=True,
            kind="requires",
            source="guard:lose",
            seen={"lost_reason": "competitor"},
        )
    ]


def test_requires_wants_the_field_in_the_event_not_in_the_lead(engine: Engine) -> None:
    """A required field already stored on the lead does not satisfy ``requires``."""
    start(engine, lost_reason="no_budget")
    error = fails_cleanly(engine, P, "L1", GuardFailed, lambda: engine.fire(P, "L1", "lose", {}))
    assert unmet_ids(error) == ["requires_lost_reason"]


def test_losing_skips_the_exit_criteria(engine: Engine) -> None:
    """Exit criteria of the stage left do not apply to a transition into a lost stage."""
    contacted(engine)  # no budget: the exit criterion of contacted is unmet
    inst = engine.fire(P, "L1", "lose", {"lost_reason": "not_a_fit"}, at=minutes(3))
    assert inst.stage == "lost"


def test_guard_failed_reports_the_unmet_activity(engine: Engine) -> None:
    """Contact without a call fails with the criterion id, message and count seen (0)."""
    start(engine)
    error = fails_cleanly(engine, P, "L1", GuardFailed, lambda: engine.fire(P, "L1", "contact"))
    assert error.unmet == (
        CriterionResult(
            id="called",
            message="Log at least one call",
            met=False,
            kind="activity",
            source="guard:contact",
            seen={"type": "call", "count": 0, "min": 1},
        ),
    )
    assert (error.trigger, error.stage, error.lead_id, error.code) == (
        "contact",
        "new",
        "L1",
        "guard-failed",
    )
    assert str(error) == (
        f"lead 'L1' in '{P}': cannot 'contact' from 'new': called: Log at least one call"
    )


def test_guard_failed_reports_every_unmet_criterion_with_seen_values(engine: Engine) -> None:
    """Qualify lists the exit criterion and both guards with the values they saw."""
    contacted(engine, score=50)
    error = fails_cleanly(engine, P, "L1", GuardFailed, lambda: engine.fire(P, "L1", "qualify"))
    assert [(c.id, c.source, c.seen) for c in error.unmet] == [
        ("budget_known", "exit:contacted", {"budget": None}),
        ("score_ok", "guard:qualify", {"lead.score": 50}),
        ("dm_known", "guard:qualify", {"decision_maker": None}),
    ]
    assert all(not c.met for c in error.unmet)


def test_guard_sees_the_payload_merged_into_the_lead(engine: Engine) -> None:
    """Payload values count for the criteria, and met criteria are not listed as unmet."""
    contacted(engine, score=50)
    error = fails_cleanly(
        engine,
        P,
        "L1",
        GuardFailed,
        lambda: engine.fire(P, "L1", "qualify", {"budget": 10, "decision_maker": "Dana"}),
    )
    assert unmet_ids(error) == ["score_ok"]
    assert engine.get(P, "L1").data == {"email": "l1@example.com", "score": 50}


def test_cel_criterion_on_an_unset_field_reports_it(engine: Engine) -> None:
    """A CEL criterion reading an unset field is unmet and says which field is not set."""
    contacted(engine, budget=1, decision_maker="Dana")
    error = fails_cleanly(engine, P, "L1", GuardFailed, lambda: engine.fire(P, "L1", "qualify"))
    assert [(c.id, c.seen) for c in error.unmet] == [
        ("score_ok", {"lead.score": None, "error": "score is not set"})
    ]


def test_invalid_transition_names_the_stage_and_allowed_triggers(engine: Engine) -> None:
    """A trigger not allowed from the stage raises InvalidTransition listing the allowed ones."""
    start(engine)
    for trigger in ("win", "qualify", "bogus"):
        error = fails_cleanly(
            engine, P, "L1", InvalidTransition, lambda t=trigger: engine.fire(P, "L1", t)
        )
        assert (error.trigger, error.stage, error.allowed) == (trigger, "new", ("contact", "lose"))
        assert str(error) == (
            f"lead 'L1' in '{P}': '{trigger}' is not allowed from stage 'new' "
            "(allowed: contact, lose)"
        )


def test_a_closed_lead_allows_no_trigger(engine: Engine) -> None:
    """From a closed stage without a reopen transition every trigger is invalid."""
    qualified(engine)
    engine.fire(P, "L1", "win", at=minutes(4))
    for trigger in ("lose", "win", "contact"):
        error = fails_cleanly(
            engine,
            P,
            "L1",
            InvalidTransition,
            lambda t=trigger: engine.fire(P, "L1", t, {"lost_reason": "competitor"}),
        )
        assert error.allowed == ()
        assert str(error).endswith("(allowed: none: the stage is closed)")


def test_fire_on_a_missing_lead_or_process(engine: Engine) -> None:
    """Fire on an unknown lead raises LeadNotFound; on an unknown process UnknownProcess."""
    error = fails_cleanly(engine, P, "NOPE", LeadNotFound, lambda: engine.fire(P, "NOPE", "win"))
    assert (error.process, error.lead_id) == (P, "NOPE")
    assert str(error) == f"lead 'NOPE' has not been started in process '{P}'"
    fails_cleanly(engine, "nope", "L1", UnknownProcess, lambda: engine.fire("nope", "L1", "win"))


FAILED_FIRES: dict[str, tuple[type[Exception], Callable[[Engine], Any]]] = {
    "guard": (GuardFailed, lambda e: e.fire(P, "L1", "qualify", {"budget": 9}, at=minutes(9))),
    "requires": (GuardFailed, lambda e: e.fire(P, "L1", "lose", {"score": 99})),
    "transition": (InvalidTransition, lambda e: e.fire(P, "L1", "win", {"budget": 9})),
    "payload": (InvalidData, lambda e: e.fire(P, "L1", "qualify", {"score": 900, "budget": 1})),
    "unset-required": (InvalidData, lambda e: e.fire(P, "L1", "lose", {"email": None})),
    "unknown-field": (InvalidData, lambda e: e.fire(P, "L1", "lose", {"lost_reasn": "x"})),
    "naive-at": (ValueError, lambda e: e.fire(P, "L1", "lose", at=datetime(2026, 1, 9))),
    "lead": (LeadNotFound, lambda e: e.fire(P, "L2", "contact")),
    "process": (UnknownProcess, lambda e: e.fire("other", "L1", "contact")),
}


@pytest.mark.parametrize("kind", list(FAILED_FIRES))
def test_a_failed_fire_changes_nothing(engine: Engine, kind: str) -> None:
    """Instance, history and every table (outbox included) are unchanged after a failed fire."""
    error, call = FAILED_FIRES[kind]
    contacted(engine, score=10)
    outbox_before = outbox(engine)
    fails_cleanly(engine, P, "L1", error, lambda: call(engine))
    assert outbox(engine) == outbox_before
    assert engine.get(P, "L1").version == 3


def test_reopen_leaves_a_closed_stage_and_clears_fields(engine: Engine) -> None:
    """A ``reopen`` transition moves a lost lead back to an open stage and unsets ``clears``."""
    engine.start(F, "L1", {"email": "a@x"}, at=T0)
    engine.fire(F, "L1", "lose", {"lost_reason": "other"}, at=minutes(1))
    assert engine.next_steps(F, "L1", at=minutes(1)).ready == ["reopen"]
    inst = engine.fire(F, "L1", "reopen", at=minutes(2))
    assert (inst.stage, inst.closed, inst.probability, inst.stage_entered_at) == (
        "open",
        None,
        10,
        minutes(2),
    )
    assert inst.data == {"email": "a@x"}
    assert engine.get(F, "L1") == inst
    assert outbox(engine)[-1]["type"] == "leadflow.lead.stage_changed"
    entry = engine.history(F, "L1")[-1]
    assert (entry.from_stage, entry.to_stage) == ("lost", "open")
    assert entry.details["changes"] == {"lost_reason": ["other", None]}


def test_backward_transition_skips_the_exit_criteria(engine: Engine) -> None:
    """A ``backward`` step leaves a stage whose exit criteria are unmet; others cannot."""
    _engaged(engine, tier="premium")  # premium without meeting_at: engaged's exit is unmet
    ready = engine.next_steps(F, "L1", at=minutes(3)).ready
    assert ready == ["back", "lose"]
    inst = engine.fire(F, "L1", "back", at=minutes(3))
    assert (inst.stage, inst.stage_entered_at) == ("open", minutes(3))
    assert engine.history(F, "L1")[-1].criteria == []


# -- criteria kinds (runtime-features) -------------------------------------------------------


def test_checklist_criterion_and_playbook_done_flags(engine: Engine) -> None:
    """The checklist follows the playbook items done in this stage visit, as next_steps shows."""
    engine.start(F, "L1", {"email": "a@x"}, at=T0)
    steps = engine.next_steps(F, "L1", at=minutes(1))
    assert steps.playbook == [
        PlaybookStatus("intro_call", "Make the intro call", None, "call", False),
        PlaybookStatus("send_deck", "Send the deck", "templates/deck.md", "send_deck", False),
    ]
    engine.record(F, "L1", "call", at=minutes(1))
    error = fails_cleanly(
        engine, F, "L1", GuardFailed, lambda: engine.fire(F, "L1", "engage", at=minutes(2))
    )
    assert [(c.id, c.kind, c.seen) for c in error.unmet] == [
        ("playbook_done", "checklist", {"intro_call": True, "send_deck": False})
    ]
    assert [p.done for p in engine.next_steps(F, "L1", at=minutes(2)).playbook] == [True, False]
    engine.record(F, "L1", "send_deck", at=minutes(3))
    steps = engine.next_steps(F, "L1", at=minutes(3))
    assert [p.done for p in steps.playbook] == [True, True]
    assert steps.ready == ["engage", "lose"]
    assert engine.fire(F, "L1", "engage", at=minutes(4)).stage == "engaged"


def test_playbook_progress_restarts_when_the_stage_is_entered_again(engine: Engine) -> None:
    """Activities of an earlier visit of a stage do not tick its playbook after a reopen."""
    engine.start(F, "L1", {"email": "a@x"}, at=T0)
    engine.record(F, "L1", "call", at=minutes(1))
    engine.record(F, "L1", "send_deck", at=minutes(1))
    engine.fire(F, "L1", "lose", {"lost_reason": "other"}, at=minutes(2))
    engine.fire(F, "L1", "reopen", at=minutes(3))
    steps = engine.next_steps(F, "L1", at=minutes(4))
    assert [p.done for p in steps.playbook] == [False, False]
    error = fails_cleanly(
        engine, F, "L1", GuardFailed, lambda: engine.fire(F, "L1", "engage", at=minutes(4))
    )
    assert error.unmet[0].seen == {"intro_call": False, "send_deck": False}


def _engaged(engine: Engine, **data: Any) -> Instance:
    engine.start(F, "L1", {"email": "a@x", **data}, at=T0)
    engine.record(F, "L1", "call", at=minutes(1))
    engine.record(F, "L1", "send_deck", at=minutes(1))
    return engine.fire(F, "L1", "engage", at=minutes(2))


def test_stage_visits_are_ordered_by_version_not_by_time(engine: Engine) -> None:
    """Activities recorded after a stage change count for the new visit even if stamped earlier."""
    engine.start(F, "L1", {"email": "a@x"}, at=T0)
    engine.record(F, "L1", "call", at=minutes(1))
    engine.fire(F, "L1", "lose", {"lost_reason": "other"}, at=minutes(1))
    engine.fire(F, "L1", "reopen", at=minutes(1))
    steps = engine.next_steps(F, "L1", at=minutes(2))
    assert [p.done for p in steps.playbook] == [False, False]  # the call was the last visit
    engine.record(F, "L1", "send_deck", at=T0)  # recorded now, stamped before the reopen
    steps = engine.next_steps(F, "L1", at=minutes(2))
    assert [p.done for p in steps.playbook] == [False, True]


def test_when_condition_decides_whether_a_criterion_applies(engine: Engine) -> None:
    """An exit criterion with ``when`` is skipped (met, applies=False, showing what the ``when``
    read) unless it holds."""
    _engaged(engine, tier="basic")
    options = engine.next_steps(F, "L1", at=minutes(3)).options
    commit = next(o for o in options if o.trigger == "commit")
    assert commit.criteria[0] == CriterionResult(
        id="premium_meeting",
        message="Book a meeting with premium leads",
        met=True,
        kind="field_set",
        source="exit:engaged",
        seen={"lead.tier": "basic"},
        applies=False,
    )
    engine.update(F, "L1", {"tier": "premium"}, at=minutes(3))
    options = engine.next_steps(F, "L1", at=minutes(3)).options
    commit = next(o for o in options if o.trigger == "commit")
    assert (commit.criteria[0].met, commit.criteria[0].applies, commit.criteria[0].seen) == (
        False,
        True,
        {"meeting_at": None},
    )


def test_activity_within_window_counts_only_recent_activities(engine: Engine) -> None:
    """``within: 14d`` counts activities in [at - 14d, at]; older ones no longer count."""
    _engaged(engine)  # one call at +1m
    day = timedelta(days=1)
    engine.record(F, "L1", "call", at=minutes(1) + 10 * day)
    engine.record(F, "L1", "call", at=minutes(1) + 14 * day)
    at = minutes(1) + 14 * day
    inst = engine.fire(F, "L1", "commit", at=at)  # the first call is exactly 14 days old
    assert inst.stage == "committed"
    recent = next(c for c in engine.history(F, "L1")[-1].criteria if c.id == "recent_calls")
    assert recent.seen == {"type": "call", "count": 3, "min": 2, "within": "2w"}


def test_activity_outside_the_window_does_not_count(engine: Engine) -> None:
    """Calls older than 14 days do not count for ``within: 14d`` (but do for the total)."""
    _engaged(engine)  # one call at +1m
    engine.record(F, "L1", "call", at=minutes(61))
    at = minutes(1) + timedelta(days=15)
    engine.record(F, "L1", "call", at=at)
    error = fails_cleanly(
        engine, F, "L1", GuardFailed, lambda: engine.fire(F, "L1", "commit", at=at)
    )
    assert [(c.id, c.seen) for c in error.unmet] == [
        ("recent_calls", {"type": "call", "count": 1, "min": 2, "within": "2w"})
    ]


def test_cel_criterion_reads_activity_counts(engine: Engine) -> None:
    """``activities.call`` in CEL is the number of calls recorded on the lead."""
    _engaged(engine)
    engine.record(F, "L1", "call", at=minutes(3))
    error = fails_cleanly(
        engine, F, "L1", GuardFailed, lambda: engine.fire(F, "L1", "commit", at=minutes(4))
    )
    assert [(c.id, c.kind) for c in error.unmet] == [("three_calls", "cel")]
    engine.record(F, "L1", "call", at=minutes(5))
    assert engine.fire(F, "L1", "commit", at=minutes(6)).stage == "committed"


def test_cel_criterion_compares_a_datetime_field_with_now(engine: Engine) -> None:
    """``lead.meeting_at < now`` holds only once the event time is after the meeting."""
    _engaged(engine, meeting_at="2026-01-20T10:00:00+00:00")
    for at in (minutes(3), minutes(4), minutes(5)):
        engine.record(F, "L1", "call", at=at)
    engine.fire(F, "L1", "commit", at=minutes(6))
    error = fails_cleanly(
        engine, F, "L1", GuardFailed, lambda: engine.fire(F, "L1", "win", at=minutes(7))
    )
    assert [(c.id, c.seen) for c in error.unmet] == [
        ("meeting_held", {"lead.meeting_at": "2026-01-20T10:00:00+00:00"})
    ]
    won = engine.fire(F, "L1", "win", at=datetime(2026, 1, 20, 10, 1, tzinfo=UTC))
    assert won.closed == "won"


def test_activities_after_the_event_time_do_not_count(engine: Engine) -> None:
    """A call recorded at 10:00 does not satisfy a contact stated to happen at 09:30."""
    start(engine)
    engine.record(P, "L1", "call", at=minutes(60))
    error = fails_cleanly(
        engine, P, "L1", GuardFailed, lambda: engine.fire(P, "L1", "contact", at=minutes(30))
    )
    assert error.unmet[0].seen == {"type": "call", "count": 0, "min": 1}


def test_cel_counts_an_activity_type_never_recorded_as_zero(engine: Engine) -> None:
    """``activities.email`` is 0, not an error, when no email was ever recorded."""
    engine.deploy(CEL_ACTIVITIES)
    engine.start("cel-activities", "L1", {}, at=T0)
    assert engine.fire("cel-activities", "L1", "finish", at=minutes(1)).closed == "won"


# -- update ----------------------------------------------------------------------------------


def test_update_changes_and_unsets_fields(engine: Engine) -> None:
    """Update writes the changes (None unsets) as one history row per call."""
    start(engine, score=40)
    inst = engine.update(P, "L1", {"score": 70, "segment": "smb"}, actor="ann", at=minutes(1))
    assert (inst.version, inst.updated_at, inst.stage_entered_at) == (2, minutes(1), T0)
    assert inst.data == {"email": "l1@example.com", "score": 70, "segment": "smb"}
    inst = engine.update(P, "L1", {"score": None}, at=minutes(2))
    assert inst.data == {"email": "l1@example.com", "segment": "smb"}
    assert engine.get(P, "L1") == inst
    history = engine.history(P, "L1")
    assert [(h.seq, h.kind, h.actor, h.details) for h in history[1:]] == [
        (2, "updated", "ann", {"changes": {"score": [40, 70], "segment": [None, "smb"]}}),
        (3, "updated", None, {"changes": {"score": [70, None]}}),
    ]


def test_update_cannot_unset_a_required_field(engine: Engine) -> None:
    """Unsetting a required field raises InvalidData and changes nothing."""
    start(engine)
    error = fails_cleanly(
        engine, P, "L1", InvalidData, lambda: engine.update(P, "L1", {"email": None})
    )
    assert error.issues == (FieldIssue("email", "is required"),)


@pytest.mark.parametrize(
    "data",
    [{"score": 40}, {"budget": None}, {}, {"score": 40.0}],
    ids=["same-value", "unset-unset", "empty", "same-normalised"],
)
def test_update_that_changes_nothing_writes_nothing(engine: Engine, data: dict[str, Any]) -> None:
    """An update without an effective change returns the lead and writes no row."""
    inst = start(engine, score=40)
    before = snapshot(engine, P, "L1")
    assert engine.update(P, "L1", data, at=minutes(5)) == inst
    assert snapshot(engine, P, "L1") == before


def test_update_rejects_invalid_data_and_unknown_leads(engine: Engine) -> None:
    """Invalid values raise InvalidData, unknown leads LeadNotFound; nothing changes."""
    start(engine)
    error = fails_cleanly(
        engine,
        P,
        "L1",
        InvalidData,
        lambda: engine.update(P, "L1", {"score": 70, "segment": "tiny"}),
    )
    assert [i.field for i in error.issues] == ["segment"]
    fails_cleanly(engine, P, "L9", LeadNotFound, lambda: engine.update(P, "L9", {"score": 1}))


# -- record ----------------------------------------------------------------------------------


def test_record_appends_an_activity(engine: Engine) -> None:
    """Record bumps the version, keeps the stage and logs type, data and actor."""
    start(engine)
    inst = engine.record(P, "L1", "call", {"outcome": "voicemail"}, actor="ann", at=minutes(1))
    assert (inst.stage, inst.version, inst.updated_at, inst.stage_entered_at) == (
        "new",
        2,
        minutes(1),
        T0,
    )
    assert engine.get(P, "L1") == inst
    entry = engine.history(P, "L1")[-1]
    assert (entry.seq, entry.kind, entry.actor, entry.at, entry.from_stage, entry.to_stage) == (
        2,
        "activity",
        "ann",
        minutes(1),
        None,
        None,
    )
    assert entry.details == {"activity": {"type": "call", "data": {"outcome": "voicemail"}}}
    assert counts(engine)["lf_activities"] == 1


def test_recorded_activities_are_counted(engine: Engine) -> None:
    """next_steps reports the number of calls recorded so far."""
    start(engine)
    for n in range(3):
        engine.record(P, "L1", "call", at=minutes(n + 1))
    contact = engine.next_steps(P, "L1", at=minutes(5)).options[0]
    assert contact.criteria[0].seen == {"type": "call", "count": 3, "min": 1}
    assert contact.ready


def test_record_stores_dates_in_data_as_text(engine: Engine) -> None:
    """Activity data may hold datetimes; they are stored as ISO text."""
    start(engine)
    engine.record(P, "L1", "meeting", {"starts": datetime(2026, 1, 6, 9, tzinfo=UTC)})
    details = engine.history(P, "L1")[-1].details
    assert details == {
        "activity": {"type": "meeting", "data": {"starts": "2026-01-06T09:00:00+00:00"}}
    }


@pytest.mark.parametrize("activity_type", ["", "two words", "a-b", "call!"])
def test_record_rejects_a_bad_activity_type(engine: Engine, activity_type: str) -> None:
    """Activity types are names; anything else raises InvalidData on activity_type."""
    start(engine)
    error = fails_cleanly(
        engine, P, "L1", InvalidData, lambda: engine.record(P, "L1", activity_type)
    )
    assert [i.field for i in error.issues] == ["activity_type"]


def test_record_rejects_an_over_long_activity_type_on_every_backend(engine: Engine) -> None:
    """A 65-character activity type raises InvalidData (not a storage error) everywhere."""
    start(engine)
    error = fails_cleanly(engine, P, "L1", InvalidData, lambda: engine.record(P, "L1", "c" * 65))
    assert [i.field for i in error.issues] == ["activity_type"]


def test_record_rejects_data_that_is_not_json(engine: Engine) -> None:
    """Activity data that cannot be stored raises InvalidData on ``data``."""
    start(engine)
    error = fails_cleanly(
        engine, P, "L1", InvalidData, lambda: engine.record(P, "L1", "call", {"x": object()})
    )
    assert error.issues == (FieldIssue("data", "object values cannot be stored as JSON"),)


def test_record_on_a_missing_lead(engine: Engine) -> None:
    """Recording on a lead never started raises LeadNotFound and stores no activity."""
    fails_cleanly(engine, P, "L9", LeadNotFound, lambda: engine.record(P, "L9", "call"))


# -- assign ----------------------------------------------------------------------------------


def test_assign_changes_the_owner(engine: Engine) -> None:
    """Assign sets the owner and logs it with the previous one; None unassigns."""
    start(engine)
    inst = engine.assign(P, "L1", "ann", actor="lead-router", at=minutes(1))
    assert (inst.owner, inst.version, inst.updated_at) == ("ann", 2, minutes(1))
    inst = engine.assign(P, "L1", "bob", at=minutes(2))
    inst = engine.assign(P, "L1", None, at=minutes(3))
    assert inst.owner is None
    assert engine.get(P, "L1") == inst
    assert [(h.kind, h.actor, h.details) for h in engine.history(P, "L1")[1:]] == [
        ("assigned", "lead-router", {"owner": "ann", "previous_owner": None}),
        ("assigned", None, {"owner": "bob", "previous_owner": "ann"}),
        ("assigned", None, {"owner": None, "previous_owner": "bob"}),
    ]
    assert [e["type"] for e in outbox(engine)[1:]] == ["leadflow.lead.assigned"] * 3


def test_assign_to_the_current_owner_writes_nothing(engine: Engine) -> None:
    """Assigning the owner the lead already has is a no-op."""
    inst = engine.start(P, "L1", {"email": "a@x"}, owner="ann")
    before = snapshot(engine, P, "L1")
    assert engine.assign(P, "L1", "ann", at=minutes(1)) == inst
    assert snapshot(engine, P, "L1") == before


def test_assign_a_missing_lead(engine: Engine) -> None:
    """Assigning a lead never started raises LeadNotFound."""
    fails_cleanly(engine, P, "L9", LeadNotFound, lambda: engine.assign(P, "L9", "ann"))


def test_assign_rejects_an_over_long_owner_on_every_backend(engine: Engine) -> None:
    """An owner id longer than the 255 characters stored raises InvalidData everywhere."""
    start(engine)
    fails_cleanly(engine, P, "L1", InvalidData, lambda: engine.assign(P, "L1", "o" * 256))


# -- history ---------------------------------------------------------------------------------


def test_history_is_append_only_and_numbered(engine: Engine) -> None:
    """History rows are numbered 1..n (= instance version) and earlier rows never change."""
    engine.start(P, "L1", {"email": "a@x", "score": 70}, actor="form", at=T0)
    first = engine.history(P, "L1")
    engine.record(P, "L1", "call", actor="ann", at=minutes(1))
    engine.fire(P, "L1", "contact", actor="ann", at=minutes(2))
    middle = engine.history(P, "L1")
    assert middle[:1] == first
    engine.update(P, "L1", {"budget": 100}, actor="ann", at=minutes(3))
    engine.assign(P, "L1", "bob", actor="router", at=minutes(4))
    engine.fire(P, "L1", "qualify", {"decision_maker": "Dana"}, actor="bob", at=minutes(5))
    engine.fire(P, "L1", "win", actor="bob", at=minutes(6))
    history = engine.history(P, "L1")
    assert history[:3] == middle
    assert [h.seq for h in history] == list(range(1, 8))
    assert engine.get(P, "L1").version == 7
    assert [(h.kind, h.trigger, h.from_stage, h.to_stage, h.actor, h.at) for h in history] == [
        ("started", None, None, "new", "form", T0),
        ("activity", None, None, None, "ann", minutes(1)),
        ("transition", "contact", "new", "contacted", "ann", minutes(2)),
        ("updated", None, None, None, "ann", minutes(3)),
        ("assigned", None, None, None, "router", minutes(4)),
        ("transition", "qualify", "contacted", "qualified", "bob", minutes(5)),
        ("transition", "win", "qualified", "won", "bob", minutes(6)),
    ]
    assert history[0].details == {"data": {"email": "a@x", "score": 70}}
    assert all(isinstance(h, HistoryEntry) for h in history)


def test_history_records_the_criteria_of_each_transition(engine: Engine) -> None:
    """A transition's history row holds every criterion it passed, with the values seen."""
    contacted(engine, score=70)
    engine.fire(P, "L1", "qualify", {"budget": 5, "decision_maker": "Dana"}, at=minutes(3))
    history = engine.history(P, "L1")
    assert history[2].criteria == [
        CriterionResult(
            "called",
            "Log at least one call",
            True,
            "activity",
            "guard:contact",
            {"type": "call", "count": 1, "min": 1},
        )
    ]
    assert [(c.id, c.met, c.source, c.seen) for c in history[3].criteria] == [
        ("budget_known", True, "exit:contacted", {"budget": 5}),
        ("score_ok", True, "guard:qualify", {"lead.score": 70}),
        ("dm_known", True, "guard:qualify", {"decision_maker": "Dana"}),
    ]
    assert history[1].criteria == []


def test_history_records_criteria_that_did_not_apply(engine: Engine) -> None:
    """A criterion skipped by its ``when`` is recorded with applies=False."""
    _engaged(engine, tier="basic")
    for at in (minutes(3), minutes(4)):
        engine.record(F, "L1", "call", at=at)
    engine.fire(F, "L1", "commit", at=minutes(5))
    skipped = engine.history(F, "L1")[-1].criteria[0]
    assert (skipped.id, skipped.met, skipped.applies) == ("premium_meeting", True, False)


def test_history_of_a_missing_lead_or_process(engine: Engine) -> None:
    """History of an unknown lead raises LeadNotFound, of an unknown process UnknownProcess."""
    with pytest.raises(LeadNotFound):
        engine.history(P, "L9")
    with pytest.raises(UnknownProcess):
        engine.history("nope", "L9")
    with pytest.raises(UnknownProcess):
        engine.get("nope", "L9")


# -- outbox ----------------------------------------------------------------------------------


def test_every_change_writes_one_cloudevent(engine: Engine) -> None:
    """Each change adds exactly one CloudEvents 1.0 row describing it; no-ops add none."""
    engine.start(P, "L1", {"email": "a@x", "score": 70}, owner="ann", at=T0)
    engine.record(P, "L1", "call", actor="ann", at=minutes(1))
    engine.fire(P, "L1", "contact", actor="ann", at=minutes(2))
    engine.update(P, "L1", {"budget": 100}, at=minutes(3))
    engine.update(P, "L1", {"budget": 100}, at=minutes(3))  # no-op
    engine.assign(P, "L1", "bob", at=minutes(4))
    engine.assign(P, "L1", "bob", at=minutes(4))  # no-op
    engine.fire(P, "L1", "qualify", {"decision_maker": "Dana"}, at=minutes(5))
    engine.fire(P, "L1", "win", at=minutes(6))
    start(engine, "L2")
    engine.fire(P, "L2", "lose", {"lost_reason": "bad_data"}, at=minutes(7))

    rows = outbox(engine)
    assert [r["type"] for r in rows] == [
        "leadflow.lead.started",
        "leadflow.lead.activity_recorded",
        "leadflow.lead.stage_changed",
        "leadflow.lead.updated",
        "leadflow.lead.assigned",
        "leadflow.lead.stage_changed",
        "leadflow.lead.closed_won",
        "leadflow.lead.started",
        "leadflow.lead.closed_lost",
    ]
    others = ("leadflow.lead.task_due", "leadflow.lead.migrated")  # tests/test_sla.py, migration
    lead_changes = {t for t in EVENT_TYPES if "sla" not in t and t not in others}
    assert {r["type"] for r in rows} == lead_changes  # SLA events: tests/test_sla.py
    assert len({r["event_id"] for r in rows}) == len(rows)
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5, 6, 7, 1, 2]
    history = engine.history(P, "L1") + engine.history(P, "L2")
    for row, entry in zip(rows, history, strict=True):
        event = row["event"]
        assert set(event) == {
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "time",
            "datacontenttype",
            "data",
        }
        assert event["specversion"] == "1.0"
        assert event["id"] == row["event_id"]
        assert event["type"] == row["type"]
        assert event["source"] == f"/leadflow/{P}"
        assert event["datacontenttype"] == "application/json"
        assert datetime.fromisoformat(event["time"]) == entry.at
        assert event["data"]["seq"] == entry.seq == row["seq"]
        assert event["data"]["lead_id"] == event["subject"]
        assert event["data"]["process"] == P
    assert [r["event"]["subject"] for r in rows] == ["L1"] * 7 + ["L2"] * 2
    contact = rows[2]["event"]["data"]
    assert (contact["trigger"], contact["from_stage"], contact["to_stage"], contact["actor"]) == (
        "contact",
        "new",
        "contacted",
        "ann",
    )
    assert rows[4]["event"]["data"]["previous_owner"] == "ann"
    assert rows[8]["event"]["data"]["closed"] == "lost"


def test_event_source_is_configurable(make_engine: Callable[..., Engine]) -> None:
    """``event_source`` prefixes the CloudEvents ``source`` of every event."""
    eng = make_engine(event_source="//crm.example.com/leadflow")
    eng.deploy(REFERENCE)
    start(eng)
    assert outbox(eng)[0]["event"]["source"] == f"//crm.example.com/leadflow/{P}"


# -- next steps ------------------------------------------------------------------------------


def test_next_steps_lists_the_options_with_their_criteria(engine: Engine) -> None:
    """next_steps shows the playbook and every allowed trigger with met and unmet criteria."""
    start(engine)
    before = counts(engine)
    steps = engine.next_steps(P, "L1", at=minutes(1))
    assert steps == NextSteps(
        process=P,
        lead_id="L1",
        stage="new",
        closed=None,
        playbook=[
            PlaybookStatus(
                "first_call", "Call the lead", "scripts/first-call.md", "first_call", False
            )
        ],
        options=[
            TriggerOption(
                trigger="contact",
                to="contacted",
                ready=False,
                criteria=[
                    CriterionResult(
                        "called",
                        "Log at least one call",
                        False,
                        "activity",
                        "guard:contact",
                        {"type": "call", "count": 0, "min": 1},
                    )
                ],
                requires=(),
            ),
            TriggerOption(
                trigger="lose", to="lost", ready=True, criteria=[], requires=("lost_reason",)
            ),
        ],
    )
    assert steps.ready == ["lose"]
    assert counts(engine) == before
    engine.record(P, "L1", "first_call", at=minutes(2))
    engine.record(P, "L1", "call", at=minutes(2))
    steps = engine.next_steps(P, "L1", at=minutes(3))
    assert steps.playbook[0].done
    assert steps.ready == ["contact", "lose"]


def test_next_steps_in_a_later_stage_and_when_closed(engine: Engine) -> None:
    """Options follow the stage: exit criteria join the guards; a closed lead has none."""
    contacted(engine, score=65, budget=1)
    steps = engine.next_steps(P, "L1", at=minutes(3))
    assert steps.stage == "contacted"
    qualify = steps.options[0]
    assert [(c.id, c.met) for c in qualify.criteria] == [
        ("budget_known", True),
        ("score_ok", True),
        ("dm_known", False),
    ]
    assert not qualify.ready
    engine.fire(P, "L1", "lose", {"lost_reason": "competitor"}, at=minutes(4))
    steps = engine.next_steps(P, "L1", at=minutes(5))
    assert (steps.stage, steps.closed, steps.options, steps.ready) == ("lost", "lost", [], [])
    with pytest.raises(LeadNotFound):
        engine.next_steps(P, "L9")


# -- batches ---------------------------------------------------------------------------------


def test_start_many_accepts_ids_tuples_and_mappings(engine: Engine) -> None:
    """start_many takes plain ids, tuples and mappings and returns instances in item order."""
    engine.deploy(CEL_ACTIVITIES)
    result = engine.start_many(
        "cel-activities",
        [
            "A",
            ("B", {"email": "b@x"}, "ann"),
            {"lead_id": "C", "data": {"email": "c@x"}, "actor": "import", "at": minutes(9)},
        ],
        at=minutes(1),
    )
    assert isinstance(result, BatchResult)
    assert result.ok
    assert [(i.lead_id, i.owner, i.data, i.created_at) for i in result.succeeded] == [
        ("A", None, {}, minutes(1)),
        ("B", "ann", {"email": "b@x"}, minutes(1)),
        ("C", None, {"email": "c@x"}, minutes(9)),
    ]
    for inst in result.succeeded:
        assert engine.get("cel-activities", inst.lead_id) == inst
    assert engine.history("cel-activities", "C")[0].actor == "import"
    assert [r["type"] for r in outbox(engine)] == ["leadflow.lead.started"] * 3


def test_start_many_reports_failures_by_index_and_commits_the_rest(engine: Engine) -> None:
    """Bad items fail with their index and error while every good item is started."""
    start(engine, "OLD")
    result = engine.start_many(
        P,
        [
            ("A", {"email": "a@x"}),
            ("OLD", {"email": "o@x"}),
            ("B", {"email": "b@x", "score": 500}),
            ("A", {"email": "again@x"}),
            ("", {"email": "e@x"}),
            ("C", {"email": "c@x"}),
        ],
    )
    assert not result.ok
    assert [i.lead_id for i in result.succeeded] == ["A", "C"]
    assert [(f.index, f.lead_id, type(f.error)) for f in result.failed] == [
        (1, "OLD", DuplicateLead),
        (2, "B", InvalidData),
        (3, "A", DuplicateLead),
        (4, "", InvalidData),
    ]
    assert engine.get(P, "A").data == {"email": "a@x"}
    assert engine.get(P, "OLD").data == {"email": "old@example.com"}
    with pytest.raises(LeadNotFound):
        engine.get(P, "B")
    assert counts(engine)["lf_instances"] == 3
    assert counts(engine)["lf_outbox"] == 3


def test_start_many_rejects_an_unknown_process_and_reports_malformed_items(
    engine: Engine,
) -> None:
    """An unknown process fails the whole call; malformed items fail alone, writing nothing."""
    before = counts(engine)
    with pytest.raises(UnknownProcess):
        engine.start_many("nope", ["A"])
    result = engine.start_many(
        P, [{"lead_id": "A", "colour": "red"}, ("B", {}, None, None, None, "extra")]
    )
    assert [(f.index, f.lead_id, type(f.error)) for f in result.failed] == [
        (0, "A", InvalidData),
        (1, "B", InvalidData),
    ]
    assert "unknown keys colour" in str(result.failed[0].error)
    assert "at most 5" in str(result.failed[1].error)
    assert counts(engine) == before


def test_fire_many_reports_failures_by_index_and_commits_the_rest(engine: Engine) -> None:
    """Per-item failures are reported by index; every other fire is committed."""
    start(engine, "A")
    engine.record(P, "A", "call", at=minutes(1))
    start(engine, "B")
    start(engine, "C", score=10)
    result = engine.fire_many(
        P,
        [
            ("A", "contact"),
            ("B", "contact"),
            ("C", "win"),
            ("Z", "contact"),
            ("C", "lose", {"lost_reason": "bogus"}),
            ("C", "lose", {"lost_reason": "no_budget"}, "ann"),
        ],
        at=minutes(2),
    )
    assert [(i.lead_id, i.stage, i.version, i.stage_entered_at) for i in result.succeeded] == [
        ("A", "contacted", 3, minutes(2)),
        ("C", "lost", 2, minutes(2)),
    ]
    assert [(f.index, f.lead_id, type(f.error)) for f in result.failed] == [
        (1, "B", GuardFailed),
        (2, "C", InvalidTransition),
        (3, "Z", LeadNotFound),
        (4, "C", InvalidData),
    ]
    assert unmet_ids(result.failed[0].error) == ["called"]  # type: ignore[arg-type]
    assert engine.get(P, "A") == result.succeeded[0]
    assert engine.get(P, "C") == result.succeeded[1]
    assert engine.get(P, "B").version == 1
    assert engine.history(P, "C")[-1].actor == "ann"
    assert [r["type"] for r in outbox(engine)][-2:] == [
        "leadflow.lead.stage_changed",
        "leadflow.lead.closed_lost",
    ]
    assert counts(engine)["lf_outbox"] == counts(engine)["lf_history"] == 6


def test_fire_many_applies_fires_of_one_lead_in_order(engine: Engine) -> None:
    """Several fires of one lead in one batch each see the state the previous one left."""
    contacted(engine, score=70, budget=1)
    result = engine.fire_many(
        P,
        [
            {"lead_id": "L1", "trigger": "win", "at": minutes(3)},
            {"lead_id": "L1", "trigger": "qualify", "data": {"budget": 2}, "at": minutes(4)},
            {
                "lead_id": "L1",
                "trigger": "qualify",
                "data": {"decision_maker": "D"},
                "at": minutes(5),
            },
            {"lead_id": "L1", "trigger": "win", "at": minutes(6)},
            {"lead_id": "L1", "trigger": "lose", "data": {"lost_reason": "competitor"}},
        ],
    )
    assert [(i.stage, i.version, i.stage_entered_at) for i in result.succeeded] == [
        ("qualified", 4, minutes(5)),
        ("won", 5, minutes(6)),
    ]
    assert [(f.index, type(f.error)) for f in result.failed] == [
        (0, InvalidTransition),
        (1, GuardFailed),
        (4, InvalidTransition),
    ]
    assert engine.get(P, "L1") == result.succeeded[-1]
    assert result.succeeded[-1].data == {
        "email": "l1@example.com",
        "score": 70,
        "budget": 1,
        "decision_maker": "D",
    }
    history = engine.history(P, "L1")
    assert [(h.seq, h.trigger, h.from_stage, h.to_stage) for h in history[3:]] == [
        (4, "qualify", "contacted", "qualified"),
        (5, "win", "qualified", "won"),
    ]
    assert [r["seq"] for r in outbox(engine)] == [1, 2, 3, 4, 5]


def test_batches_larger_than_one_transaction_keep_item_indexes_and_order(engine: Engine) -> None:
    """Over 1,000 items run as several transactions; indexes and per-lead order still hold."""
    leads = [f"B{n:04d}" for n in range(1001)]
    started = engine.start_many(P, [(lead, {"email": f"{lead}@x"}) for lead in leads])
    assert started.ok
    assert [i.lead_id for i in started.succeeded] == leads
    items = [(lead, "lose", {"lost_reason": "bad_data"}) for lead in leads[1:1000]]
    items += [("B0000", "lose", {"lost_reason": "no_budget"}), ("B0000", "lose")]
    result = engine.fire_many(P, items, at=minutes(1))
    assert len(result.succeeded) == 1000
    assert [(f.index, f.lead_id, type(f.error)) for f in result.failed] == [
        (1000, "B0000", InvalidTransition)
    ]
    assert engine.get(P, "B0000").data["lost_reason"] == "no_budget"
    assert counts(engine)["lf_outbox"] == 1001 + 1000


def test_fire_many_reports_malformed_items_and_runs_the_others(engine: Engine) -> None:
    """A malformed item is an InvalidData failure at its index; the other items still run."""
    start(engine)
    before = counts(engine)
    result = engine.fire_many(
        P, [{"lead": "L1"}, ("L1", "lose", {"lost_reason": "bad_data"}), ("L1", "a", 1, 2, 3, 4)]
    )
    assert [(f.index, type(f.error)) for f in result.failed] == [
        (0, InvalidData),
        (2, InvalidData),
    ]
    assert "unknown keys lead" in str(result.failed[0].error)
    assert [i.stage for i in result.succeeded] == ["lost"]
    assert counts(engine)["lf_history"] == before["lf_history"] + 1


# -- concurrent writers (made deterministic) -------------------------------------------------


def test_a_fire_that_loses_a_race_raises_concurrent_update(
    engine: Engine, make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When another writer commits between read and write, fire raises and writes nothing."""
    start(engine)
    engine.record(P, "L1", "call", at=minutes(1))
    rival = make_engine()
    plan = engine._planner.fire

    def racing(*args: Any, **kwargs: Any) -> Any:
        rival.record(P, "L1", "email", at=minutes(2))
        return plan(*args, **kwargs)

    monkeypatch.setattr(engine._planner, "fire", racing)
    with pytest.raises(ConcurrentUpdate) as info:
        engine.fire(P, "L1", "contact", at=minutes(3))
    assert (info.value.lead_id, info.value.expected_version) == ("L1", 2)
    assert info.value.code == "concurrent-update"
    inst = engine.get(P, "L1")
    assert (inst.stage, inst.version) == ("new", 3)
    assert [h.kind for h in engine.history(P, "L1")] == ["started", "activity", "activity"]
    assert len(outbox(engine)) == 3


def test_fire_many_redoes_a_batch_that_lost_a_race_item_by_item(
    engine: Engine, make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that conflicts is redone one item at a time so non-conflicting items pass."""
    for lead_id in ("A", "B"):
        start(engine, lead_id)
        engine.record(P, lead_id, "call", at=minutes(1))
    rival = make_engine()
    plan = engine._planner.fire
    raced: list[int] = []

    def racing(*args: Any, **kwargs: Any) -> Any:
        if not raced:
            raced.append(1)
            rival.update(P, "A", {"score": 5}, at=minutes(2))
        return plan(*args, **kwargs)

    monkeypatch.setattr(engine._planner, "fire", racing)
    result = engine.fire_many(P, [("A", "contact"), ("B", "contact")], at=minutes(3))
    assert result.ok
    assert [(i.lead_id, i.stage, i.version) for i in result.succeeded] == [
        ("A", "contacted", 4),
        ("B", "contacted", 3),
    ]
    assert engine.get(P, "A").data == {"email": "a@example.com", "score": 5}
    assert [h.seq for h in engine.history(P, "A")] == [1, 2, 3, 4]
    assert counts(engine)["lf_outbox"] == counts(engine)["lf_history"] == 7


# -- times -----------------------------------------------------------------------------------

NAIVE = datetime(2026, 1, 5, 10, 0)
NAIVE_CALLS: dict[str, Callable[[Engine], Any]] = {
    "start": lambda e: e.start(P, "N1", {"email": "n@x"}, at=NAIVE),
    "fire": lambda e: e.fire(P, "L1", "contact", at=NAIVE),
    "update": lambda e: e.update(P, "L1", {"score": 1}, at=NAIVE),
    "record": lambda e: e.record(P, "L1", "call", at=NAIVE),
    "assign": lambda e: e.assign(P, "L1", "ann", at=NAIVE),
    "next_steps": lambda e: e.next_steps(P, "L1", at=NAIVE),
    "start_many": lambda e: e.start_many(P, [("N1", {"email": "n@x"})], at=NAIVE),
    "start_many-item": lambda e: e.start_many(
        P, [("N2", {"email": "n@x"}), {"lead_id": "N1", "data": {"email": "n@x"}, "at": NAIVE}]
    ),
    "fire_many": lambda e: e.fire_many(P, [("L1", "contact")], at=NAIVE),
    "fire_many-item": lambda e: e.fire_many(
        P, [{"lead_id": "L1", "trigger": "contact", "at": NAIVE}]
    ),
}


@pytest.mark.parametrize("call", list(NAIVE_CALLS))
def test_naive_times_are_rejected(engine: Engine, call: str) -> None:
    """``at=`` without a timezone raises a ValueError saying so, and nothing is written."""
    start(engine)
    engine.record(P, "L1", "call", at=minutes(1))
    error = fails_cleanly(engine, P, "L1", ValueError, lambda: NAIVE_CALLS[call](engine))
    assert str(error) == (
        "2026-01-05T10:00:00 has no timezone; pass an aware datetime "
        "(for example datetime(..., tzinfo=UTC))"
    )
    assert not isinstance(error, LeadflowError)


# -- a fresh engine between every step ---------------------------------------------------------


def _normalise(value: Any) -> Any:
    """Results made comparable: errors and batch failures as (type, message)."""
    if isinstance(value, BaseException):
        return (type(value).__name__, str(value))
    if isinstance(value, BatchResult):
        return (value.succeeded, [(f.index, f.lead_id, _normalise(f.error)) for f in value.failed])
    return value


def _attempt(call: Callable[[], Any]) -> Any:
    try:
        return _normalise(call())
    except LeadflowError as exc:
        return _normalise(exc)


SCENARIO: list[Callable[[Engine], Any]] = [
    lambda e: e.deploy(REFERENCE),
    lambda e: e.start(P, "R1", {"email": "r1@x", "score": 70}, owner="ann", at=minutes(1)),
    lambda e: e.start(P, "R2", {"email": "r2@x", "score": 40}, at=minutes(1)),
    lambda e: e.fire(P, "R1", "contact", at=minutes(2)),
    lambda e: e.record(P, "R1", "call", {"outcome": "reached"}, actor="ann", at=minutes(3)),
    lambda e: e.next_steps(P, "R1", at=minutes(4)),
    lambda e: e.fire(P, "R1", "contact", actor="ann", at=minutes(5)),
    lambda e: e.fire(P, "R1", "qualify", at=minutes(6)),
    lambda e: e.update(P, "R1", {"budget": 1000}, at=minutes(7)),
    lambda e: e.update(P, "R1", {"budget": 1000}, at=minutes(8)),
    lambda e: e.assign(P, "R1", "bob", at=minutes(9)),
    lambda e: e.deploy(REFERENCE_V2),
    lambda e: e.start(P, "R3", {"email": "r3@x", "score": 70}, at=minutes(10)),
    lambda e: e.fire(P, "R1", "qualify", {"decision_maker": "Dana"}, at=minutes(11)),
    lambda e: e.fire_many(
        P,
        [("R1", "win"), ("R2", "contact"), ("R3", "lose", {"lost_reason": "competitor"})],
        at=minutes(12),
    ),
    lambda e: e.start_many(P, [("R4", {"email": "r4@x"}), ("R1", {"email": "x@x"})]),
    lambda e: e.next_steps(P, "R2", at=minutes(13)),
    lambda e: e.deploy(FEATURES),
    lambda e: e.start(F, "R1", {"email": "f@x", "tier": "premium"}, at=minutes(14)),
    lambda e: e.record(F, "R1", "call", at=minutes(15)),
    lambda e: e.next_steps(F, "R1", at=minutes(16)),
    lambda e: e.record(F, "R1", "send_deck", at=minutes(16)),
    lambda e: e.fire(F, "R1", "engage", at=minutes(17)),
    lambda e: e.fire(F, "R1", "commit", at=minutes(18)),
    lambda e: e.fire(F, "R1", "back", at=minutes(19)),
    lambda e: e.fire(F, "R1", "lose", {"lost_reason": "other"}, at=minutes(20)),
    lambda e: e.fire(F, "R1", "reopen", at=minutes(21)),
    lambda e: e.next_steps(F, "R1", at=minutes(22)),
    lambda e: e.history(F, "R1"),
    lambda e: e.processes(),
    lambda e: [e.get(P, lead) for lead in ("R1", "R2", "R3", "R4")],
    lambda e: [e.history(P, lead) for lead in ("R1", "R2", "R3", "R4")],
]


def test_a_fresh_engine_between_steps_gives_the_same_results(
    db_url: str, other_db_url: str
) -> None:
    """Running a scenario with a new Engine for every step equals running it on one engine."""
    clock = ManualClock(T0)
    with Engine(other_db_url, clock=clock, create=True) as one:
        expected = [_attempt(lambda step=step: step(one)) for step in SCENARIO]
        expected_events = [(r["seq"], r["type"], r["event"]["subject"]) for r in outbox(one)]
    results = []
    for step in SCENARIO:
        with Engine(db_url, clock=clock, create=True) as fresh:
            results.append(_attempt(lambda step=step, fresh=fresh: step(fresh)))
    for n, (got, want) in enumerate(zip(results, expected, strict=True)):
        assert got == want, f"step {n}"
    with Engine(db_url, clock=clock) as last:
        assert [(r["seq"], r["type"], r["event"]["subject"]) for r in outbox(last)] == (
            expected_events
        )
    # spot checks that the scenario did what it says
    assert expected[3][0] == "GuardFailed"
    assert expected[7][0] == "GuardFailed"
    assert [(h.kind, h.to_stage) for h in expected[-4]] == [
        ("started", "open"),
        ("activity", None),
        ("activity", None),
        ("transition", "engaged"),
        ("transition", "open"),
        ("transition", "lost"),
        ("transition", "open"),
    ]
    final = expected[-2]
    assert [(i.stage, i.version, i.definition_version) for i in final] == [
        ("won", 7, 1),
        ("new", 1, 1),
        ("lost", 2, 2),
        ("new", 1, 2),
    ]


def test_data_that_is_not_a_mapping_is_invalid_data(engine: Engine) -> None:
    """A list or text where lead data belongs is InvalidData naming ``data``, not a crash."""
    start(engine)
    before = counts(engine)
    for call in (
        lambda: engine.start(P, "L2", ["email", "x"]),  # type: ignore[arg-type]
        lambda: engine.update(P, "L1", "budget=5"),  # type: ignore[arg-type]
        lambda: engine.fire(P, "L1", "lose", [("lost_reason", "bad_data")]),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidData) as info:
            call()
        assert [i.field for i in info.value.issues] == ["data"]
        assert "must be a mapping" in str(info.value)
    assert counts(engine) == before


def test_a_lead_id_that_is_not_text_is_invalid_data(engine: Engine) -> None:
    """Lead ids are text on every backend; a number is InvalidData, not a database error."""
    start(engine)
    with pytest.raises(InvalidData) as info:
        engine.fire(P, 42, "lose", {"lost_reason": "bad_data"})  # type: ignore[arg-type]
    assert [i.field for i in info.value.issues] == ["lead_id"]


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
