"""The reports' charts as declarative Vega-Lite specs, built with altair.

One function per report returns its :class:`Chart` list; a chart without data has no spec and
says why instead (a drawn empty chart tells nothing). Counts get whole-number ticks; other axes
keep Vega's own tick format, which shows 0.25 as "0.25". Every mark carries a ``description``
(the text a screen reader and the tooltip give) and a ``tooltip``. Where a script draws
the spec (the web app's map page), a click on a bar (or on a legend entry of grouped
columns) highlights it and dims the others; shift-click adds to the highlight, a click on
empty space clears it. Drawn offline, nothing is highlighted: every mark keeps full opacity.

:mod:`._vega` renders the specs to SVG offline (vl-convert); the HTML report and the web app's
process map both draw these charts. altair and vl-convert are the ``charts`` extra: they are
imported when a chart is built, not when the engine is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leadflow.engine.reports._format import fmt
from leadflow.engine.reports._types import (
    BacktestReport,
    ForecastReport,
    FunnelReport,
    LossReasonsReport,
    OwnersReport,
    PipelineReport,
    Report,
    StuckReport,
    TimeInStageReport,
)

__all__ = ["PALETTE", "Chart", "charts_of", "forecast_charts"]

PALETTE = ("#2563eb", "#b45309", "#047857", "#dc2626", "#7c3aed", "#475569")
"""Series colours (the first is the bars' blue); each passes 3:1 contrast on white."""
WIDTH = 480


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart of a report: its id, title and Vega-Lite spec (None when there is no data,
    with ``empty`` saying so)."""

    id: str
    title: str
    spec: dict[str, Any] | None
    empty: str = "No data to draw."


def _whole(title: str, top: float) -> dict[str, Any]:
    """A count axis: integer ticks, at most six, the last one at or above ``top``, which
    also ends the scale (Vega's own ticks put 0.5 between 0 and 1)."""
    import altair as alt

    step = 1
    while top / step > 5:
        step = next(s * 10**k for k in range(12) for s in (1, 2, 5) if s * 10**k > step)
    values = list(range(0, int(top) + step, step))
    return {
        "title": title,
        "axis": alt.Axis(format="d", values=values),
        "scale": alt.Scale(domain=[0, values[-1]], nice=False),
    }


def _n(count: int, noun: str) -> str:
    """``1 lead``, ``3 leads``."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def _config(chart: Any) -> dict[str, Any]:
    spec: dict[str, Any] = (
        chart.configure_range(category=list(PALETTE))
        .configure_view(stroke=None)
        .configure(padding={"left": 24, "right": 24, "top": 5, "bottom": 5})
        .to_dict()
    )
    return spec


DIMMED = 0.3
"""The opacity of the marks a highlight leaves out."""


def _highlight(field: str, *, legend: bool = False) -> tuple[Any, Any]:
    """A point selection ``pick`` of ``field`` (chosen by click, or on the legend) and the
    opacity encoding that dims the marks outside it (none are dimmed while it is empty)."""
    import altair as alt

    pick = alt.selection_point(
        name="pick", fields=[field], bind="legend" if legend else alt.Undefined
    )
    return pick, alt.condition(pick, alt.value(1.0), alt.value(DIMMED))


def _bar(label: str, value: int, text: str, note: str) -> dict[str, Any]:
    """A row of :func:`_bars`."""
    return {"label": label, "value": value, "text": text, "note": note}


def _bars(
    chart: tuple[str, str, str],
    rows: Sequence[dict[str, Any]],
    value_title: str,
    *,
    draw: bool,
    color: str = PALETTE[0],
) -> Chart:
    """Horizontal bars of a count (``value``) per ``label`` (in the rows' order), ``text``
    after each bar and ``note`` as the mark's description; ``chart`` is the id, title and
    the sentence shown instead when not ``draw``."""
    chart_id, title, empty = chart
    if not draw or not rows:
        return Chart(chart_id, title, None, empty)
    import altair as alt

    top = max((float(row["value"]) for row in rows), default=0.0)
    base = alt.Chart(alt.InlineData(values=list(rows))).encode(
        y=alt.Y("label:N", sort=None, title=None, axis=alt.Axis(labelLimit=200)),
        x=alt.X("value:Q", **_whole(value_title, top)),
        description=alt.Description("note:N"),
        tooltip=alt.Tooltip("note:N", title=value_title),
    )
    text = base.mark_text(align="left", dx=4, color="#1e293b").encode(text="text:N")
    pick, opacity = _highlight("label")
    # a named layer: altair would name it at random, and the spec is a cache key
    bars = (
        base.mark_bar(color=color).add_params(pick).encode(opacity=opacity).properties(name="bars")
    )
    spec = _config((bars + text).properties(width=WIDTH))
    return Chart(chart_id, title, spec)


def _pipeline(r: PipelineReport) -> list[Chart]:
    def note(x: Any) -> str:
        worth = f", {fmt(x.value)} ({fmt(x.weighted_value)} weighted)" if r.value_field else ""
        return f"{x.title}: {_n(x.leads, 'lead')}{worth}"

    rows = [_bar(x.title, x.leads, f"{x.leads:,}", note(x)) for x in r.rows]
    chart = ("pipeline", "Open leads by stage", "No open leads.")
    return [_bars(chart, rows, "Open leads", draw=r.total_leads > 0)]


def _funnel(r: FunnelReport) -> list[Chart]:
    titles = {x.stage: x.title for x in r.rows}
    overall = list(r.overall())
    rows = []
    for k, (stage, reached) in enumerate(overall):
        before = overall[k - 1][1] if k else None
        conversion = f", {reached / before:.0%} of the stage before" if before else ""
        title = titles.get(stage, stage)
        note = f"{title}: {_n(reached, 'lead')} reached it{conversion}"
        rows.append(_bar(title, reached, f"{reached:,}", note))
    chart = ("funnel", "Funnel, all cohorts", "No lead entered the process.")
    draw = bool(overall) and overall[0][1] > 0
    return [_bars(chart, rows, "Leads that reached the stage", draw=draw)]


def _time(r: TimeInStageReport) -> list[Chart]:
    import altair as alt

    rows = [
        {
            "label": x.title,
            "median": x.closed_median_days,
            "p90": x.closed_p90_days,
            "note": f"{x.title}: median {fmt(x.closed_median_days)} days, "
            f"90th percentile {fmt(x.closed_p90_days)} days ({x.closed_visits:,} closed visits)",
        }
        for x in r.rows
        if x.closed_median_days is not None and x.closed_p90_days is not None
    ]
    title = "Days in stage of closed visits: median (bar) and 90th percentile (line)"
    if not rows:
        return [Chart("time-in-stage", title, None, "No visit of a stage has ended yet.")]
    base = alt.Chart(alt.InlineData(values=rows)).encode(
        y=alt.Y("label:N", sort=None, title=None, axis=alt.Axis(labelLimit=200)),
        description=alt.Description("note:N"),
        tooltip=alt.Tooltip("note:N", title="Days in stage"),
    )
    pick, opacity = _highlight("label")
    bar = (
        base.mark_bar(color=PALETTE[0], height=14)
        .properties(name="bars")
        .add_params(pick)
        .encode(x=alt.X("median:Q", title="Days"), opacity=opacity)
    )
    rule = base.mark_rule(color=PALETTE[1], strokeWidth=3).encode(x="median:Q", x2="p90:Q")
    tick = base.mark_tick(color=PALETTE[1], thickness=3).encode(x="p90:Q")
    return [Chart("time-in-stage", title, _config((bar + rule + tick).properties(width=WIDTH)))]


def _stuck(r: StuckReport, titles: Mapping[str, str]) -> list[Chart]:
    counts: dict[str, int] = {}
    for x in r.rows:
        title = titles.get(x.stage, x.stage)
        counts[title] = counts.get(title, 0) + 1
    rows = [_bar(s, n, f"{n:,}", f"{s}: {_n(n, 'stuck lead')}") for s, n in counts.items()]
    chart = ("stuck", "Stuck leads by stage", "No lead is stuck.")
    return [_bars(chart, rows, "Stuck leads", draw=True, color=PALETTE[3])]


def _losses(r: LossReasonsReport) -> list[Chart]:
    def note(x: Any) -> str:
        return f"{x.reason or '(none)'}: {_n(x.leads, 'lost lead')} ({x.share:.0%})"

    rows = [
        _bar(x.reason or "(none)", x.leads, f"{x.leads:,} ({x.share:.0%})", note(x)) for x in r.rows
    ]
    chart = ("loss-reasons", "Lost leads by reason", "No lead was lost.")
    return [_bars(chart, rows, "Lost leads", draw=True, color=PALETTE[3])]


def _owners(r: OwnersReport) -> list[Chart]:
    def note(x: Any) -> str:
        rate = "" if x.win_rate is None else f", win rate {x.win_rate:.0%}"
        value = f", {fmt(x.won_value)} won value" if x.won_value else ""
        who = x.owner or "(unassigned)"
        return f"{who}: {x.won:,} won, {x.lost:,} lost, {x.open:,} open{rate}{value}"

    rows = [_bar(x.owner or "(unassigned)", x.won, f"{x.won:,} won", note(x)) for x in r.rows]
    chart = ("owners", "Won leads by owner", "No lead was won yet.")
    draw = any(x.won for x in r.rows)
    return [_bars(chart, rows, "Won leads", draw=draw, color=PALETTE[2])]


def _columns(
    chart_id: str,
    title: str,
    series: Sequence[tuple[str, Sequence[tuple[str, float]]]],
) -> Chart:
    """Grouped columns: per period one column per series; no spec when every value is 0."""
    import altair as alt

    rows = [
        {
            "period": period,
            "series": name,
            "value": value,
            "note": f"{name}, {period}: {fmt(value, 2)}",
        }
        for name, points in series
        for period, value in points
    ]
    if not any(row["value"] for row in rows):
        return Chart(chart_id, title, None, "Nothing expected in these periods.")
    pick, opacity = _highlight("series", legend=True)
    chart = (
        alt.Chart(alt.InlineData(values=rows))
        .mark_bar()
        .add_params(pick)
        .encode(
            opacity=opacity,
            x=alt.X("period:N", sort=None, title=None, axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("series:N", sort=None),
            y=alt.Y("value:Q", title=title),
            color=alt.Color("series:N", sort=None, title=None, legend=alt.Legend(orient="top")),
            description=alt.Description("note:N"),
            tooltip=alt.Tooltip("note:N", title=title),
        )
        .properties(width=WIDTH)
    )
    return Chart(chart_id, title, _config(chart))


def forecast_charts(reports: Sequence[ForecastReport]) -> list[Chart]:
    """The forecasts' expected wins (and value, when a value field counts) per period, one
    series per method."""
    wins = _columns(
        "forecast-wins",
        "Expected wins per period",
        [(f.method, [(x.period, x.expected_wins) for x in f.rows]) for f in reports],
    )
    value = _columns(
        "forecast",
        "Expected won value per period",
        [(f.method, [(x.period, x.expected_value) for x in f.rows]) for f in reports],
    )
    if value.spec is None and not any(f.open_value for f in reports):
        value = Chart(value.id, value.title, None, "No open value: no value field counts.")
    return [value, wins]


def _backtest(r: BacktestReport) -> list[Chart]:
    series = [
        ("actual", [(x.period, x.actual_value) for x in r.rows]),
        ("markov", [(x.period, x.markov_value) for x in r.rows]),
        ("naive", [(x.period, x.naive_value) for x in r.rows]),
    ]
    title = "Won value after the split: actual and forecast"
    return [_columns("backtest", title, series)]


_CHARTS: dict[type, Callable[[Any], list[Chart]]] = {
    PipelineReport: _pipeline,
    FunnelReport: _funnel,
    TimeInStageReport: _time,
    LossReasonsReport: _losses,
    OwnersReport: _owners,
    BacktestReport: _backtest,
}


def charts_of(report: Report, titles: Mapping[str, str] | None = None) -> list[Chart]:
    """The charts of ``report`` (none for a report type without charts; forecasts: see
    :func:`forecast_charts`, which draws several methods in one chart). ``titles`` names the
    stages of a report whose rows carry only stage ids (stuck leads)."""
    if isinstance(report, ForecastReport):
        return forecast_charts([report])
    if isinstance(report, StuckReport):
        return _stuck(report, titles or {})
    draw = _CHARTS.get(type(report))
    return draw(report) if draw is not None else []
