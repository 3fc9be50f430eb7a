"""The built-in roles: what each may do to which lead, why, and that the engine enforces it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.definitions import ProcessDefinition, library_path, load_definition
from leadflow.engine import Engine, Instance, LeadflowError
from leadflow.engine.access import (
    LEAD_VERBS,
    ROLES,
    VERBS,
    AccessDenied,
    Actor,
    explain_access,
    lead_scope,
    require,
    team_members,
)

PROCESS = "inbound-lead"
DEFINITION: ProcessDefinition = load_definition(library_path(PROCESS))


def _lead(owner: str | None) -> Instance:
    now = datetime(2026, 1, 5, tzinfo=UTC)
    return Instance(PROCESS, "l1", "new", owner, {}, None, 1, 2, 5, now, now, now)


def test_team_members_are_members_lead_and_queue() -> None:
    """A team's owners are its members, its lead and its queue owner."""
    assert team_members(DEFINITION, "sdr") == {
        "sdr_ana",
        "sdr_ben",
        "sdr_cleo",
        "sdr_manager",
        "queue:sdr",
    }
    assert team_members(DEFINITION, "nope") == frozenset()


@pytest.mark.parametrize("verb", VERBS)
def test_admin_may_do_everything(verb: str) -> None:
    """admin is allowed every verb on any lead, by the rule role:admin."""
    decision = explain_access(Actor("root", "admin"), verb, _lead("someone"), DEFINITION)
    assert decision.allowed
    assert decision.rule == "role:admin"


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("ops", {"read", "deploy", "outbox", "reports", "lead_reports", "board"}),
        ("viewer", {"read", "reports", "lead_reports", "board"}),
        ("board", {"reports", "board"}),
    ],
)
def test_roles_without_lead_scope_have_a_fixed_set_of_verbs(role: str, allowed: set[str]) -> None:
    """ops, viewer and board may do exactly their verbs, on any lead, and nothing else."""
    actor = Actor("x", role)
    got = {v for v in VERBS if explain_access(actor, v, _lead("sdr_ana"), DEFINITION).allowed}
    assert got == allowed


def test_a_rep_acts_on_own_leads_and_claims_unassigned_ones() -> None:
    """A rep may do every lead verb on their own lead, read and assign an unassigned one, and
    nothing on another rep's lead; each refusal names role:rep:own."""
    rep = Actor("sdr_ana", "rep", "sdr")
    for verb in LEAD_VERBS:
        assert explain_access(rep, verb, _lead("sdr_ana"), DEFINITION).allowed
        refusal = explain_access(rep, verb, _lead("sdr_ben"), DEFINITION)
        assert not refusal.allowed
        assert refusal.rule == "role:rep:own"
        assert "sdr_ben" in refusal.reason
    open_lead = _lead(None)
    allowed = {v for v in LEAD_VERBS if explain_access(rep, v, open_lead, DEFINITION).allowed}
    assert allowed == {"read", "assign"}
    assert explain_access(rep, "start", None, DEFINITION).allowed
    assert not explain_access(rep, "deploy").allowed


def test_a_manager_acts_on_the_leads_of_their_team() -> None:
    """A manager of sdr may act on leads of sdr's members and unassigned ones, not others'; a
    manager token without a team acts on no lead."""
    manager = Actor("sdr_manager", "manager", "sdr")
    assert (
        explain_access(manager, "fire", _lead("sdr_cleo"), DEFINITION).rule == "role:manager:team"
    )
    assert explain_access(manager, "assign", _lead(None), DEFINITION).allowed
    outside = explain_access(manager, "update", _lead("field_rep"), DEFINITION)
    assert not outside.allowed
    assert "field_rep" in outside.reason
    assert not explain_access(Actor("m", "manager"), "read", _lead("sdr_ana"), DEFINITION).allowed


def test_unknown_roles_and_verbs_are_refused_naming_what_exists() -> None:
    """A role or verb that does not exist is refused, and the reason lists the real ones."""
    role = explain_access(Actor("x", "superuser"), "read")
    assert not role.allowed
    assert all(r in role.reason for r in ROLES)
    verb = explain_access(Actor("x", "admin"), "delete")
    assert not verb.allowed
    assert "fire" in verb.reason


def test_require_raises_access_denied_with_the_rule() -> None:
    """require raises AccessDenied (a LeadflowError and a PermissionError) naming the rule."""
    with pytest.raises(AccessDenied) as caught:
        require(Actor("v", "viewer"), "fire", _lead("sdr_ana"), DEFINITION)
    assert isinstance(caught.value, LeadflowError)
    assert isinstance(caught.value, PermissionError)
    assert caught.value.rule == "role:viewer"
    assert caught.value.code == "access-denied"


def test_lead_scope_per_role() -> None:
    """Which leads each role lists: all, a team's owners and unassigned, one's own, or none."""
    assert lead_scope(Actor("x", "viewer"), DEFINITION).all
    manager = lead_scope(Actor("m", "manager", "sdr"), DEFINITION)
    assert not manager.all
    assert manager.owners == team_members(DEFINITION, "sdr")
    assert manager.unassigned
    rep = lead_scope(Actor("sdr_ana", "rep"), DEFINITION)
    assert rep.owners == {"sdr_ana"}
    board = lead_scope(Actor("b", "board"), DEFINITION)
    assert (board.all, board.owners, board.unassigned) == (False, frozenset(), False)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with Engine(f"sqlite:///{tmp_path / 'lf.db'}") as built:
        built.deploy(library_path(PROCESS))
        built.start(PROCESS, "theirs", {"email": "t@example.com"}, owner="sdr_ben")
        built.start(PROCESS, "mine", {"email": "m@example.com"}, owner="sdr_ana")
        yield built


def test_the_python_api_enforces_an_actors_role(engine: Engine) -> None:
    """Engine calls given an Actor obey its role: a rep's change to another rep's lead raises
    AccessDenied and writes nothing; on their own lead it applies and the history names them."""
    rep = Actor("sdr_ana", "rep", "sdr")
    with pytest.raises(AccessDenied, match="sdr_ben"):
        engine.record(PROCESS, "theirs", "call", actor=rep)
    assert len(engine.history(PROCESS, "theirs")) == 1
    engine.record(PROCESS, "mine", "call", actor=rep)
    assert engine.history(PROCESS, "mine")[-1].actor == "sdr_ana"
    with pytest.raises(AccessDenied):
        engine.start(PROCESS, "new", {"email": "n@example.com"}, actor=Actor("v", "viewer"))
    assert [i.lead_id for _, i in engine.leads(PROCESS)] == ["theirs", "mine"]


@settings(max_examples=40, deadline=None)
@given(
    role=st.sampled_from(ROLES),
    verb=st.sampled_from(("fire", "update", "record", "assign")),
    owner=st.sampled_from(["sdr_ana", "sdr_ben", None]),
)
def test_a_refused_call_changes_nothing(
    tmp_path_factory: pytest.TempPathFactory, role: str, verb: str, owner: str | None
) -> None:
    """Whatever the role, verb and owner, a call the rules refuse leaves the lead as it was,
    and a call they allow is not refused for access."""
    path = tmp_path_factory.mktemp("access") / "lf.db"
    with Engine(f"sqlite:///{path}") as engine:
        engine.deploy(library_path(PROCESS))
        engine.start(PROCESS, "l1", {"email": "l@example.com"}, owner=owner)
        before = (engine.get(PROCESS, "l1"), len(engine.history(PROCESS, "l1")))
        actor = Actor("sdr_ana", role, "sdr")
        new_owner = "sdr_cleo" if verb == "assign" else None
        definition = engine.definition(PROCESS)
        decision = explain_access(actor, verb, before[0], definition, new_owner=new_owner)
        calls = {
            "fire": lambda: engine.fire(PROCESS, "l1", "contact", actor=actor),
            "update": lambda: engine.update(PROCESS, "l1", {"budget": 3}, actor=actor),
            "record": lambda: engine.record(PROCESS, "l1", "email", actor=actor),
            "assign": lambda: engine.assign(PROCESS, "l1", "sdr_cleo", actor=actor),
        }
        try:
            calls[verb]()
        except AccessDenied:
            assert not decision.allowed
            assert (engine.get(PROCESS, "l1"), len(engine.history(PROCESS, "l1"))) == before
        except LeadflowError:
            assert decision.allowed  # refused for another reason (a guard), not for access
        else:
            assert decision.allowed


def test_reps_and_managers_give_leads_only_to_themselves_and_their_team(engine: Engine) -> None:
    """A rep may start or claim a lead only for themselves and a manager only for their team;
    a refused start or assignment writes nothing."""
    rep = Actor("sdr_ana", "rep", "sdr")
    with pytest.raises(AccessDenied, match="sdr_ben"):
        engine.start(PROCESS, "for-ben", {"email": "b@example.com"}, owner="sdr_ben", actor=rep)
    engine.start(PROCESS, "for-me", {"email": "m@example.com"}, owner="sdr_ana", actor=rep)
    manager = Actor("sdr_manager", "manager", "sdr")
    engine.assign(PROCESS, "theirs", "sdr_cleo", actor=manager)
    with pytest.raises(AccessDenied, match="outsider"):
        engine.assign(PROCESS, "theirs", "outsider", actor=manager)
    assert engine.get(PROCESS, "theirs").owner == "sdr_cleo"
    assert "for-ben" not in {i.lead_id for _, i in engine.leads(PROCESS)}
