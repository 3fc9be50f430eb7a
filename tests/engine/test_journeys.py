"""Journeys on SQLite and PostgreSQL: a new lead starts in the process its fields choose."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from leadflow.definitions import DefinitionError, Journeys, library_path
from leadflow.engine import Engine, Idempotency, NoJourney, UnknownProcess
from leadflow.engine.access import AccessDenied, Actor

INBOUND = Path(library_path("inbound-lead")).read_text()
JOURNEYS = """\
journeys:
  - {when: 'lead.segment == "enterprise"', process: enterprise-journey}
  - {when: 'lead.segment == "mid_market" && lead.score >= 50', process: mid-market-journey}
  - {process: inbound-lead}
"""
EMAIL = {"email": "a@example.com"}


def copy_of_inbound(process: str) -> str:
    """The shipped inbound-lead definition under another process name."""
    return re.sub(r"^process:.*$", f"process: {process}", INBOUND, count=1, flags=re.M)


@pytest.fixture
def lf(make_engine: Callable[..., Engine]) -> Engine:
    """An engine with inbound-lead and two copies of it deployed, and the journeys set."""
    engine = make_engine()
    engine.deploy(library_path("inbound-lead"))
    engine.deploy(copy_of_inbound("enterprise-journey"))
    engine.deploy(copy_of_inbound("mid-market-journey"))
    engine.set_journeys(JOURNEYS)
    return engine


def started_in(engine: Engine, lead_id: str) -> list[str]:
    """Every process ``lead_id`` runs in."""
    return [
        process
        for process in engine.processes()
        if any(i.lead_id == lead_id for _, i in engine.leads(process))
    ]


def test_leads_start_in_the_process_their_fields_choose(lf: Engine) -> None:
    """The first matching rule wins; the rule without ``when`` takes every other lead."""
    big = lf.start_lead("L1", {**EMAIL, "segment": "enterprise", "score": 10})
    mid = lf.start_lead("L2", {**EMAIL, "segment": "mid_market", "score": 70})
    low = lf.start_lead("L3", {**EMAIL, "segment": "mid_market", "score": 20})
    small = lf.start_lead("L4", {**EMAIL, "segment": "smb"})
    assert [i.process for i in (big, mid, low, small)] == [
        "enterprise-journey",
        "mid-market-journey",
        "inbound-lead",
        "inbound-lead",
    ]
    assert lf.get("enterprise-journey", "L1").data["segment"] == "enterprise"
    assert started_in(lf, "L2") == ["mid-market-journey"]
    assert lf.history("mid-market-journey", "L2")[0].kind == "started"


def test_a_rule_reading_an_unset_field_does_not_match(lf: Engine) -> None:
    """A lead without ``segment`` or ``score`` falls through to the default rule."""
    assert lf.start_lead("L1", EMAIL).process == "inbound-lead"
    assert lf.start_lead("L2", {**EMAIL, "segment": "mid_market"}).process == "inbound-lead"


def test_no_matching_rule_raises_no_journey_and_starts_nothing(lf: Engine) -> None:
    """Without a default rule a lead that matches nothing is refused, naming the rules."""
    lf.set_journeys(
        "journeys:\n  - {when: 'lead.segment == \"enterprise\"', process: inbound-lead}\n"
    )
    with pytest.raises(NoJourney) as info:
        lf.start_lead("L1", {**EMAIL, "segment": "smb"})
    assert info.value.code == "no-journey"
    assert isinstance(info.value, LookupError)
    assert [r.process for r in info.value.rules] == ["inbound-lead"]
    assert 'lead.segment == "enterprise" -> inbound-lead' in str(info.value)
    assert started_in(lf, "L1") == []


def test_without_journeys_start_lead_says_to_set_them(make_engine: Callable[..., Engine]) -> None:
    """An engine whose journeys were never set refuses start_lead and says how to set them."""
    engine = make_engine()
    engine.deploy(library_path("inbound-lead"))
    assert engine.journeys() is None
    with pytest.raises(NoJourney, match="no journeys are set") as info:
        engine.start_lead("L1", EMAIL)
    assert info.value.rules == ()


def test_an_unknown_process_is_refused_and_nothing_is_stored(lf: Engine) -> None:
    """Journeys naming an undeployed process raise UnknownProcess naming what is deployed;
    the rules in place stay."""
    before = lf.journeys()
    with pytest.raises(UnknownProcess) as info:
        lf.set_journeys("journeys:\n  - {process: school-journey}\n")
    assert info.value.process == "school-journey"
    assert set(info.value.known) == {"enterprise-journey", "inbound-lead", "mid-market-journey"}
    assert "deployed: " in str(info.value)
    assert lf.journeys() == before


def test_an_invalid_document_is_refused_and_nothing_is_stored(lf: Engine) -> None:
    """A document with problems raises DefinitionError; the rules in place stay."""
    before = lf.journeys()
    with pytest.raises(DefinitionError):
        lf.set_journeys("journeys:\n  - {process: inbound-lead}\n  - {when: 'x', process: a}\n")
    assert lf.journeys() == before


def test_journeys_survive_reopening_the_engine(
    lf: Engine, make_engine: Callable[..., Engine]
) -> None:
    """Another engine on the same database reads and uses the stored rules."""
    lf.close()
    again = make_engine()
    journeys = again.journeys()
    assert isinstance(journeys, Journeys)
    assert [r.process for r in journeys.rules][-1] == "inbound-lead"
    assert again.start_lead("L9", {**EMAIL, "segment": "enterprise"}).process == (
        "enterprise-journey"
    )


def test_setting_journeys_replaces_them(lf: Engine) -> None:
    """The last set wins, and a model is accepted as well as text."""
    model = Journeys.model_validate({"journeys": [{"process": "mid-market-journey"}]})
    assert lf.set_journeys(model) == model
    assert lf.journeys() == model
    assert lf.start_lead("L1", {**EMAIL, "segment": "enterprise"}).process == "mid-market-journey"


def test_start_lead_applies_access_rules_and_idempotency(lf: Engine) -> None:
    """It goes through ``start``: a viewer may not start; a retried key returns the first lead."""
    with pytest.raises(AccessDenied):
        lf.start_lead("L1", EMAIL, actor=Actor("v", "viewer"))
    assert started_in(lf, "L1") == []
    key = Idempotency("k1", "digest-1")
    first = lf.start_lead("L1", {**EMAIL, "segment": "enterprise"}, idempotency=key)
    again = lf.start_lead("L1", {**EMAIL, "segment": "enterprise"}, idempotency=key)
    assert again == first
    assert len(lf.history("enterprise-journey", "L1")) == 1
