"""The README's examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from leadflow.definitions import load_definition

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_readme_definition_loads() -> None:
    """The process shown in the README is a valid definition."""
    yaml_block = _blocks("yaml")[0]
    definition = load_definition(yaml_block, file="README.md")
    assert definition.process == "inbound-lead"
    assert [t.name for t in definition.transitions] == ["contact", "qualify", "win", "lose"]


def test_readme_python_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Python API example runs as written from an empty directory: it deploys the shipped
    process by name and reports the unmet criteria."""
    monkeypatch.chdir(tmp_path)
    (code,) = _blocks("python")
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "budget_known Record the budget" in printed
    assert "dm_known Name the decision maker" in printed
    engine = namespace["engine"]
    engine.close()  # type: ignore[attr-defined]


def test_readme_sla_fragment_loads_into_the_process() -> None:
    """The SLA snippet, added to the README's process with the calendar and team it names,
    loads: its amounts, ladder and actions are valid."""
    process, fragment = _blocks("yaml")
    extra = (
        "calendars:\n  sdr_hours: {timezone: America/New_York, hours: {mon-fri: '08:00-18:00'}}\n"
        "teams:\n  sdr: {members: [ana, ben], lead: sdr_manager}\n"
    )
    definition = load_definition(process + fragment + extra, file="README.md")
    sla = definition.slas["speed_to_call"]
    assert str(sla.target) == "5m business"
    assert [str(step.at) for step in sla.ladder] == ["3m business", "100%", "10m business"]
