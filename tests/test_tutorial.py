"""docs/tutorial.md, step by step: each step's YAML, appended to the steps before it, is a valid
definition; the whole lints clean; the simulation gives the figures the tutorial shows."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leadflow.definitions import DefinitionError, lint_source, load_definition
from leadflow.engine import Engine
from leadflow.engine.simulate import parse_spec, simulate
from leadflow.engine.testing import ManualClock

ROOT = Path(__file__).parents[1]
TUTORIAL = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```yaml\n(.*?)```", TUTORIAL, flags=re.S)
STEPS = [b for b in BLOCKS if b.startswith("# step")]
SPEC = next(b for b in BLOCKS if b.startswith("generator:"))


def _upto(n: int) -> str:
    return "".join(STEPS[:n])


@pytest.mark.parametrize("n", range(1, len(STEPS) + 1))
def test_each_step_validates(n: int) -> None:
    """Steps 1..n together load without a problem."""
    load_definition(_upto(n), file="sales-rhythm.yaml")


def test_the_whole_process_lints_clean_and_simulates_as_shown(tmp_path: Path) -> None:
    """Lint finds nothing; the simulation's figures are the tutorial's table."""
    text = _upto(len(STEPS))
    assert lint_source(text, file="sales-rhythm.yaml").findings == []
    path = tmp_path / "sales-rhythm.yaml"
    path.write_text(text, encoding="utf-8")
    result = simulate(path, parse_spec(SPEC), seed=1)
    metrics = result.metrics()
    shown = dict(re.findall(r"^\| ([a-z_ ]+) \| ([0-9.%]+) \|$", TUTORIAL, flags=re.M))
    assert shown["leads"] == str(result.leads)
    assert shown["stage nurture"] == str(metrics["stage nurture"])
    assert shown["sla call_hot_leads met"] == str(metrics["sla call_hot_leads met"])
    assert shown["sla call_hot_leads breached"] == str(metrics["sla call_hot_leads breached"])
    rate = metrics["sla call_hot_leads breach rate"]
    assert rate is not None
    assert shown["sla call_hot_leads breach rate"] == f"{rate:.1%}"
    assert len(STEPS) == 4


# Wednesday 2 December 2026: 10:00 and 19:00 in Amsterdam (UTC+1), inside and outside the
# inside team's calendar.
OPEN = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
CLOSED = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)


def test_what_the_tutorial_says_the_rules_do() -> None:
    """A cold lead parks in nurture under the queue; rescored to 85 it is rerouted to the inside
    team and woken back to new; a wake rule that overlaps park is refused with looping data."""
    text = _upto(len(STEPS))
    with Engine("sqlite://", clock=ManualClock(OPEN)) as engine:
        engine.deploy(load_definition(text, file="sales-rhythm.yaml"))
        cold = engine.start("sales-rhythm", "c1", {"email": "c@x.io", "score": 20})
        assert (cold.stage, cold.owner) == ("nurture", "nurture")
        hot = engine.update("sales-rhythm", "c1", {"score": 85})
        assert hot.stage == "new"
        assert hot.owner in ("ana", "ben", "cas")
        actors = [h.actor for h in engine.history("sales-rhythm", "c1")][-2:]
        assert actors == ["rule:reroute", "rule:wake"]
    overlapping = text.replace('"lead.score >= 50"}', '"lead.score >= 10"}')
    with pytest.raises(DefinitionError, match="with score = 10 every condition on it holds"):
        load_definition(overlapping, file="sales-rhythm.yaml")


def test_outside_the_inside_teams_hours_a_rescored_lead_waits_in_its_queue() -> None:
    """The tutorial's calendar: after 18:00 in Amsterdam nobody of the inside team is available,
    so the rescored lead goes to the team's queue, `queue:inside`."""
    with Engine("sqlite://", clock=ManualClock(CLOSED)) as engine:
        engine.deploy(load_definition(_upto(len(STEPS)), file="sales-rhythm.yaml"))
        engine.start("sales-rhythm", "c1", {"email": "c@x.io", "score": 20})
        hot = engine.update("sales-rhythm", "c1", {"score": 85})
        assert (hot.stage, hot.owner) == ("new", "queue:inside")
