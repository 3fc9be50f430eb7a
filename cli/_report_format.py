"""Reports as text: rich tables for people, CSV for spreadsheets, JSON (``as_dict()``).

A report becomes ``(columns, rows)``; forecasts of both methods merge into one table with a
column pair per method, so they read side by side.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from leadflow.cli._common import CliError, console, print_json, write_or_print
from leadflow.cli._report_options import Format
from leadflow.cli._units import duration, fitted_table, percent, print_fitted
from leadflow.engine.reports import BacktestReport, ForecastReport, Report, to_html
from leadflow.engine.reports import format_number as fmt

__all__ = ["csv_text", "drop_order", "emit", "rich_table", "table_cells", "tabular"]

Tabular = tuple[list[str], list[list[Any]]]


_VERBOSE = {"start", "end", "title"}


def tabular(reports: Sequence[Report], *, compact: bool = False) -> Tabular:
    """Columns and rows of one report, or of several forecasts side by side.

    ``compact`` leaves out what a terminal table can do without (period ends, stage titles).
    """
    columns, rows = _tabular(reports)
    if not compact:
        return columns, rows
    keep = [k for k, c in enumerate(columns) if c not in _VERBOSE]
    return [columns[k] for k in keep], [[row[k] for k in keep] for row in rows]


def _tabular(reports: Sequence[Report]) -> Tabular:
    if len(reports) > 1 and all(isinstance(r, ForecastReport) for r in reports):
        forecasts = [r for r in reports if isinstance(r, ForecastReport)]
        columns = ["period", "start", "end"]
        for f in forecasts:
            columns += [f"{f.method}_wins", f"{f.method}_value"]
        rows = []
        for k, first in enumerate(forecasts[0].rows):
            row: list[Any] = [first.period, first.start, first.end]
            for f in forecasts:
                row += [f.rows[k].expected_wins, f.rows[k].expected_value]
            rows.append(row)
        return columns, rows
    if len(reports) != 1:
        raise ValueError("only forecasts can share one table")
    report = reports[0]
    columns = list(report.columns())
    return columns, [[getattr(r, c) for c in columns] for r in report.rows]


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 6)
    return value


def csv_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text: the header row, then ``rows`` as given (one line ending, ``\\n``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def csv_text(reports: Sequence[Report]) -> str:
    """The report as CSV with a header row (times ISO 8601, empty cells for no value)."""
    columns, rows = tabular(reports)
    return csv_table(columns, ([_csv_value(v) for v in row] for row in rows))


_PERCENT = frozenset(
    {"conversion", "of_entered", "share", "win_rate", "met_rate", "deviation_share"}
)
"""Columns of fractions (0.28), printed as percents (28%)."""
_PERCENT_POINTS = frozenset({"probability"})
"""Columns of percent points (40), printed as percents too (40%)."""


def _in_days(column: str) -> bool:
    return column.endswith("_days") or column.startswith("days_") or "_days_" in column


def _header(column: str) -> str:
    """``avg_days_in_stage`` -> ``avg in stage``: durations say their unit in their cells."""
    if _in_days(column):
        column = column.replace("_days", "").replace("days_", "")
    return column.replace("_", " ")


def _text(column: str, value: Any) -> Text:
    if value is None:
        return Text("-")
    if isinstance(value, datetime):
        return Text(value.strftime("%Y-%m-%d"))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Text(str(value))
    if column in _PERCENT:
        return Text(percent(value))
    if column in _PERCENT_POINTS:
        return Text(percent(value / 100))
    if _in_days(column):
        return Text(duration(value * 86_400))
    return Text(fmt(value, 2))


_DROP_FIRST: dict[str, tuple[str, ...]] = {
    "time-in-stage": (
        "mean_days",
        "p90_days",
        "median_days",
        "visits",
        "closed_p90_days",
        "lost",
        "won",
    ),
}
"""Per report, the columns a narrow terminal leaves out first (then the last ones): time in
stage keeps closed visits, open visits and time to the outcome apart, and drops the figures
that mix open and closed visits first."""


def drop_order(reports: Sequence[Report]) -> list[int]:
    """Indexes of the columns of :func:`table_cells` to leave out first in a narrow table."""
    columns = tabular(reports, compact=True)[0]
    first = _DROP_FIRST.get(reports[0].name, ()) if len(reports) == 1 else ()
    return [columns.index(c) for c in first if c in columns]


def table_cells(reports: Sequence[Report]) -> tuple[list[tuple[str, bool]], list[list[Text]]]:
    """The report's columns (header, right-aligned) and cells as a terminal shows them:
    durations as ``2d 5h``, shares and probabilities as ``28%``, times as dates."""
    columns, rows = tabular(reports, compact=True)
    cells = [[_text(columns[k], v) for k, v in enumerate(row)] for row in rows]
    heads = [
        (
            _header(name),
            bool(rows) and all(isinstance(r[k], int | float) or r[k] is None for r in rows),
        )
        for k, name in enumerate(columns)
    ]
    return heads, cells


def rich_table(reports: Sequence[Report], width: int = 200) -> Table:
    """The report as a rich table that fits ``width`` (see :func:`table_cells`)."""
    return fitted_table(*table_cells(reports), width, drop_order(reports))[0]


def _key(report: Report) -> str:
    return f"forecast-{report.method}" if isinstance(report, ForecastReport) else report.name


def _groups(reports: Sequence[Report]) -> list[list[Report]]:
    """Reports as printed: forecasts together (side by side), every other report alone."""
    forecasts: list[Report] = [r for r in reports if isinstance(r, ForecastReport)]
    out: list[list[Report]] = []
    for r in reports:
        if not isinstance(r, ForecastReport):
            out.append([r])
        elif r is forecasts[0]:
            out.append(forecasts)
    return out


def _title(report: Report) -> str:
    version = f" v{report.version}" if report.version is not None else ""
    when = f"as of {report.as_of:%Y-%m-%d %H:%M}"
    if isinstance(report, BacktestReport):
        when = f"split {report.split_at:%Y-%m-%d %H:%M}, until {report.as_of:%Y-%m-%d %H:%M}"
    return f"{report.title}: {report.process}{version}, {when} UTC"


def _errors_table(report: BacktestReport) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    for name in ("method", "measure", "MAE", "MAPE"):
        table.add_column(name, justify="left" if name in ("method", "measure") else "right")
    for e in report.errors:
        mape = percent(e.mape)
        table.add_row(e.method, e.measure, f"{e.mae:,.2f}", mape)
    return table


def emit(
    reports: Sequence[Report],
    fmt: Format,
    html: Path | None,
    stage_titles: Mapping[str, str] | None = None,
) -> None:
    """Print ``reports`` in ``fmt``; with ``html``, also write the page (its charts name the
    stages by ``stage_titles`` where the reports carry only ids)."""
    groups = _groups(reports)
    if fmt is Format.csv and len(groups) > 1:
        raise CliError(
            "--format csv writes one table and this command makes several; "
            "use --format table or json"
        )
    if fmt is Format.json:
        if len(reports) == 1:
            print_json(reports[0].as_dict())
        else:
            print_json({_key(r): r.as_dict() for r in reports})
    elif fmt is Format.csv:
        typer.echo(csv_text(groups[0]), nl=False)
    else:
        out = console()
        for group in groups:
            out.print(Text(_title(group[0]), style="bold"))
            print_fitted(out, *table_cells(group), drop_order(group))
            if isinstance(group[0], BacktestReport):
                out.print(Text("Backtest error per period", style="bold"))
                out.print(_errors_table(group[0]))
    if html is not None:
        write_or_print(to_html(list(reports), stage_titles=stage_titles), html)
