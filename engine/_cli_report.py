"""``leadflow report ...``: the reports of :mod:`leadflow.engine.reports` on the command line.

    leadflow report pipeline --db sqlite:///leadflow.db --process b2b-opportunity
    leadflow report funnel --process b2b-opportunity --cohort quarter --format csv
    leadflow report forecast --process b2b-opportunity --periods 6 --split-at 2026-01-01
    leadflow report overview --process b2b-opportunity --html report.html

Every command takes ``--db`` (or ``LEADFLOW_DB``), ``--process``, ``--definition-version``,
``--as-of`` (a date or time, UTC), ``--format table|csv|json`` and ``--html FILE`` (also write a
self-contained page with the charts). Errors are one ``error:`` line, as in the rest of the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from leadflow.definitions import parse_duration

from . import reports as rp
from ._cli_common import CliError, Db, console, handled, open_engine, print_json, write_or_print
from ._report_format import csv_text, rich_table
from ._runtime import Engine

__all__ = ["report_app"]

report_app = typer.Typer(
    help="Reports: pipeline, funnel, time in stage, stuck leads, losses, owners, forecast.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


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
        "--as-of", metavar="DATE", help="Describe this moment (YYYY-MM-DD[THH:MM], UTC; now)."
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


def _key(report: rp.Report) -> str:
    return f"forecast-{report.method}" if isinstance(report, rp.ForecastReport) else report.name


def _groups(reports: Sequence[rp.Report]) -> list[list[rp.Report]]:
    """Reports as printed: forecasts together (side by side), every other report alone."""
    forecasts: list[rp.Report] = [r for r in reports if isinstance(r, rp.ForecastReport)]
    out: list[list[rp.Report]] = []
    for r in reports:
        if not isinstance(r, rp.ForecastReport):
            out.append([r])
        elif r is forecasts[0]:
            out.append(forecasts)
    return out


def _title(report: rp.Report) -> str:
    version = f" v{report.version}" if report.version is not None else ""
    when = f"as of {report.as_of:%Y-%m-%d %H:%M}"
    if isinstance(report, rp.BacktestReport):
        when = f"split {report.split_at:%Y-%m-%d %H:%M}, until {report.as_of:%Y-%m-%d %H:%M}"
    return f"{report.title}: {report.process}{version}, {when} UTC"


def _errors_table(report: rp.BacktestReport) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    for name in ("method", "measure", "MAE", "MAPE"):
        table.add_column(name, justify="left" if name in ("method", "measure") else "right")
    for e in report.errors:
        mape = "-" if e.mape is None else f"{e.mape:.1%}"
        table.add_row(e.method, e.measure, f"{e.mae:,.2f}", mape)
    return table


def _emit(reports: Sequence[rp.Report], fmt: Format, html: Path | None) -> None:
    """Print ``reports`` in ``fmt``; with ``html``, also write the page."""
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
            out.print(rich_table(group))
            if isinstance(group[0], rp.BacktestReport):
                out.print(Text("Backtest error per period", style="bold"))
                out.print(_errors_table(group[0]))
    if html is not None:
        write_or_print(rp.to_html(list(reports)), html)


def _since(text: str | None) -> datetime | None:
    return parse_time(text, "--since")


@report_app.command()
@handled
def pipeline(
    db: Db,
    process: ProcessOpt,
    version: VersionOpt = None,
    as_of: AsOf = None,
    fmt: FormatOpt = Format.table,
    html: Html = None,
    value_field: ValueField = None,
) -> None:
    """Open leads by stage: count, value, probability-weighted value, days in stage."""
    when = parse_time(as_of, "--as-of")
    with open_engine(db) as engine:
        report = rp.pipeline(engine, process, version, when, value_field=value_field)
    _emit([report], fmt, html)


@report_app.command()
@handled
def funnel(
    db: Db,
    process: ProcessOpt,
    version: VersionOpt = None,
    as_of: AsOf = None,
    fmt: FormatOpt = Format.table,
    html: Html = None,
    cohort: Annotated[
        Cohort, typer.Option("--cohort", help="Group leads by the period they started in.")
    ] = Cohort.month,
    path: Annotated[
        str | None,
        typer.Option("--path", metavar="STAGES", help="Stages of the funnel, comma-separated."),
    ] = None,
) -> None:
    """Leads of each cohort that reached each main-path stage, and the conversion between."""
    when = parse_time(as_of, "--as-of")
    stages = [s.strip() for s in path.split(",")] if path is not None else None
    period = None if cohort is Cohort.all else cohort.value
    with open_engine(db) as engine:
        report = rp.funnel(engine, process, version, when, cohort=period, path=stages)
    _emit([report], fmt, html)


@report_app.command("time-in-stage")
@handled
def time_in_stage(
    db: Db,
    process: ProcessOpt,
    version: VersionOpt = None,
    as_of: AsOf = None,
    fmt: FormatOpt = Format.table,
    html: Html = None,
    since: Since = None,
) -> None:
    """Median and 90th percentile of days in each stage (visits in progress count so far)."""
    when = parse_time(as_of, "--as-of")
    with open_engine(db) as engine:
        report = rp.time_in_stage(engine, process, version, when, since=_since(since))
    _emit([report], fmt, html)


@report_app.command()
@handled
def stuck(
    db: Db,
    process: ProcessOpt,
    version: VersionOpt = None,
    as_of: AsOf = None,
    fmt: FormatOpt = Format.table,
    html: Html = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            metavar="DURATION",
            help="In the stage longer than this (14d, 2w); default: the stage's 90th percentile.",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="Show at most this many leads (0: all).")
    ] = 50,
    value_field: ValueField = None,
) -> None:
    """Open leads that have been in their stage too long, longest first."""
    when = parse_time(as_of, "--as-of")
    try:
        threshold = parse_duration(older_than) if older_than is not None else None
    except ValueError as exc:
        raise CliError(f"--older-than: {exc}") from None
    with open_engine(db) as engine:
        report = rp.stuck(
            engine, process, version, when, older_than=threshold, value_field=value_field
        )
    if limit and len(report.rows) > limit:
        kept = report.rows[:limit]
        typer.echo(f"showing the {limit} longest of {len(report.rows)} stuck leads", err=True)
        report = rp.StuckReport(
            process=report.process,
            version=report.version,
            as_of=report.as_of,
            older_than_days=report.older_than_days,
            rows=kept,
        )
    _emit([report], fmt, html)


@report_app.command("loss-reasons")
@handled
def loss_reasons(
    db: Db,
    process: ProcessOpt,
    version: VersionOpt = None,
    as_of: AsOf = None,
    fmt: FormatOpt = Format.table,
    html: Html = None,
    since: Since = None,
    loss_field: Annotated[
        str | None,
        typer.Option("--loss-field", metavar="FIELD", help="Field with the reason (lost_reason)."),
    ] = None,
    value_field: ValueField = None,
) -> None:
    """Lost leads by reason, most frequent first."""
    when = parse_time(as_of, "--as-of")
    with open_engine(db) as engine:
        report = rp.loss_reasons(
            engine,
            process,
            version,
            when,
            since=_since(since),
            loss_field=loss_field,
            value_field=value_field,
        )
    _emit([report], fmt, html)


@report_app.command()
@handled
def owners(
    db: Db,
    process: ProcessOpt,
    version: VersionOpt = None,
    as_of: AsOf = None,
    fmt: FormatOpt = Format.table,
    html: Html = None,
    since: Since = None,
    value_field: ValueField = None,
) -> None:
    """Per owner: leads, open, won, lost, win rate, won and open value, activities."""
    when = parse_time(as_of, "--as-of")
    with open_engine(db) as engine:
        report = rp.owners(
            engine, process, version, when, since=_since(since), value_field=value_field
        )
    _emit([report], fmt, html)


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


def _forecasts(
    engine: Engine,
    process: str,
    version: int | None,
    when: datetime | None,
    *,
    periods: int,
    period: Period,
    method: Method,
    arrivals: bool,
    split_at: datetime | None,
    value_field: str | None,
    close_date_field: str | None,
) -> list[rp.Report]:
    methods = ["markov", "naive"] if method is Method.both else [method.value]
    out: list[rp.Report] = [
        rp.forecast(
            engine,
            process,
            version,
            when,
            periods=periods,
            period=period.value,
            method=m,
            arrivals=arrivals and m == "markov",
            value_field=value_field,
            close_date_field=close_date_field,
        )
        for m in methods
    ]
    if split_at is not None:
        out.append(
            rp.backtest(
                engine,
                process,
                split_at,
                version,
                when,
                period=period.value,
                value_field=value_field,
                close_date_field=close_date_field,
            )
        )
    return out


@report_app.command()
@handled
def forecast(
    db: Db,
    process: ProcessOpt,
    version: VersionOpt = None,
    as_of: AsOf = None,
    fmt: FormatOpt = Format.table,
    html: Html = None,
    periods: Periods = 4,
    period: PeriodOpt = Period.month,
    method: Annotated[
        Method, typer.Option("--method", help="markov, naive, or both side by side.")
    ] = Method.both,
    arrivals: Annotated[
        bool,
        typer.Option(
            "--arrivals/--no-arrivals",
            help="Markov: also count new leads arriving at the recent rate.",
        ),
    ] = False,
    split_at: SplitAt = None,
    value_field: ValueField = None,
    close_date_field: Annotated[
        str | None,
        typer.Option("--close-date-field", metavar="FIELD", help="Expected close date field."),
    ] = None,
) -> None:
    """Expected wins and value per future period: Markov flow model and naive, side by side."""
    when = parse_time(as_of, "--as-of")
    split = parse_time(split_at, "--split-at")
    with open_engine(db) as engine:
        out = _forecasts(
            engine,
            process,
            version,
            when,
            periods=periods,
            period=period,
            method=method,
            arrivals=arrivals,
            split_at=split,
            value_field=value_field,
            close_date_field=close_date_field,
        )
    _emit(out, fmt, html)


@report_app.command()
@handled
def overview(
    db: Db,
    process: ProcessOpt,
    version: VersionOpt = None,
    as_of: AsOf = None,
    fmt: FormatOpt = Format.table,
    html: Html = None,
    cohort: Annotated[Cohort, typer.Option("--cohort", help="Funnel cohorts.")] = Cohort.month,
    periods: Periods = 4,
    period: PeriodOpt = Period.month,
    split_at: SplitAt = None,
    value_field: ValueField = None,
) -> None:
    """Every report at once (the HTML page: funnel, time in stage, forecast and the rest)."""
    when = parse_time(as_of, "--as-of")
    split = parse_time(split_at, "--split-at")
    with open_engine(db) as engine:
        out: list[rp.Report] = [
            rp.pipeline(engine, process, version, when, value_field=value_field),
            rp.funnel(
                engine,
                process,
                version,
                when,
                cohort=None if cohort is Cohort.all else cohort.value,
            ),
            rp.time_in_stage(engine, process, version, when),
            rp.stuck(engine, process, version, when, value_field=value_field),
            rp.loss_reasons(engine, process, version, when, value_field=value_field),
            rp.owners(engine, process, version, when, value_field=value_field),
        ]
        out += _forecasts(
            engine,
            process,
            version,
            when,
            periods=periods,
            period=period,
            method=Method.both,
            arrivals=False,
            split_at=split,
            value_field=value_field,
            close_date_field=None,
        )
    _emit(out, fmt, html)
