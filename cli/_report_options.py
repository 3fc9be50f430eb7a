"""The options of ``leadflow report ...``: choices, typed option declarations, time parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from leadflow.cli._common import CliError

__all__ = [
    "AsOf",
    "Cohort",
    "Format",
    "FormatOpt",
    "Html",
    "Method",
    "Period",
    "PeriodOpt",
    "Periods",
    "ProcessOpt",
    "Since",
    "SplitAt",
    "ValueField",
    "VersionOpt",
    "parse_time",
]


class Format(StrEnum):
    """How a report is printed."""

    table = "table"
    csv = "csv"
    json = "json"


class Cohort(StrEnum):
    """Cohort periods of the funnel (``all``: one cohort)."""

    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"
    all = "all"


class Period(StrEnum):
    """Forecast periods."""

    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"


class Method(StrEnum):
    """Forecast methods (``both``: side by side)."""

    both = "both"
    markov = "markov"
    naive = "naive"


ProcessOpt = Annotated[
    str, typer.Option("--process", "-p", metavar="PROCESS", help="The process id.")
]
VersionOpt = Annotated[
    int | None,
    typer.Option("--definition-version", min=1, help="Only leads of this definition version."),
]
AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of", metavar="DATE", help="Describe this moment (YYYY-MM-DD\\[THH:MM], UTC; now)."
    ),
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table, csv or json.")]
Html = Annotated[
    Path | None,
    typer.Option("--html", metavar="FILE", help="Also write a self-contained HTML page."),
]
ValueField = Annotated[
    str | None,
    typer.Option("--value-field", metavar="FIELD", help="Number field with the deal value."),
]
Since = Annotated[
    str | None,
    typer.Option("--since", metavar="DATE", help="Only what began at or after this date."),
]


def parse_time(text: str | None, option: str) -> datetime | None:
    """``--as-of``-style text as an aware UTC datetime (a date is its midnight, UTC)."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(
            f"{option}: {text!r} is not a date or time; use YYYY-MM-DD or YYYY-MM-DDTHH:MM "
            "(UTC unless it ends with a zone such as +02:00)"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Periods = Annotated[int, typer.Option("--periods", min=1, max=120, help="How many periods.")]
PeriodOpt = Annotated[Period, typer.Option("--period", help="Length of a period.")]
SplitAt = Annotated[
    str | None,
    typer.Option(
        "--split-at",
        metavar="DATE",
        help="Also backtest: fit on history before DATE, compare with what followed.",
    ),
]
