"""The reports' charts: Vega-Lite specs drawn offline, with the axis ticks, labels and "no data"
sentences a reader can trust (the hand-drawn charts they replace showed 0.25 as "0.2", drew
empty axes and labelled an owner with 16 wins "0 won")."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from leadflow.engine import reports as rp
from leadflow.engine.reports import _vega

AS_OF = datetime(2026, 4, 1, tzinfo=UTC)


def chart(html: str, chart_id: str) -> str:
    """The SVG of the chart ``chart_id`` in a page (fails when there is none)."""
    found = re.search(rf'<svg [^>]*data-chart="{chart_id}".*?</svg>', html, re.S)
    assert found is not None, f"no chart {chart_id}"
    return found.group(0)


def ticks(svg: str) -> list[str]:
    """The tick labels of a chart's axes."""
    axes = re.findall(r"role-axis-label.*?</g>", svg, re.S)
    return [t for axis in axes for t in re.findall(r"<text[^>]*>([^<]*)</text>", axis)]


def forecast(wins: list[float]) -> rp.ForecastReport:
    """A forecast with the given expected wins per week and no value."""
    rows = tuple(
        rp.ForecastRow(
            period=f"W{k + 1}",
            start=AS_OF + timedelta(weeks=k),
            end=AS_OF + timedelta(weeks=k + 1),
            expected_wins=w,
            expected_value=0.0,
        )
        for k, w in enumerate(wins)
    )
    return rp.ForecastReport(
        process="deals",
        version=1,
        as_of=AS_OF,
        method="markov",
        period="week",
        includes_arrivals=False,
        open_leads=3,
        open_value=0.0,
        rows=rows,
    )


def pipeline(leads: list[int]) -> rp.PipelineReport:
    """A pipeline with the given open leads per stage."""
    rows = tuple(
        rp.PipelineRow(f"s{k}", f"Stage {k}", n, 0.0, None, 0.0, None) for k, n in enumerate(leads)
    )
    return rp.PipelineReport(process="deals", version=1, as_of=AS_OF, value_field=None, rows=rows)


def test_fractional_ticks_are_not_rounded_away() -> None:
    """Expected wins of 0.25 put a tick labelled "0.25" on the axis, and every tick label
    keeps the same decimals (no "0.2" for 0.25)."""
    svg = chart(rp.to_html([forecast([0.25, 0.1, 0.05])]), "forecast-wins")
    labels = [t for t in ticks(svg) if re.fullmatch(r"[\d.]+", t)]
    assert "0.25" in labels
    assert all(len(t.split(".")[-1]) == 2 for t in labels), labels


def test_counts_have_whole_number_ticks() -> None:
    """A pipeline of one lead has ticks 0 and 1 (never 0.5, nor 0.5 shown as a second "1");
    one of 1,234 leads has at most six round ticks."""
    svg = chart(rp.to_html([pipeline([1, 0])]), "pipeline")
    assert [t for t in ticks(svg) if re.fullmatch(r"[\d.,]+", t)] == ["0", "1"]
    svg = chart(rp.to_html([pipeline([1234, 7])]), "pipeline")
    numbers = [t for t in ticks(svg) if re.fullmatch(r"[\d.,]+", t)]
    assert numbers == ["0", "500", "1000", "1500"], numbers


def test_no_data_is_said_not_drawn() -> None:
    """A pipeline without open leads and a forecast of nothing say so instead of drawing
    empty axes; the value chart of a forecast without a value field is not drawn either."""
    html = rp.to_html([pipeline([0, 0]), forecast([0.0, 0.0])])
    assert 'data-chart="pipeline"' in html
    assert not re.search(r'<svg [^>]*data-chart="pipeline"', html)
    assert '<p class="no-data" data-chart="pipeline">No open leads.</p>' in html
    assert '<p class="no-data" data-chart="forecast-wins">' in html
    assert '<p class="no-data" data-chart="forecast">' in html


def test_owner_bars_count_wins_not_won_value() -> None:
    """An owner with 16 wins and no value field is drawn with 16 wins (not "0 won")."""
    row = rp.OwnerRow(
        owner="ann",
        leads=20,
        open=1,
        won=16,
        lost=3,
        win_rate=16 / 19,
        won_value=0.0,
        open_value=0.0,
        activities=4,
    )
    report = rp.OwnersReport(process="deals", version=1, as_of=AS_OF, since=None, rows=(row,))
    svg = chart(rp.to_html([report]), "owners")
    assert ">16 won</text>" in svg
    assert "0 won" not in svg.replace("16 won", "")
    assert "<title>ann: 16 won, 3 lost, 1 open, win rate 84%</title>" in svg


def test_marks_carry_tooltips_and_nothing_is_fetched() -> None:
    """Every bar has a ``<title>`` (the browser's tooltip) and the SVG names no other host."""
    svg = chart(rp.to_html([pipeline([3, 1])]), "pipeline")
    assert svg.count("<title>Stage 0: 3 leads</title>") == 2  # the bar and its label
    assert "http://www.w3.org/2000/svg" in svg
    assert not re.search(r"(href|src)=", svg)


def test_without_the_charts_extra_the_tables_stay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without altair or vl-convert the page says how to get charts and keeps its tables."""
    monkeypatch.setattr(_vega, "available", lambda: False)
    html = rp.to_html([pipeline([3, 1])])
    assert _vega.MISSING.split(" (")[0] in html
    assert "<svg" not in html
    assert "<td>Stage 0</td>" in html


def test_stuck_leads_are_drawn_under_the_stage_titles_given() -> None:
    """The stuck rows carry stage ids; with titles (as the web map passes them) the bars are
    labelled by title, one bar per stage."""
    rows = tuple(rp.StuckRow(f"L{k}", "new", "ana", AS_OF, 20.0, 14.0, None) for k in range(2))
    report = rp.StuckReport(
        process="deals", version=1, as_of=AS_OF, older_than_days=14.0, rows=rows
    )
    (drawn,) = rp.charts_of(report, {"new": "New lead"})
    assert drawn.spec is not None
    svg = _vega.to_svg(drawn.id, drawn.title, drawn.spec)
    assert "<title>New lead: 2 stuck leads</title>" in svg


def test_the_specs_a_page_script_draws_are_inert_data_and_highlight_on_click() -> None:
    """With ``spec`` a figure carries its spec as JSON data that no text of the report can
    end early (a stage titled ``</script>`` stays data); the bars' spec highlights the one
    clicked, the grouped columns' the legend's entry; the static report carries no spec and
    its SVG dims no bar."""
    evil = "</script><script>alert(1)</script> & co"
    report = rp.PipelineReport(
        process="deals",
        version=1,
        as_of=AS_OF,
        value_field=None,
        rows=(rp.PipelineRow("s0", evil, 2, 0.0, None, 0.0, None),),
    )
    html = _vega.figures(lambda: rp.charts_of(report), spec=True)
    found = re.search(
        r'<script type="application/json" data-chart-spec="pipeline">(.*?)</script>', html
    )
    assert found is not None
    assert "<" not in found.group(1)
    assert ">" not in found.group(1)
    spec = json.loads(found.group(1))
    assert spec == rp.charts_of(report)[0].spec
    assert evil in found.group(1).encode().decode("unicode_escape")
    assert spec["params"] == [
        {"name": "pick", "select": {"type": "point", "fields": ["label"]}, "views": ["bars"]}
    ]
    assert spec["layer"][0]["encoding"]["opacity"]["condition"]["param"] == "pick"
    assert json.dumps(rp.charts_of(report)[0].spec) == json.dumps(rp.charts_of(report)[0].spec)
    columns = rp.charts_of(forecast([0.25, 0.1]))[1].spec
    assert columns is not None
    assert columns["params"][0]["bind"] == "legend"
    static = rp.to_html([report])
    assert "data-chart-spec" not in static
    assert 'opacity="0.3"' not in chart(static, "pipeline")
