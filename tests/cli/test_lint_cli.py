"""``leadflow lint`` and ``leadflow diff`` through a typer app built from their functions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from leadflow.cli._lint import diff, github_annotation, lint
from leadflow.engine import Engine

DEFINITIONS = Path(__file__).parents[1] / "definitions"
REFERENCE = DEFINITIONS / "reference.yaml"
V2 = DEFINITIONS / "runtime" / "inbound-lead-v2.yaml"
BROKEN = DEFINITIONS / "invalid" / "unknown-field.yaml"
SHADOWED = DEFINITIONS / "lint" / "shadowed.yaml"

app = typer.Typer()
app.command()(lint)
app.command()(diff)


def run(*args: str) -> Result:
    """Invoke the test app; stdout and stderr stay apart."""
    return CliRunner().invoke(app, list(args))


def clean(tmp_path: Path) -> Path:
    """A definition without any finding."""
    path = tmp_path / "clean.yaml"
    path.write_text(
        "process: demo\nversion: 1\nstages:\n  new: {initial: true}\n  won: {closed: won}\n"
        "transitions:\n  - {name: win, from: new, to: won}\n"
    )
    return path


def test_clean_file_exits_zero(tmp_path: Path) -> None:
    """A definition without findings prints nothing on stdout and exits with 0."""
    result = run("lint", str(clean(tmp_path)))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "0 findings" in result.stderr


def test_warnings_exit_one_by_default_and_pass_with_fail_on_error() -> None:
    """Warnings fail the run by default; ``--fail-on error`` lets them pass."""
    result = run("lint", str(SHADOWED))
    assert result.exit_code == 1
    assert f"{SHADOWED}:20:11: LF201 [warning]" in result.stdout
    assert run("lint", str(SHADOWED), "--fail-on", "error").exit_code == 0


def test_info_passes_unless_fail_on_info() -> None:
    """Info findings alone exit with 0, and with 1 under ``--fail-on info``."""
    path = DEFINITIONS / "runtime" / "features.yaml"
    assert run("lint", str(path)).exit_code == 0
    assert run("lint", str(path), "--fail-on", "info").exit_code == 1


def test_a_file_that_does_not_load_exits_two(tmp_path: Path) -> None:
    """A definition that does not load prints its problems and exits with 2, after the others."""
    result = run("lint", str(clean(tmp_path)), str(BROKEN))
    assert result.exit_code == 2
    assert "unknown field 'budgett'" in result.stdout
    assert "[unknown-field]" in result.stdout
    assert "1 did not load" in result.stderr
    assert "Traceback" not in result.output


def test_json_format(tmp_path: Path) -> None:
    """``--format json`` prints one document with every file, its findings, counts, exit code."""
    result = run("lint", "--format", "json", str(SHADOWED), str(BROKEN))
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["exit_code"] == 2
    first, second = data["files"]
    assert (first["loads"], first["process"]) == (True, "shadowed")
    assert [f["code"] for f in first["findings"]] == ["LF201"]
    assert first["findings"][0]["line"] == 20
    assert second["loads"] is False
    assert second["problems"][0]["code"] == "unknown-field"
    assert data["counts"] == {"info": 0, "warning": 1, "error": 0}


def test_github_format_annotates(tmp_path: Path) -> None:
    """``--format github`` prints workflow commands: findings and load problems."""
    result = run("lint", "-f", "github", str(SHADOWED), str(BROKEN))
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        f"::warning file={SHADOWED},line=20,col=11,title=LF201 shadowed-transition::"
    )
    assert lines[1].startswith(f"::error file={BROKEN},line=11,col=39,title=unknown-field")


def test_github_annotation_escapes() -> None:
    """Property values escape ``:`` and ``,``; messages escape newlines and ``%``."""
    line = github_annotation("info", "50% done\nnext", "a:b,c.yaml", 3, 4, "LF402 x")
    assert line == "::notice file=a%3Ab%2Cc.yaml,line=3,col=4,title=LF402 x::50%25 done%0Anext"


def test_missing_file_is_a_load_failure(tmp_path: Path) -> None:
    """A file that does not exist exits with 2 and says so."""
    result = run("lint", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "cannot read the file" in result.stdout


def test_unknown_format_is_a_usage_error() -> None:
    """An unknown ``--format`` is refused by the command line parser (exit code 2)."""
    result = run("lint", "--format", "xml", str(REFERENCE))
    assert result.exit_code == 2
    assert "xml" in result.output


# -- diff --------------------------------------------------------------------------------------


def test_diff_in_words() -> None:
    """``diff`` prints one line per change and a count on stderr."""
    result = run("diff", str(REFERENCE), str(V2))
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "- version: 1 -> 2",
        "- stage 'qualified': probability 40 -> 50",
        "- transition 'qualify' (contacted -> qualified): guard 'score_ok' changed: message "
        "'Score must be at least 60' -> 'Score must be at least 80'; cel 'lead.score >= 60' -> "
        "'lead.score >= 80'",
    ]
    assert "3 changes" in result.stderr


def test_diff_json_without_db() -> None:
    """``diff --format json`` lists the changes with kinds and stages."""
    data = json.loads(run("diff", str(REFERENCE), str(V2), "-f", "json").stdout)
    assert [c["kind"] for c in data["changes"]] == [
        "version-changed",
        "stage-probability-changed",
        "guard-changed",
    ]
    assert "impact" not in data


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A SQLite database with the reference process deployed and two leads in 'contacted'."""
    url = f"sqlite:///{tmp_path / 'lf.db'}"
    with Engine(url) as engine:
        engine.deploy(REFERENCE)
        for lead, score in (("a", 90), ("b", 70)):
            engine.start("inbound-lead", lead, {"email": f"{lead}@x.io", "score": score})
            engine.record("inbound-lead", lead, "call")
            engine.fire("inbound-lead", lead, "contact")
        engine.start("inbound-lead", "c", {"email": "c@x.io"})
    return url


def test_diff_with_db_counts_leads(db: str) -> None:
    """With ``--db``, each change shows the open leads it touches and who fails a new guard."""
    result = run("diff", str(REFERENCE), str(V2), "--db", db)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == "- stage 'qualified': probability 40 -> 50  [0 open leads in qualified]"
    assert lines[2].endswith("[2 open leads in contacted; 1 do not meet it now]")
    assert "3 open leads on inbound-lead v1 (contacted 2, new 1)" in result.stderr
    data = json.loads(run("diff", str(REFERENCE), str(V2), "--db", db, "-f", "json").stdout)
    assert data["impact"]["by_stage"] == {"contacted": 2, "new": 1}


def test_diff_of_a_broken_definition_is_one_error(tmp_path: Path) -> None:
    """A definition that does not load is reported on stderr with exit code 1, no traceback."""
    result = run("diff", str(REFERENCE), str(BROKEN))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the definition has 2 problems")
    assert "Traceback" not in result.output


def test_diff_with_a_missing_database(tmp_path: Path) -> None:
    """``--db`` naming a SQLite file that does not exist is an error, and creates nothing."""
    missing = tmp_path / "missing.db"
    result = run("diff", str(REFERENCE), str(V2), "--db", f"sqlite:///{missing}")
    assert result.exit_code == 1
    assert "no database at" in result.stderr
    assert not missing.exists()
