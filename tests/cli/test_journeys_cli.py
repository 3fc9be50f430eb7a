"""``leadflow journeys set|show`` on a real SQLite database."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadflow.cli import app
from leadflow.definitions import library_path
from leadflow.engine import Engine

runner = CliRunner()
INBOUND = Path(library_path("inbound-lead")).read_text()
JOURNEYS = """\
journeys:
  - {when: 'lead.segment == "enterprise"', process: enterprise-journey}
  - {process: inbound-lead}
"""


def invoke(*args: str) -> tuple[int, str, str]:
    """Run ``leadflow journeys ...``: (exit code, stdout, stderr)."""
    result = runner.invoke(app, ["journeys", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A SQLite database with inbound-lead and a copy of it as enterprise-journey deployed."""
    url = f"sqlite:///{tmp_path / 'lf.db'}"
    with Engine(url) as engine:
        engine.deploy(library_path("inbound-lead"))
        engine.deploy(re.sub(r"^process:.*$", "process: enterprise-journey", INBOUND, flags=re.M))
    return url


def write(tmp_path: Path, text: str) -> str:
    """``text`` in journeys.yaml; its path."""
    path = tmp_path / "journeys.yaml"
    path.write_text(text)
    return str(path)


def test_set_then_show(db: str, tmp_path: Path) -> None:
    """set stores the rules (the engine then uses them); show lists them, also as JSON."""
    code, out, err = invoke("set", write(tmp_path, JOURNEYS), "--db", db)
    assert code == 0, err
    assert "set 2 journey rules" in out
    code, out, _ = invoke("show", "--db", db)
    assert code == 0
    assert "enterprise-journey" in out
    assert "every other lead" in out
    code, out, _ = invoke("show", "--db", db, "--json")
    assert json.loads(out) == {
        "journeys": [
            {"when": 'lead.segment == "enterprise"', "process": "enterprise-journey"},
            {"when": None, "process": "inbound-lead"},
        ]
    }
    with Engine(db) as engine:
        lead = engine.start_lead("L1", {"email": "a@b.c", "segment": "enterprise"})
    assert lead.process == "enterprise-journey"


def test_show_without_journeys(db: str) -> None:
    """show says none are set (JSON: null)."""
    code, out, _ = invoke("show", "--db", db)
    assert code == 0
    assert "no journeys are set" in out
    assert json.loads(invoke("show", "--db", db, "--json")[1]) is None


def test_a_bad_document_prints_located_problems_and_stores_nothing(db: str, tmp_path: Path) -> None:
    """Problems are file:line:col lines on stderr, exit code 1, and the rules stay unset."""
    path = write(tmp_path, "journeys:\n  - {process: inbound-lead}\n  - {process: a}\n")
    code, out, err = invoke("set", path, "--db", db)
    assert code == 1
    assert f"{path}:2:5:" in err
    assert "Traceback" not in err + out
    assert json.loads(invoke("show", "--db", db, "--json")[1]) is None


def test_an_undeployed_process_is_refused(db: str, tmp_path: Path) -> None:
    """A rule naming an undeployed process fails naming what is deployed."""
    code, _, err = invoke("set", write(tmp_path, "journeys: [{process: school}]\n"), "--db", db)
    assert code == 1
    assert "process 'school' is not deployed" in err
    assert "enterprise-journey" in err
