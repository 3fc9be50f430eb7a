"""Reports as text: rich tables for people, CSV for spreadsheets (JSON is ``as_dict()``).

A report becomes ``(columns, rows)``; forecasts of both methods merge into one table with a
column pair per method, so they read side by side.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from ._report_svg import fmt
from ._report_types import ForecastReport, Report

__all__ = ["csv_text", "rich_table", "tabular"]

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


def csv_text(reports: Sequence[Report]) -> str:
    """The report as CSV with a header row (times ISO 8601, empty cells for no value)."""
    columns, rows = tabular(reports)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_value(v) for v in row])
    return buffer.getvalue()


def _text(value: Any) -> Text:
    if value is None:
        return Text("-")
    if isinstance(value, datetime):
        return Text(value.strftime("%Y-%m-%d"))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Text(str(value))
    return Text(fmt(value, 2))


def rich_table(reports: Sequence[Report]) -> Table:
    """The report as a rich table; numbers right-aligned, times as dates."""
    columns, rows = tabular(reports, compact=True)
    table = Table(box=box.SIMPLE_HEAD)
    cells = [[_text(v) for v in row] for row in rows]
    for k, name in enumerate(columns):
        numeric = bool(rows) and all(isinstance(r[k], int | float) or r[k] is None for r in rows)
        width = max([len(row[k].plain) for row in cells] + [4])
        table.add_column(
            name.replace("_", " "), justify="right" if numeric else "left", min_width=width
        )
    for row in cells:
        table.add_row(*row)
    return table
