"""A definition's ``access:`` rules, enforced by the engine and by the HTTP service."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from live_server import Served

from leadflow.definitions import library_path, load_definition
from leadflow.engine import Engine, GuardFailed
from leadflow.engine.access import AccessDenied, Actor, explain_access, hidden_fields
from leadflow.engine.store import TokenStore
from leadflow.service import create_app

PROCESS = "inbound-lead"
ACCESS = """
access:
  team_field: owning_team
  roles:
    rep:
      fire: [contact, lose]
      update: [budget, decision_maker, lost_reason]
    partner:
      like: rep
      hidden: [budget, score]
  sharing:
    - {role: rep, when: 'lead.segment == "enterprise"', verbs: [read, record]}
"""
FIELD = "  owning_team: {type: string, title: Owning team}\n"


def _definition_text() -> str:
    text = library_path(PROCESS).read_text(encoding="utf-8")
    text = re.sub(r"^version: \d+$", "version: 50", text, count=1, flags=re.M)
    text = text.replace("fields:\n", "fields:\n" + FIELD, 1)
    return text + ACCESS


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with Engine(f"sqlite:///{tmp_path / 'lf.db'}") as built:
        built.deploy(load_definition(_definition_text(), file="access.yaml"))
        built.start(PROCESS, "mine", {"email": "m@x.io", "score": 70}, owner="sdr_ana")
        built.start(PROCESS, "theirs", {"email": "t@x.io", "segment": "enterprise"}, owner="x")
        built.start(PROCESS, "team", {"email": "t@x.io", "owning_team": "emea"}, owner="y")
        yield built


REP = Actor("sdr_ana", "rep", "emea")


def test_a_rep_fires_only_the_triggers_the_definition_lists(engine: Engine) -> None:
    """The rule narrows the triggers a rep may fire; the refusal names it and changes nothing."""
    engine.record(PROCESS, "mine", "call", actor=REP)
    engine.fire(PROCESS, "mine", "contact", actor=REP)
    with pytest.raises(AccessDenied) as refused:
        engine.fire(PROCESS, "mine", "qualify", actor=REP)
    assert refused.value.rule == "access:roles.rep.fire"
    assert "contact, lose" in str(refused.value)
    assert engine.get(PROCESS, "mine").stage == "contacted"


def test_a_rep_changes_only_the_fields_the_definition_lists(engine: Engine) -> None:
    """Updating a field outside the rep's ``update`` list is refused, naming the field."""
    engine.update(PROCESS, "mine", {"budget": 10}, actor=REP)
    with pytest.raises(AccessDenied, match="score") as refused:
        engine.update(PROCESS, "mine", {"score": 99, "budget": 11}, actor=REP)
    assert refused.value.rule == "access:roles.rep.update"
    assert engine.get(PROCESS, "mine").data["budget"] == 10


def test_sharing_and_team_fields_open_other_peoples_leads(engine: Engine) -> None:
    """A sharing rule lets reps read and record on enterprise leads (not fire); the owning
    team field lets the team's members act on its leads."""
    theirs = engine.get(PROCESS, "theirs")
    definition = engine.definition(PROCESS)
    read = explain_access(REP, "read", theirs, definition)
    assert (read.allowed, read.rule) == (True, "access:sharing[0]")
    engine.record(PROCESS, "theirs", "call", actor=REP)
    with pytest.raises(AccessDenied):
        engine.update(PROCESS, "theirs", {"budget": 1}, actor=REP)
    engine.update(PROCESS, "team", {"budget": 1}, actor=REP)
    outsider = Actor("sdr_ben", "rep", "apac")
    with pytest.raises(AccessDenied):
        engine.update(PROCESS, "team", {"budget": 2}, actor=outsider)
    assert engine.get(PROCESS, "team").data["budget"] == 1


def test_a_custom_role_is_like_its_base_with_hidden_fields(engine: Engine) -> None:
    """``partner`` acts like a rep on its own leads, and budget and score are hidden from it."""
    definition = engine.definition(PROCESS)
    partner = Actor("sdr_ana", "partner")
    assert explain_access(partner, "record", engine.get(PROCESS, "mine"), definition).allowed
    assert not explain_access(partner, "read", engine.get(PROCESS, "theirs"), definition).allowed
    assert hidden_fields("partner", definition) == {"budget", "score"}
    assert hidden_fields("rep", definition) == frozenset()


def test_hidden_fields_are_absent_from_every_answer(engine: Engine) -> None:
    """Over HTTP, a partner's answers (the lead, a list, history, a write's answer) never
    carry the hidden fields' values."""
    tokens = TokenStore(engine.store)
    token, _ = tokens.create(
        "p", "partner", owner="sdr_ana", at=datetime.now(UTC), custom_roles=["partner"]
    )
    engine.update(PROCESS, "mine", {"budget": 500})
    with Served(create_app(engine)) as served, httpx.Client(base_url=served.url) as http:
        auth = {"Authorization": f"Bearer {token}"}
        base = f"/api/v1/processes/{PROCESS}/leads"
        answers = [
            http.get(f"{base}/mine", headers=auth),
            http.get(base, headers=auth),
            http.get(f"{base}/mine/history", headers=auth),
            http.post(f"{base}/mine/activities", json={"type": "call"}, headers=auth),
        ]
        for answer in answers:
            assert answer.status_code < 300, answer.text
            assert "budget" not in answer.text
            assert "score" not in answer.text
        assert http.get(f"{base}/mine", headers=auth).json()["data"] == {"email": "m@x.io"}


def test_batches_check_each_items_access_in_the_batch(engine: Engine) -> None:
    """``fire_many``/``start_many`` given an Actor refuse, per item, what the rules refuse (a
    trigger the rep may not fire, a lead they may not act on); the other items go through."""
    engine.record(PROCESS, "mine", "call")
    fired = engine.fire_many(
        PROCESS,
        [
            {"lead_id": "mine", "trigger": "contact", "actor": REP},
            {"lead_id": "mine", "trigger": "qualify", "actor": REP},
            {"lead_id": "theirs", "trigger": "contact", "actor": REP},
        ],
    )
    assert [i.stage for i in fired.succeeded] == ["contacted"]
    assert [(f.index, type(f.error), f.error.rule) for f in fired.failed] == [  # type: ignore[attr-defined]
        (1, AccessDenied, "access:roles.rep.fire"),
        (2, AccessDenied, "role:rep:own"),
    ]
    assert engine.get(PROCESS, "theirs").stage == "new"
    assert engine.history(PROCESS, "mine")[-1].actor == "sdr_ana"
    started = engine.start_many(
        PROCESS,
        [
            {"lead_id": "n1", "data": {"email": "a@x.io"}, "actor": Actor("root", "admin")},
            {"lead_id": "n2", "data": {"email": "b@x.io"}, "owner": "sdr_ana", "actor": REP},
        ],
    )
    assert [i.lead_id for i in started.succeeded] == ["n1"]
    assert [(f.index, type(f.error)) for f in started.failed] == [(1, AccessDenied)]
    assert "may not change email" in str(started.failed[0].error)
    with pytest.raises(Exception, match="n2"):
        engine.get(PROCESS, "n2")


def test_batch_fire_over_http_refuses_triggers_the_rule_does_not_list(engine: Engine) -> None:
    """Over HTTP, a rep's ``:batch-fire`` item with a trigger outside the rep's ``fire`` list
    fails with ``access_denied`` naming the rule, beside the items that pass."""
    token, _ = TokenStore(engine.store).create(
        "r", "rep", owner="sdr_ana", team="emea", at=datetime.now(UTC)
    )
    engine.record(PROCESS, "mine", "call")
    items = [
        {"lead_id": "mine", "trigger": "contact"},
        {"lead_id": "mine", "trigger": "qualify"},
    ]
    with Served(create_app(engine)) as served, httpx.Client(base_url=served.url) as http:
        answer = http.post(
            f"/api/v1/processes/{PROCESS}/leads:batch-fire",
            json={"items": items},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [lead["stage"] for lead in body["succeeded"]] == ["contacted"]
    assert [(f["index"], f["status"], f["code"], f["rule"]) for f in body["failed"]] == [
        (1, 403, "access_denied", "access:roles.rep.fire")
    ]


def test_what_criteria_saw_of_hidden_fields_is_left_out(engine: Engine) -> None:
    """A refused fire tells a partner which criteria are unmet but not the hidden values they
    saw (``budget``, ``lead.score`` in CEL); its history and next steps over HTTP leave them
    out too. An admin sees them."""
    partner = Actor("sdr_ana", "partner")
    engine.record(PROCESS, "mine", "call")
    engine.fire(PROCESS, "mine", "contact")
    engine.update(PROCESS, "mine", {"budget": 5, "decision_maker": "dm", "score": 40})
    with pytest.raises(GuardFailed) as refused:
        engine.fire(PROCESS, "mine", "qualify", actor=partner)
    assert [(r.id, r.seen) for r in refused.value.unmet] == [("score_ok", {})]
    with pytest.raises(GuardFailed) as shown:
        engine.fire(PROCESS, "mine", "qualify", actor=Actor("boss", "admin"))
    assert [r.seen for r in shown.value.unmet] == [{"lead.score": 40}]
    batch = engine.fire_many(PROCESS, [{"lead_id": "mine", "trigger": "qualify", "actor": partner}])
    assert [r.seen for r in batch.failed[0].error.unmet] == [{}]  # type: ignore[attr-defined]
    engine.update(PROCESS, "mine", {"score": 61})
    engine.fire(PROCESS, "mine", "qualify")
    token, _ = TokenStore(engine.store).create(
        "p", "partner", owner="sdr_ana", at=datetime.now(UTC), custom_roles=["partner"]
    )
    with Served(create_app(engine)) as served, httpx.Client(base_url=served.url) as http:
        auth = {"Authorization": f"Bearer {token}"}
        base = f"/api/v1/processes/{PROCESS}/leads/mine"
        history = http.get(f"{base}/history", headers=auth)
        steps = http.get(f"{base}/next-steps", headers=auth)
    assert history.status_code == 200, history.text
    criteria = history.json()[-1]["details"]["criteria"]
    assert [c["seen"] for c in criteria] == [{}, {}, {"decision_maker": "dm"}]
    assert steps.status_code == 200, steps.text
    for text in (history.text, steps.text):
        assert '"budget"' not in text
        assert "lead.score" not in text
