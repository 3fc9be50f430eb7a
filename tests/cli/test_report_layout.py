"""Reports as people read them: one duration format (``12m 30s``, ``2d 5h``), one percentage
format (``28%``) and every table readable at 80 columns (columns left out are named)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.text import Text
from typer.testing import CliRunner

from leadflow.cli import app
from leadflow.cli._units import duration, fitted_table, percent

REPORTS = ["sla", "pipeline", "funnel", "time-in-stage", "stuck", "loss-reasons", "owners"]
REPORTS += ["forecast", "overview"]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database the demo filled with 80 inbound leads."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    result = CliRunner().invoke(app, ["demo", "--leads", "80", "--db", url])
    assert result.exit_code == 0, result.output
    return url


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0s"),
        (45.4, "45s"),
        (750, "12m 30s"),
        (11_100, "3h 5m"),
        (190_818, "2d 5h"),
    ],
)
def test_one_duration_format(seconds: float | None, text: str) -> None:
    """Durations read at their scale, with two units at most."""
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("fraction", "text"), [(None, "-"), (0.0, "0%"), (0.001, "<1%"), (0.284, "28%"), (1, "100%")]
)
def test_one_percentage_format(fraction: float | None, text: str) -> None:
    """Shares, rates and probabilities all print as whole percents."""
    assert percent(fraction) == text


def test_a_table_leaves_out_columns_by_priority() -> None:
    """Columns named first in ``drop`` go first; the first column always stays."""
    columns = [("owner", False), ("a", True), ("b", True), ("c", True)]
    rows = [[Text("x" * 10), Text("1" * 10), Text("2" * 10), Text("3" * 10)]]
    table, dropped = fitted_table(columns, rows, 39, drop=[1])  # 3 columns need 40
    assert dropped == ["a", "c"]
    assert [c.header for c in table.columns] == ["owner", "b"]


@pytest.mark.parametrize("report", REPORTS)
def test_every_report_reads_at_80_columns(report: str, demo_db: str) -> None:
    """No line is wider than 80 columns and no cell or header is cut short with an ellipsis."""
    result = CliRunner().invoke(
        app,
        ["report", report, "--db", demo_db, "--process", "inbound-lead"],
        env={"COLUMNS": "80"},
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in result.stdout


def test_time_in_stage_at_80_columns_keeps_closed_open_and_outcome_apart(demo_db: str) -> None:
    """A narrow terminal leaves out the figures that mix open and closed visits first, and keeps
    the closed visits' median, the open visits' age and the time to won and to lost."""
    result = CliRunner().invoke(
        app,
        ["report", "time-in-stage", "--db", demo_db, "--process", "inbound-lead"],
        env={"COLUMNS": "80"},
    )
    assert result.exit_code == 0, result.output
    header = " ".join(result.stdout.splitlines()[2:4])
    for word in ("closed", "open", "won", "to won", "to lost"):
        assert word in header
    assert "left out to fit 80 columns: visits, median, p90, mean" in result.stdout


def test_the_sla_board_shows_durations_and_percents(demo_db: str) -> None:
    """Response times print as ``3m 48s``, never as Python's ``0:03:48``; rates as ``100%``."""
    result = CliRunner().invoke(
        app,
        ["report", "sla", "--db", demo_db, "--process", "inbound-lead"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert ":0" not in result.stdout.split("\n", 2)[2]
    assert "%" in result.stdout
    assert any(w.endswith("s") and w[:-1].isdigit() for w in result.stdout.split())


def test_report_tables_print_shares_and_probabilities_alike(demo_db: str, tmp_path: Path) -> None:
    """Probability 40 and share 0.28 both print as percents in the tables."""
    pipeline = CliRunner().invoke(
        app, ["report", "pipeline", "--db", demo_db, "--process", "inbound-lead"]
    )
    losses = CliRunner().invoke(
        app, ["report", "loss-reasons", "--db", demo_db, "--process", "inbound-lead"]
    )
    assert "40%" in pipeline.stdout
    share_cells = [w for w in losses.stdout.split() if w.endswith("%")]
    assert share_cells
    assert not any(w.startswith("0.") for w in losses.stdout.split())


def test_old_data_is_reported_as_of_its_last_change(demo_db: str) -> None:
    """The demo's data is from January 2026: without --as-of, reports describe its last change
    (not today, when every lead would be months "in stage") and say so on stderr."""
    args = ["report", "pipeline", "--db", demo_db, "--process", "inbound-lead", "-f", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("note: the last change to inbound-lead in this database was ")
    assert "reporting as of then (--as-of sets another moment)" in result.stderr
    report = json.loads(result.stdout)
    assert report["as_of"].startswith("2026-01-")
    assert all(r["avg_days_in_stage"] < 30 for r in report["rows"] if r["avg_days_in_stage"])
    given = CliRunner().invoke(app, [*args, "--as-of", "2026-01-08"])
    assert given.stderr == ""
    assert json.loads(given.stdout)["as_of"].startswith("2026-01-08")


def test_graph_takes_as_of_and_defaults_like_the_reports(demo_db: str) -> None:
    """``graph --db`` measures time in stage as of the data's last change (saying so), or as of
    ``--as-of``; ``--as-of`` without ``--db`` is refused."""
    base = ["graph", "inbound-lead", "--db", demo_db]
    default = CliRunner().invoke(app, base)
    assert default.exit_code == 0, default.output
    assert "time in stage is as of then" in default.stderr
    given = CliRunner().invoke(app, [*base, "--as-of", "2026-01-08"])
    assert given.exit_code == 0, given.output
    assert given.stderr == ""
    alone = CliRunner().invoke(app, ["graph", "inbound-lead", "--as-of", "2026-01-08"])
    assert alone.exit_code == 1
    assert "--as-of is the moment of the live leads in a database: it needs --db URL" in (
        alone.stderr
    )
