"""The live leads each definition change touches (``diff_impact``), per stage and per criterion
(the diffs themselves: definitions/test_diff.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from reference_edits import PROCESS, SEGMENT_CRITERION, STRICTER_SCORE, V1, edited

from leadflow.engine import Engine
from leadflow.engine.migration._impact import diff_impact
from leadflow.engine.testing import ManualClock


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine with the reference process and five leads: new, two contacted, qualified, lost."""
    eng = Engine(db_url, clock=ManualClock(), create=True)
    eng.deploy(V1)
    eng.start(PROCESS, "l-new", {"email": "a@x.io"})
    for lead, data in (
        ("l-ready", {"segment": "smb", "score": 90}),
        ("l-open", {"score": 70}),
        ("l-qualified", {"score": 95, "decision_maker": "Ana"}),
    ):
        eng.start(PROCESS, lead, {"email": f"{lead}@x.io", **data})
        eng.record(PROCESS, lead, "call")
        eng.fire(PROCESS, lead, "contact")
    eng.update(PROCESS, "l-qualified", {"budget": 1000})
    eng.fire(PROCESS, "l-qualified", "qualify")
    eng.start(PROCESS, "l-lost", {"email": "l@x.io"})
    eng.fire(PROCESS, "l-lost", "lose", {"lost_reason": "no_budget"})
    yield eng
    eng.close()


def test_impact_counts_open_leads_per_touched_stage(engine: Engine) -> None:
    """Each change counts the open leads of the old version in its stages; criterion changes
    also count the leads that do not meet the new criterion now."""
    new = edited(SEGMENT_CRITERION, STRICTER_SCORE, ("    probability: 40", "    probability: 45"))
    impact = diff_impact(engine, V1, new)
    assert impact.by_stage == {"new": 1, "contacted": 2, "qualified": 1}
    assert impact.open_leads == 4
    by_kind = {c.change.kind: c for c in impact.changes}
    assert (by_kind["exit-criterion-added"].leads, by_kind["exit-criterion-added"].unmet) == (2, 1)
    assert (by_kind["guard-changed"].leads, by_kind["guard-changed"].unmet) == (2, 1)
    assert (
        by_kind["stage-probability-changed"].leads,
        by_kind["stage-probability-changed"].unmet,
    ) == (1, None)
    assert by_kind["version-changed"].leads == 0
    data = impact.as_dict()
    assert (data["changes"][1]["criterion"], data["changes"][1]["unmet"]) == ("segment_known", 1)


def test_impact_of_a_version_without_leads(engine: Engine) -> None:
    """Leads of another version are not counted: a diff from v2 finds no live leads."""
    v2 = edited(SEGMENT_CRITERION)
    v3 = edited(SEGMENT_CRITERION, STRICTER_SCORE, ("version: 2", "version: 3"))
    impact = diff_impact(engine, v2, v3)
    assert impact.open_leads == 0
    assert all(c.leads == 0 and c.unmet in (None, 0) for c in impact.changes)
