"""The ``leadflow`` command line, driven through typer's CliRunner."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from leadflow.cli import app
from leadflow.engine import Engine

REFERENCE = Path(__file__).parents[1] / "definitions" / "reference.yaml"
PROCESS = "inbound-lead"


@pytest.fixture
def runner() -> CliRunner:
    """A runner that keeps stdout and stderr apart."""
    return CliRunner()


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A fresh SQLite database URL in the test's temporary directory."""
    return f"sqlite:///{tmp_path}/lf.db"


def run(runner: CliRunner, *args: str, **kwargs: Any) -> Result:
    """Invoke the CLI with ``args``; the result keeps stdout and stderr apart."""
    return runner.invoke(app, list(args), **kwargs)


def one_error_line(result: Result) -> str:
    """Assert the command failed with exit 1 and exactly one ``error:`` line; return it."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


def broken_reference(tmp_path: Path) -> Path:
    """A copy of the reference definition with an unknown target stage and a CEL typo."""
    text = REFERENCE.read_text()
    text = text.replace("to: won", "to: winning").replace("lead.score >= 60", "lead.scroe >= 60")
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    return path


# -- definitions -------------------------------------------------------------------------------


def test_validate_ok(runner: CliRunner) -> None:
    """A valid definition prints one ok line with its process, version and counts."""
    result = run(runner, "validate", str(REFERENCE))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{REFERENCE}: ok (process inbound-lead v1, 5 stages, 4 transitions)\n"
    )


def test_validate_bad_file_shows_locations(runner: CliRunner, tmp_path: Path) -> None:
    """Every problem of a broken file prints as file:line:col: message and the exit code is 1."""
    broken = broken_reference(tmp_path)
    result = run(runner, "validate", str(broken), str(REFERENCE))
    assert result.exit_code == 1
    problems = [line for line in result.stdout.splitlines() if line.startswith(str(broken))]
    assert len(problems) >= 2
    assert any("unknown stage 'winning'" in line for line in problems)
    assert any("scroe" in line and "did you mean 'score'" in line for line in problems)
    for line in problems:
        location, _, message = line[len(str(broken)) + 1 :].partition(": ")
        line_no, col = location.split(":")
        assert line_no.isdigit()
        assert col.isdigit()
        assert message
    assert f"{REFERENCE}: ok" in result.stdout
    assert "Traceback" not in result.output


def test_validate_json_lists_problems(runner: CliRunner, tmp_path: Path) -> None:
    """``validate --json`` reports each file with ok and its problems with line and column."""
    broken = broken_reference(tmp_path)
    result = run(runner, "validate", "--json", str(broken), str(REFERENCE))
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [r["ok"] for r in report] == [False, True]
    assert all(p["line"] > 1 and p["code"] for p in report[0]["problems"])


def test_validate_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    """A file that does not exist is reported as a problem, not a traceback."""
    result = run(runner, "validate", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 1
    assert "missing.yaml:1:1: cannot read the file" in result.stdout
    assert "Traceback" not in result.output


def test_schema_is_json(runner: CliRunner, tmp_path: Path) -> None:
    """``schema`` prints the JSON Schema, whose properties include stages, and can write a file."""
    result = run(runner, "schema")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert "stages" in schema["properties"]
    out = tmp_path / "schema.json"
    assert run(runner, "schema", "--output", str(out)).exit_code == 0
    assert json.loads(out.read_text()) == schema


def test_graph_mermaid(runner: CliRunner) -> None:
    """The Mermaid diagram marks the initial stage, expands "*" and labels edges with guards."""
    result = run(runner, "graph", str(REFERENCE), "--format", "mermaid")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "stateDiagram-v2" in text
    assert "[*] --> new" in text
    for trigger in ("contact", "qualify", "win", "lose"):
        assert f": {trigger}" in text
    for guard in ("called", "score_ok", "dm_known", "budget_known"):
        assert guard in text
    assert "requires lost_reason" in text
    for source in ("new", "contacted", "qualified"):  # from: "*" reaches every open stage
        assert f"{source} --> lost : lose" in text
    assert "won --> lost" not in text
    assert "class won won" in text
    assert "class lost lost" in text
    assert "40% to win" in text


def test_graph_dot(runner: CliRunner, tmp_path: Path) -> None:
    """The DOT digraph has the triggers, guard ids, exit criteria and styled closed stages."""
    out = tmp_path / "process.dot"
    result = run(runner, "graph", str(REFERENCE), "--format", "dot", "--output", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith('digraph "inbound-lead" {')
    assert text.rstrip().endswith("}")
    for trigger in ("contact", "qualify", "win", "lose"):
        assert f'[label="{trigger}' in text
    for guard in ("called", "score_ok", "dm_known", "budget_known"):
        assert guard in text
    assert '"__start__" -> "new"' in text
    assert '"qualified" -> "lost"' in text
    assert "peripheries=2" in text


def test_graph_of_broken_file_fails(runner: CliRunner, tmp_path: Path) -> None:
    """Drawing a broken definition prints its problems on stderr and exits with 1."""
    result = run(runner, "graph", str(broken_reference(tmp_path)))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the definition has")
    assert "unknown stage 'winning'" in result.stderr
    assert result.stdout == ""


# -- scripting ---------------------------------------------------------------------------------


def test_scripting_flow_end_to_end(runner: CliRunner, url: str) -> None:
    """deploy, start, record, fire, update, assign, show, history and next work on one lead."""
    assert (
        run(runner, "deploy", str(REFERENCE), "--db", url).stdout == "inbound-lead v1: deployed\n"
    )
    again = run(runner, "deploy", str(REFERENCE), "--db", url)
    assert "already deployed" in again.stdout
    data = json.dumps({"email": "ana@example.com", "score": 72})
    started = run(runner, "start", PROCESS, "L1", "--data", data, "--owner", "sam", "--db", url)
    assert started.exit_code == 0, started.output
    assert "stage new" in started.stdout
    recorded = run(runner, "record", PROCESS, "L1", "call", "--actor", "sam", "--db", url)
    assert recorded.exit_code == 0, recorded.output
    fired = run(runner, "fire", PROCESS, "L1", "contact", "--db", url, "--json")
    assert fired.exit_code == 0, fired.output
    assert json.loads(fired.stdout)["stage"] == "contacted"
    updated = run(runner, "update", PROCESS, "L1", "--data", '{"budget": 12000}', "--db", url)
    assert updated.stdout == "L1: updated budget\n"
    assert run(runner, "assign", PROCESS, "L1", "kim", "--db", url).exit_code == 0

    steps = json.loads(run(runner, "next", PROCESS, "L1", "--db", url, "--json").stdout)
    assert steps["stage"] == "contacted"
    qualify = next(o for o in steps["options"] if o["trigger"] == "qualify")
    met = {c["id"]: c["met"] for c in qualify["criteria"]}
    assert met == {"budget_known": True, "score_ok": True, "dm_known": False}
    assert not qualify["ready"]
    text = run(runner, "next", PROCESS, "L1", "--db", url).stdout
    assert "UNMET dm_known: Name the decision maker" in text
    assert "met   budget_known" in text

    fired = run(
        runner,
        "fire",
        PROCESS,
        "L1",
        "qualify",
        "--data",
        '{"decision_maker": "Lee"}',
        "--db",
        url,
    )
    assert fired.stdout == "L1: qualify: contacted -> qualified\n"
    assert run(runner, "fire", PROCESS, "L1", "win", "--db", url).exit_code == 0

    shown = json.loads(run(runner, "show", PROCESS, "L1", "--db", url, "--json").stdout)
    assert shown["stage"] == "won"
    assert shown["closed"] == "won"
    assert shown["owner"] == "kim"
    assert shown["data"]["decision_maker"] == "Lee"
    assert shown["version"] == 7
    text = run(runner, "show", PROCESS, "L1", "--db", url).stdout
    assert "won (100% to win)" in text
    assert '"ana@example.com"' in text

    history = json.loads(run(runner, "history", PROCESS, "L1", "--db", url, "--json").stdout)
    assert [h["kind"] for h in history] == [
        "started",
        "activity",
        "transition",
        "updated",
        "assigned",
        "transition",
        "transition",
    ]
    assert history[1]["actor"] == "sam"
    table = run(runner, "history", PROCESS, "L1", "--db", url).stdout
    assert "History of L1" in table
    assert "owner: sam -> kim" in table


def test_fire_with_unmet_guard_lists_criteria(runner: CliRunner, url: str) -> None:
    """A guard that fails exits 1 with one error line plus one line per unmet criterion."""
    run(runner, "deploy", str(REFERENCE), "--db", url)
    run(runner, "start", PROCESS, "L1", "--data", '{"email": "a@b.co"}', "--db", url)
    result = run(runner, "fire", PROCESS, "L1", "contact", "--db", url)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ")
    assert "cannot 'contact'" in lines[0]
    assert lines[1:] == ["  - called: Log at least one call"]
    assert "Traceback" not in result.output
    shown = json.loads(run(runner, "show", PROCESS, "L1", "--db", url, "--json").stdout)
    assert shown["stage"] == "new"


def test_trigger_not_allowed_is_one_line(runner: CliRunner, url: str) -> None:
    """A trigger the stage does not allow gives one line naming the allowed triggers."""
    run(runner, "deploy", str(REFERENCE), "--db", url)
    run(runner, "start", PROCESS, "L1", "--data", '{"email": "a@b.co"}', "--db", url)
    line = one_error_line(run(runner, "fire", PROCESS, "L1", "win", "--db", url))
    assert "allowed: contact, lose" in line


def test_bad_data_json_is_one_line(runner: CliRunner, url: str) -> None:
    """--data that is not a JSON object gives a one-line error and changes nothing."""
    run(runner, "deploy", str(REFERENCE), "--db", url)
    line = one_error_line(run(runner, "start", PROCESS, "L1", "--data", "{email:", "--db", url))
    assert "--data is not valid JSON" in line
    line = one_error_line(run(runner, "start", PROCESS, "L1", "--data", "[1, 2]", "--db", url))
    assert "must be a JSON object" in line
    line = one_error_line(
        run(runner, "start", PROCESS, "L1", "--data", '{"score": 7}', "--db", url)
    )
    assert "email: is required" in line
    assert "lead-not-found" not in line
    one_error_line(run(runner, "show", PROCESS, "L1", "--db", url))


def test_unknown_process_is_one_line(runner: CliRunner, url: str) -> None:
    """A process that was never deployed gives a one-line error naming it."""
    run(runner, "deploy", str(REFERENCE), "--db", url)
    line = one_error_line(run(runner, "start", "no-such-process", "L1", "--db", url))
    assert "no-such-process" in line
    assert "not deployed" in line


def test_missing_database_file_is_refused_and_not_created(
    runner: CliRunner, tmp_path: Path
) -> None:
    """A mistyped SQLite path is an error for every command but deploy, and creates no file."""
    typo = tmp_path / "typo.db"
    line = one_error_line(run(runner, "show", PROCESS, "L1", "--db", f"sqlite:///{typo}"))
    assert f"no database at {typo}" in line
    assert not typo.exists()


def test_unknown_lead_is_one_line(runner: CliRunner, url: str) -> None:
    """A lead that was never started gives a one-line error in show, history and next."""
    run(runner, "deploy", str(REFERENCE), "--db", url)
    for command in ("show", "history", "next"):
        line = one_error_line(run(runner, command, PROCESS, "ghost", "--db", url))
        assert "'ghost' has not been started" in line


def test_db_option_from_environment(runner: CliRunner, url: str) -> None:
    """LEADFLOW_DB stands in for --db, and leaving both out is a usage error (exit 2)."""
    env = {"LEADFLOW_DB": url}
    assert run(runner, "deploy", str(REFERENCE), env=env).exit_code == 0
    with Engine(url) as engine:
        assert engine.processes() == {PROCESS: [1]}
    missing = run(runner, "show", PROCESS, "L1", env={"LEADFLOW_DB": None})
    assert missing.exit_code == 2


def test_bad_database_url_is_one_line(runner: CliRunner) -> None:
    """A database URL that is not one gives a one-line error."""
    line = one_error_line(run(runner, "show", PROCESS, "L1", "--db", "not a url"))
    assert "not a database URL" in line


def test_unexpected_error_exits_3(
    runner: CliRunner, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception prints ``error: internal error`` and exits 3, no traceback."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    run(runner, "deploy", str(REFERENCE), "--db", url)
    monkeypatch.setattr(Engine, "get", broken)
    result = run(runner, "show", PROCESS, "L1", "--db", url)
    assert result.exit_code == 3
    assert result.stderr == "error: internal error: RuntimeError: boom\n"


def test_db_upgrade_and_current(runner: CliRunner, url: str) -> None:
    """``db current`` reports no tables, ``db upgrade`` creates them and reports the revision."""
    before = run(runner, "db", "current", "--db", url)
    assert before.exit_code == 0, before.output
    assert "no leadflow tables" in before.stdout
    upgraded = run(runner, "db", "upgrade", "--db", url)
    assert upgraded.exit_code == 0, upgraded.output
    revision = run(runner, "db", "current", "--db", url).stdout.strip()
    assert revision
    assert revision in upgraded.stdout


def test_version(runner: CliRunner) -> None:
    """``--version`` prints the program name and a version."""
    result = run(runner, "--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("leadflow ")


# -- demo --------------------------------------------------------------------------------------


def test_demo_prints_pipeline(runner: CliRunner) -> None:
    """The demo runs a few leads on simulated time and prints the pipeline, the losses and the
    SLA board of the SDRs the process routed them to."""
    result = run(runner, "demo", "--leads", "12", "--seed", "3")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Pipeline by stage" in out
    for column in ("stage", "leads", "share", "probability", "weighted"):
        assert column in out
    assert "SLAs by owner" in out
    assert "sdr_" in out
    assert "Simulated Mon 05 Jan 2026 14:00 ->" in out
    assert "12 leads" in out
    assert "lead-0001" in out


def test_demo_is_reproducible(runner: CliRunner, url: str) -> None:
    """The same seed gives the same pipeline, and --db keeps the leads in that database."""
    first = run(runner, "demo", "--leads", "8", "--seed", "5", "--db", url)
    second = run(runner, "demo", "--leads", "8", "--seed", "5")
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output

    def pipeline(out: str) -> str:
        return out[out.index("Pipeline by stage") :]

    assert pipeline(first.stdout) == pipeline(second.stdout)
    with Engine(url) as engine:
        assert engine.get(PROCESS, "lead-0008").lead_id == "lead-0008"
    again = run(runner, "demo", "--leads", "8", "--seed", "5", "--db", url)
    assert "already holds the demo's leads" in one_error_line(again)


def test_demo_reps_work_in_their_calendars_hours(runner: CliRunner, url: str) -> None:
    """Leads arrive around the clock, but the SDRs call, qualify and close only in their
    calendar's hours (sdr_hours: 08:00-18:00 New York, Monday to Friday), and so do leads waiting
    in the team's queue (200 leads overflow the SDRs' capacity): no call at 3 am."""
    from leadflow.definitions import load_library
    from leadflow.engine.sla import build_calendar

    result = run(runner, "demo", "--leads", "200", "--seed", "2", "--db", url)
    assert result.exit_code == 0, result.output
    hours = build_calendar(load_library(PROCESS).calendars["sdr_hours"])
    worked = 0
    with Engine(url) as engine:
        for n in range(1, 201):
            for h in engine.history(PROCESS, f"lead-{n:04d}"):
                if h.actor.startswith(("sdr_", "queue:")):
                    worked += 1
                    assert hours.is_open(h.at), (h.actor, h.kind, h.at)
    assert worked > 60


def test_demo_reports_progress_of_arrivals_then_follow_up(url: str) -> None:
    """The demo tells its progress (a rich bar on stderr): leads arrived out of --leads, then
    simulated hours of the 3 days of follow-up; each phase never goes back and ends full."""
    import random
    from datetime import timedelta

    from rich.console import Console

    from leadflow.cli._demo import START, _Simulation
    from leadflow.definitions import load_library
    from leadflow.engine.testing import ManualClock

    seen: list[tuple[str, int, int]] = []
    clock = ManualClock(START)
    with Engine(url, clock=clock, create=True) as engine:
        definition = load_library(PROCESS)
        engine.deploy(definition)
        sim = _Simulation(engine, clock, random.Random(1), Console(file=io.StringIO()), 30)
        sim.keep_hours(definition)
        sim.progress = lambda phase, done, total: seen.append((phase, done, total))
        sim.run(until=timedelta(days=3))
    arrivals = [(d, t) for p, d, t in seen if p == "arrivals"]
    follow = [(d, t) for p, d, t in seen if p == "follow-up"]
    assert arrivals == [(n, 30) for n in range(1, 31)]
    assert {t for _, t in follow} == {72}
    done = [d for d, _ in follow]
    assert done == sorted(done)
    assert done[-1] == 72
    assert done.count(72) == 1
    assert len(done) > 10
    phases = [p for p, _, _ in seen]
    assert phases == sorted(phases)  # every arrival before any follow-up


LIBRARY = sorted((Path(__file__).parents[2] / "definitions" / "library").glob("*.yaml"))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
@pytest.mark.parametrize("definition", LIBRARY, ids=lambda p: p.stem)
def test_dot_output_renders_with_graphviz(
    runner: CliRunner, definition: Path, tmp_path: Path
) -> None:
    """The DOT of every shipped process is accepted by Graphviz and renders to SVG."""
    dot = run(runner, "graph", str(definition), "--format", "dot")
    assert dot.exit_code == 0, dot.stderr
    rendered = subprocess.run(
        ["dot", "-Tsvg"], input=dot.stdout, capture_output=True, text=True, check=False
    )
    assert rendered.returncode == 0, rendered.stderr
    assert "<svg" in rendered.stdout
    assert rendered.stderr == ""


def test_deploy_of_a_version_beyond_storage_is_a_located_error(
    runner: CliRunner, tmp_path: Path, url: str
) -> None:
    """``version: 99999999999`` fails to load with its line, not as an internal error."""
    big = tmp_path / "big.yaml"
    big.write_text(
        REFERENCE.read_text(encoding="utf-8").replace("version: 1", "version: 99999999999", 1),
        encoding="utf-8",
    )
    assert run(runner, "validate", str(big)).exit_code == 1
    line = one_error_line(run(runner, "deploy", str(big), "--db", url))
    assert line == (
        f"error: {big}:2:10: definition: 'version': must be at most 2147483647, got 99999999999"
    )


def test_version_imports_no_engine() -> None:
    """``leadflow --version`` answers without importing the commands, the engine or SQLAlchemy
    (it took 1.35 s, 0.94 s of them imports)."""
    code = (
        "import sys; sys.argv = ['leadflow', '--version']; from leadflow.cli import main; main(); "
        "print(sorted(m for m in ('leadflow.engine', 'sqlalchemy', 'leadflow.cli._app', 'typer') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, loaded = done.stdout.splitlines()
    assert first.startswith("leadflow ")
    assert loaded == "[]"
