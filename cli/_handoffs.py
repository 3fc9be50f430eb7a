"""``leadflow report handoffs``: per hand-off pair, how fast the receiving team acted."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from leadflow.cli._common import Db, console, handled, open_engine, print_json
from leadflow.cli._report import Format, FormatOpt, ProcessOpt, parse_time
from leadflow.cli._report_format import csv_table
from leadflow.cli._units import duration, percent, print_fitted
from leadflow.engine.reports import HandoffReport, handoff_report

__all__ = ["handoffs"]

_COLUMNS = (
    "policy",
    "from_team",
    "to_team",
    "count",
    "met",
    "breached",
    "stopped",
    "pending",
    "met_rate",
    "median_seconds",
    "p90_seconds",
    "median_calendar_seconds",
    "p90_calendar_seconds",
)
_HEADERS = {
    "from_team": "from",
    "to_team": "to",
    "met_rate": "met %",
    "median_seconds": "median",
    "p90_seconds": "p90",
    "median_calendar_seconds": "median (calendar)",
    "p90_calendar_seconds": "p90 (calendar)",
}
_DROP = ("p90_calendar_seconds", "median_calendar_seconds", "stopped", "pending")


def _cell(name: str, value: object) -> Text:
    if name == "from_team":
        return Text(str(value or "(none)"))
    if name == "met_rate":
        return Text(percent(value if isinstance(value, float) else None))
    if name.endswith("_seconds"):
        return Text(duration(value if isinstance(value, float | int) else None))
    return Text(str(value))


def _csv(report: HandoffReport) -> str:
    rows = (r.as_dict() for r in report.rows)
    return csv_table(
        _COLUMNS, (["" if row[c] is None else row[c] for c in _COLUMNS] for row in rows)
    )


@handled
def handoffs(
    db: Db,
    process: ProcessOpt,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="DATE", help="Hand-offs decided at or after (UTC)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="DATE", help="Hand-offs decided before (UTC)."),
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Hand-off SLAs per pair of teams: count, met %, median and p90 time to act."""
    with open_engine(db) as engine:
        report = handoff_report(
            engine,
            process,
            since=parse_time(since, "--since"),
            until=parse_time(until, "--until"),
        )
    if fmt is Format.json:
        print_json(report.as_dict())
    elif fmt is Format.csv:
        typer.echo(_csv(report), nl=False)
    else:
        out = console()
        out.print(f"[bold]Hand-offs: {process}[/bold]")
        columns = [(_HEADERS.get(c, c), k > 2) for k, c in enumerate(_COLUMNS)]
        rows = [[_cell(c, r.as_dict()[c]) for c in _COLUMNS] for r in report.rows]
        print_fitted(out, columns, rows, [_COLUMNS.index(c) for c in _DROP])
        if not report.rows:
            out.print("no hand-offs: the process has no hand-off SLA, or none happened yet")
