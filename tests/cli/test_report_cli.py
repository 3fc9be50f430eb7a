"""``leadflow report ...`` through typer's CliRunner, the sub-app wired into a local app.

Each command prints a table, CSV or JSON of the same report the Python API makes, writes the
HTML page on request, and turns every mistake into one ``error:`` line without a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from leadflow.cli._report import report_app
from leadflow.engine import Engine

DEALS = Path(__file__).parents[1] / "definitions" / "reports" / "deals.yaml"
P = "deals"
BASE = datetime(2026, 1, 1, tzinfo=UTC)

app = typer.Typer()
app.add_typer(report_app, name="report")


def day(n: float) -> datetime:
    """``n`` days after 1 January 2026, 00:00 UTC."""
    return BASE + timedelta(days=n)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file with 24 deals over two months: a third won, a third lost, the rest open."""
    path = tmp_path_factory.mktemp("cli") / "r.db"
    with Engine(f"sqlite:///{path}") as e:
        e.deploy(DEALS)
        for k in range(24):
            lead, start = f"D{k:02d}", day(k * 2)
            e.start(P, lead, {"amount": 1000 + k}, owner=["ann", "bob"][k % 2], at=start)
            e.fire(P, lead, "contact", at=start + timedelta(days=3))
            if k % 3 == 0:
                e.fire(P, lead, "lose", {"lost_reason": "price"}, at=start + timedelta(days=5))
                continue
            e.fire(P, lead, "propose", at=start + timedelta(days=6))
            if k % 3 == 1 and k < 18:
                e.fire(P, lead, "win", at=start + timedelta(days=12))
    return f"sqlite:///{path}"


def run(*args: str, **kwargs: Any) -> Result:
    """Invoke ``report ARGS``."""
    return CliRunner().invoke(app, ["report", *args], **kwargs)


def common(url: str, *more: str) -> list[str]:
    """--db, --process and an as-of date, plus ``more``."""
    return ["--db", url, "--process", P, "--as-of", "2026-03-01", *more]


def one_error_line(result: Result, code: int = 1) -> str:
    """The command failed with ``code`` and printed exactly one ``error:`` line, no traceback."""
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(
    ("command", "heading"),
    [
        ("pipeline", "Pipeline by stage"),
        ("funnel", "Funnel"),
        ("time-in-stage", "Time in stage"),
        ("stuck", "Stuck leads"),
        ("loss-reasons", "Loss reasons"),
        ("owners", "Owners"),
        ("forecast", "Forecast"),
    ],
)
def test_each_command_prints_a_table(url: str, command: str, heading: str) -> None:
    """The default format is a table titled with the report, process and as-of time."""
    result = run(command, *common(url))
    assert result.exit_code == 0, result.output
    assert f"{heading}: deals, as of 2026-03-01 00:00 UTC" in result.stdout


def test_pipeline_json_is_the_apis_as_dict(url: str) -> None:
    """--format json prints as_dict(): the rows with counts and values per stage."""
    result = run("pipeline", *common(url, "--format", "json"))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["report"] == "pipeline"
    assert doc["as_of"] == "2026-03-01T00:00:00+00:00"
    leads = {r["stage"]: r["leads"] for r in doc["rows"]}
    assert leads == {"new": 0, "contacted": 0, "proposal": 10}


def test_funnel_csv_has_a_header_and_a_row_per_cohort_and_stage(url: str) -> None:
    """--format csv: header, then cohort x stage rows; --cohort all gives one cohort."""
    result = run("funnel", *common(url, "--format", "csv", "--cohort", "all"))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["cohort"], r["stage"], r["reached"]) for r in rows] == [
        ("all", "new", "24"),
        ("all", "contacted", "24"),
        ("all", "proposal", "16"),
        ("all", "won", "6"),
    ]
    assert rows[0]["conversion"] == ""


def test_funnel_path_option_picks_the_stages(url: str) -> None:
    """--path lists the funnel's stages."""
    result = run("funnel", *common(url, "--path", "contacted, won", "-f", "json"))
    assert [r["stage"] for r in json.loads(result.stdout)["rows"]][:2] == ["contacted", "won"]


def test_stuck_with_older_than_and_limit(url: str) -> None:
    """--older-than takes a duration; --limit keeps the longest and says so on stderr."""
    result = run("stuck", *common(url, "--older-than", "20d", "--limit", "2", "-f", "json"))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["older_than_days"] == 20
    assert [r["lead_id"] for r in doc["rows"]] == ["D02", "D05"]  # in proposal since day 10, 16
    assert "showing the 2 longest of" in result.stderr


def test_loss_reasons_and_owners_csv(url: str) -> None:
    """Loss reasons: 8 lost for price; owners: one row each for ann and bob."""
    losses = run("loss-reasons", *common(url, "-f", "csv"))
    assert losses.stdout.splitlines()[1].startswith("price,8,1.0,")
    owners = list(csv.DictReader(io.StringIO(run("owners", *common(url, "-f", "csv")).stdout)))
    assert [(r["owner"], r["leads"]) for r in owners] == [("ann", "12"), ("bob", "12")]


def test_forecast_shows_both_methods_side_by_side(url: str) -> None:
    """--method both (the default) gives a markov and a naive column pair per period."""
    result = run("forecast", *common(url, "--periods", "3", "-f", "csv"))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == [
        "period",
        "start",
        "end",
        "markov_wins",
        "markov_value",
        "naive_wins",
        "naive_value",
    ]
    assert [r["period"] for r in rows] == ["2026-03-01", "2026-04-01", "2026-05-01"]
    single = json.loads(run("forecast", *common(url, "--method", "naive", "-f", "json")).stdout)
    assert single["method"] == "naive"


def test_forecast_with_a_split_prints_the_backtest_and_its_errors(url: str) -> None:
    """--split-at adds the backtest table and the MAE/MAPE of both methods."""
    result = run("forecast", *common(url, "--split-at", "2026-01-20", "--period", "week"))
    assert result.exit_code == 0, result.output
    assert "Forecast backtest: deals, split 2026-01-20 00:00" in result.stdout
    assert "Backtest error per period" in result.stdout
    for method in ("markov", "naive"):
        assert method in result.stdout
    doc = json.loads(run("forecast", *common(url, "--split-at", "2026-01-20", "-f", "json")).stdout)
    assert set(doc) == {"forecast-markov", "forecast-naive", "backtest"}
    assert len(doc["backtest"]["errors"]) == 4


def test_html_option_writes_the_page_and_says_so(url: str, tmp_path: Path) -> None:
    """--html FILE writes a page with the report's chart, next to the normal output."""
    out = tmp_path / "funnel.html"
    result = run("funnel", *common(url, "--html", str(out)))
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert 'data-chart="funnel"' in page


def test_the_stuck_chart_names_stages_by_their_titles(url: str, tmp_path: Path) -> None:
    """The stuck report's rows carry stage ids; its chart on the page shows the stages'
    titles from the definition (Proposal, not proposal), in stuck and in overview."""
    for command, extra in (("stuck", ["--older-than", "20d"]), ("overview", [])):
        out = tmp_path / f"{command}.html"
        result = run(command, *common(url, *extra, "--html", str(out)))
        assert result.exit_code == 0, result.output
        found = re.search(r'<svg [^>]*data-chart="stuck".*?</svg>', out.read_text(), re.S)
        assert found is not None, command
        labels = re.findall(r"<text[^>]*>([^<]*)</text>", found.group(0))
        assert "Proposal" in labels, (command, labels)
        assert "proposal" not in labels


def test_overview_writes_every_chart(url: str, tmp_path: Path) -> None:
    """overview: all reports; its page has the funnel, time-in-stage and forecast charts."""
    out = tmp_path / "all.html"
    result = run("overview", *common(url, "--html", str(out), "-f", "json"))
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)) == {
        "pipeline",
        "funnel",
        "time-in-stage",
        "stuck",
        "loss-reasons",
        "owners",
        "forecast-markov",
        "forecast-naive",
    }
    page = out.read_text()
    for chart in ("funnel", "time-in-stage", "forecast", "pipeline", "loss-reasons"):
        assert f'data-chart="{chart}"' in page


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["pipeline", "--as-of", "2026-13-01"], "--as-of: '2026-13-01' is not a date"),
        (["time-in-stage", "--since", "yesterday"], "--since: 'yesterday' is not a date"),
        (["stuck", "--older-than", "3 weeks"], "--older-than: '3 weeks' is not a duration"),
        (["pipeline", "--value-field", "lost_reason"], "value_field: 'lost_reason' is not a"),
        (["funnel", "--path", "new,signed"], "path: unknown stages signed"),
        (
            ["forecast", "--split-at", "2026-02-20"],
            "split_at: 2026-02-20T00:00:00+00:00 leaves no whole month",
        ),
        (["forecast", "--split-at", "2026-01-20", "-f", "csv"], "--format csv writes one table"),
        (["loss-reasons", "--loss-field", "why"], "loss_field: 'why' is not a field"),
    ],
)
def test_bad_options_are_one_error_line(url: str, args: list[str], words: str) -> None:
    """Each mistake is one 'error:' line naming the option and what is allowed; exit 1."""
    command, *rest = args
    result = run(command, *common(url, *rest))  # a later --as-of overrides common's
    assert words in one_error_line(result)


def test_unknown_process_and_missing_database(url: str, tmp_path: Path) -> None:
    """An undeployed process lists the deployed ones; a missing SQLite file is not created."""
    line = one_error_line(run("pipeline", "--db", url, "--process", "nope"))
    assert "process 'nope' is not deployed (deployed: deals)" in line
    missing = tmp_path / "missing.db"
    line = one_error_line(run("owners", "--db", f"sqlite:///{missing}", "--process", P))
    assert "no database at" in line
    assert not missing.exists()


def test_bad_choices_are_usage_errors(url: str) -> None:
    """A format or cohort outside the choices is click's usage error (exit 2)."""
    assert run("pipeline", *common(url, "--format", "xml")).exit_code == 2
    assert run("funnel", *common(url, "--cohort", "fortnight")).exit_code == 2
    assert run("forecast", *common(url, "--periods", "0")).exit_code == 2


def test_db_comes_from_the_environment(url: str) -> None:
    """LEADFLOW_DB stands in for --db."""
    result = run("pipeline", "--process", P, "-f", "json", env={"LEADFLOW_DB": url})
    assert result.exit_code == 0, result.output
