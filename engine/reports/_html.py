"""One self-contained HTML page for any list of reports: charts and a table per report.

Everything is inline (CSS, the charts' SVG rendered offline from Vega-Lite specs, a few lines
of script that make the tables sortable), so the file opens offline. Forecasts of both methods
share one chart. A chart without data says so instead of drawing empty axes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any

from leadflow.engine.reports._charts import charts_of, forecast_charts
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
from leadflow.engine.reports._vega import figures

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
.no-data{color:#475569;font-style:italic}
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
        return f'<td class="num" data-sort="{value:g}">{escape(fmt(value, 2))}</td>'
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


def _pipeline(r: PipelineReport) -> str:
    summary = f"{r.total_leads:,} open leads"
    if r.value_field is not None:
        summary += (
            f" worth {fmt(r.total_value)}, {fmt(r.total_weighted)} weighted by stage probability"
        )
    return f"<p>{escape(summary)}.</p>{_charts(r)}{_rows_table(r)}"


def _charts(report: Report) -> str:
    return figures(lambda: charts_of(report))


def _funnel(r: FunnelReport) -> str:
    titles = {x.stage: x.title for x in r.rows}
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
    return _charts(r) + note + table


def _stuck(r: StuckReport, titles: Mapping[str, str] | None = None) -> str:
    rule = (
        f"more than {fmt(r.older_than_days)} days"
        if r.older_than_days
        else "longer than the stage's 90th percentile"
    )
    return (
        f"<p>{len(r.rows):,} open leads in their stage {escape(rule)}.</p>"
        + figures(lambda: charts_of(r, titles))
        + _rows_table(r)
    )


def _drawn(r: Report) -> str:
    return _charts(r) + _rows_table(r)


def _forecasts(reports: Sequence[ForecastReport]) -> str:
    first = reports[0]
    labels = [x.period for x in first.rows]
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
    return intro + figures(lambda: forecast_charts(reports)) + _table(columns, rows)


def _backtest(r: BacktestReport) -> str:
    errors = _table(
        ["method", "measure", "mae", "mape %"],
        [[e.method, e.measure, e.mae, None if e.mape is None else e.mape * 100] for e in r.errors],
    )
    intro = (
        f"<p>Fitted on history up to {r.split_at:%Y-%m-%d}; {r.open_at_split:,} leads were "
        "open then.</p>"
    )
    return intro + _charts(r) + errors + _rows_table(r)


_SECTIONS: dict[type, Callable[[Any], str]] = {
    PipelineReport: _pipeline,
    FunnelReport: _funnel,
    TimeInStageReport: _drawn,
    StuckReport: _stuck,
    LossReasonsReport: _drawn,
    OwnersReport: _drawn,
    BacktestReport: _backtest,
}


def to_html(
    reports: Sequence[Report],
    *,
    title: str | None = None,
    stage_titles: Mapping[str, str] | None = None,
) -> str:
    """One HTML page with a section (chart and table) per report, in the order given.

    Forecasts share one section. A :class:`Report` subclass this module does not draw (an SLA
    board, say) gets a section with its table. ``stage_titles`` (stage id -> title, from the
    definition) names the stages in the charts of reports whose rows carry only stage ids
    (stuck leads); without it their charts show the ids.
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
        if isinstance(report, StuckReport):
            parts.append(_section(report.title, _stuck(report, stage_titles), report))
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
