"""One self-contained HTML page for any list of reports: a chart and a table per report.

Everything is inline (CSS, SVG, a few lines of script that make the tables sortable), so the
file opens offline. Forecasts of both methods share one chart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from html import escape
from typing import Any

import leadflow.engine.reports._svg as svg
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

__all__ = ["to_html"]

_HTML_ROWS = 200
_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:820px;color:#0f172a;
line-height:1.4;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #e2e8f0}
.meta{color:#475569;font-size:.9rem}table{border-collapse:collapse;margin:.8rem 0;width:100%;
font-size:.85rem}th,td{padding:.25rem .5rem;border-bottom:1px solid #e2e8f0;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}th{cursor:pointer;
background:#f8fafc}svg.chart{max-width:100%;height:auto;display:block;margin:.5rem 0}
figure{margin:1rem 0}figcaption{font-weight:600;font-size:.9rem;color:#334155}
"""
_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0];
    var rows = Array.from(body.rows);
    var dir = th.dataset.dir === "asc" ? -1 : 1;
    th.dataset.dir = dir === 1 ? "asc" : "desc";
    var key = function (r) {
      var t = r.cells[th.cellIndex].dataset.sort || r.cells[th.cellIndex].textContent;
      var n = parseFloat(t);
      return isNaN(n) ? t : n;
    };
    rows.sort(function (a, b) { return key(a) > key(b) ? dir : key(a) < key(b) ? -dir : 0; });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
document.getElementById("chart-count").textContent =
  String(document.querySelectorAll("svg.chart").length);
document.body.dataset.rendered = "yes";
"""


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        text = "-" if value is None else str(value)
        return f"<td>{escape(text)}</td>"
    if isinstance(value, datetime):
        return f"<td>{value:%Y-%m-%d %H:%M}</td>"
    if isinstance(value, int | float):
        return f'<td class="num" data-sort="{value:g}">{escape(svg.fmt(value, 2))}</td>'
    return f"<td>{escape(str(value))}</td>"


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]], note: str = "") -> str:
    head = "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    more = f'<p class="meta">{escape(note)}</p>' if note else ""
    return (
        f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}'
    )


def _rows_table(report: Report) -> str:
    rows = [[getattr(r, c) for c in report.columns()] for r in report.rows[:_HTML_ROWS]]
    hidden = len(report.rows) - len(rows)
    note = f"{hidden} more rows not shown (see --format csv)" if hidden > 0 else ""
    return _table(report.columns(), rows, note)


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _pipeline(r: PipelineReport) -> str:
    items = [
        (
            x.title,
            float(x.leads),
            f"{x.leads:,} leads, {svg.fmt(x.value)} ({svg.fmt(x.weighted_value)} weighted)",
        )
        for x in r.rows
    ]
    summary = (
        f"{r.total_leads:,} open leads worth {svg.fmt(r.total_value)}, "
        f"{svg.fmt(r.total_weighted)} weighted by stage probability."
    )
    chart = svg.hbars("pipeline", "Open leads by stage", items)
    return f"<p>{escape(summary)}</p>{chart}{_rows_table(r)}"


def _funnel(r: FunnelReport) -> str:
    titles = {x.stage: x.title for x in r.rows}
    chart = svg.funnel(
        "funnel", "Funnel, all cohorts", [(titles.get(s, s), n) for s, n in r.overall()]
    )
    by_cohort: dict[str, dict[str, Any]] = {}
    for x in r.rows:
        conv = f" ({x.conversion:.0%})" if x.conversion is not None else ""
        by_cohort.setdefault(x.cohort, {})[x.stage] = f"{x.reached:,}{conv}"
    rows = [[c, *(v.get(s, "-") for s in r.path)] for c, v in by_cohort.items()]
    table = _table(["cohort", *(titles.get(s, s) for s in r.path)], rows)
    note = (
        '<p class="meta">Leads of each cohort that reached the stage (or a later one), and in '
        "brackets the conversion from the stage before.</p>"
    )
    return chart + note + table


def _time(r: TimeInStageReport) -> str:
    items = [(x.title, x.closed_median_days, x.closed_p90_days) for x in r.rows]
    title = "Days in stage of closed visits: median and 90th percentile"
    return svg.ranges("time-in-stage", title, items) + _rows_table(r)


def _stuck(r: StuckReport) -> str:
    counts: dict[str, int] = {}
    for x in r.rows:
        counts[x.stage] = counts.get(x.stage, 0) + 1
    rule = (
        f"more than {svg.fmt(r.older_than_days)} days"
        if r.older_than_days
        else "longer than the stage's 90th percentile"
    )
    items = [(s, float(n), f"{n:,} leads") for s, n in counts.items()]
    return (
        f"<p>{len(r.rows):,} open leads in their stage {escape(rule)}.</p>"
        + svg.hbars("stuck", "Stuck leads by stage", items, color=svg.PALETTE[3])
        + _rows_table(r)
    )


def _losses(r: LossReasonsReport) -> str:
    items = [(x.reason or "(none)", float(x.leads), f"{x.leads:,} ({x.share:.0%})") for x in r.rows]
    return svg.hbars(
        "loss-reasons", "Lost leads by reason", items, color=svg.PALETTE[3]
    ) + _rows_table(r)


def _owners(r: OwnersReport) -> str:
    items = [
        (
            x.owner or "(unassigned)",
            x.won_value,
            f"{svg.fmt(x.won_value)} won, win rate {_percent(x.win_rate)}",
        )
        for x in r.rows
    ]
    return svg.hbars("owners", "Won value by owner", items, color=svg.PALETTE[2]) + _rows_table(r)


def _forecasts(reports: Sequence[ForecastReport]) -> str:
    first = reports[0]
    labels = [x.period for x in first.rows]
    value = svg.columns(
        "forecast",
        "Expected won value per period",
        labels,
        [(f.method, [x.expected_value for x in f.rows]) for f in reports],
    )
    wins = svg.columns(
        "forecast-wins",
        "Expected wins per period",
        labels,
        [(f.method, [x.expected_wins for x in f.rows]) for f in reports],
    )
    arrivals = " and new arrivals" if any(f.includes_arrivals for f in reports) else ""
    intro = (
        f"<p>{first.open_leads:,} open leads{arrivals}; periods of a {first.period} "
        f"from {first.as_of:%Y-%m-%d}.</p>"
    )
    columns = ["period"] + [f"{f.method} {m}" for f in reports for m in ("wins", "value")]
    rows = [
        [label, *(v for f in reports for v in (f.rows[k].expected_wins, f.rows[k].expected_value))]
        for k, label in enumerate(labels)
    ]
    return intro + value + wins + _table(columns, rows)


def _backtest(r: BacktestReport) -> str:
    labels = [x.period for x in r.rows]
    series = [
        ("actual", [x.actual_value for x in r.rows]),
        ("markov", [x.markov_value for x in r.rows]),
        ("naive", [x.naive_value for x in r.rows]),
    ]
    chart = svg.columns(
        "backtest", "Won value after the split: actual and forecast", labels, series
    )
    errors = _table(
        ["method", "measure", "mae", "mape %"],
        [[e.method, e.measure, e.mae, None if e.mape is None else e.mape * 100] for e in r.errors],
    )
    intro = (
        f"<p>Fitted on history up to {r.split_at:%Y-%m-%d}; {r.open_at_split:,} leads were "
        "open then.</p>"
    )
    return intro + chart + errors + _rows_table(r)


_SECTIONS: dict[type, Callable[[Any], str]] = {
    PipelineReport: _pipeline,
    FunnelReport: _funnel,
    TimeInStageReport: _time,
    StuckReport: _stuck,
    LossReasonsReport: _losses,
    OwnersReport: _owners,
    BacktestReport: _backtest,
}


def to_html(reports: Sequence[Report], *, title: str | None = None) -> str:
    """One HTML page with a section (chart and table) per report, in the order given.

    Forecasts share one section. A :class:`Report` subclass this module does not draw (an SLA
    board, say) gets a section with its table.
    """
    if not reports:
        raise ValueError("to_html needs at least one report")
    first = reports[0]
    version = f" v{first.version}" if first.version is not None else ""
    heading = title or f"{first.process}{version}: reports"
    parts = []
    forecasts = [r for r in reports if isinstance(r, ForecastReport)]
    for report in reports:
        if isinstance(report, ForecastReport):
            if report is forecasts[0]:
                parts.append(_section("Forecast", _forecasts(forecasts), report))
            continue
        render = _SECTIONS.get(type(report), _rows_table)  # other reports: their table
        parts.append(_section(report.title, render(report), report))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(heading)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(heading)}</h1>"
        f'<p class="meta">As of {first.as_of:%Y-%m-%d %H:%M} UTC; '
        '<span id="chart-count">?</span> charts.</p>'
        + "".join(parts)
        + f"<script>{_SCRIPT}</script></body></html>\n"
    )


def _section(title: str, body: str, report: Report) -> str:
    anchor = escape(report.name)
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{body}</section>'
