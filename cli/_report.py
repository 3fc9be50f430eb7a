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

from datetime import datetime
from typing import Annotated

import typer

from leadflow.cli._common import CliError, Db, handled, open_engine
from leadflow.cli._report_format import emit
from leadflow.cli._report_options import (
    AsOf,
    Cohort,
    Format,
    FormatOpt,
    Html,
    Method,
    Period,
    PeriodOpt,
    Periods,
    ProcessOpt,
    Since,
    SplitAt,
    ValueField,
    VersionOpt,
    parse_time,
)
from leadflow.definitions import parse_duration
from leadflow.engine import Engine
from leadflow.engine import reports as rp

__all__ = [  # the options are re-exported for other report commands (``report sla``)
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
    "report_app",
]

report_app = typer.Typer(
    help="Reports: pipeline, funnel, time in stage, stuck, losses, owners, forecast, fairness.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _as_of(engine: Engine, process: str, given: datetime | None) -> datetime:
    """``--as-of``, or now, or (saying so on stderr) the process's last change when the data
    is more than a day old."""
    if given is not None:
        return given
    when, stale = rp.default_as_of(engine, process)
    if stale:
        typer.echo(
            f"note: the last change to {process} in this database was at {when:%Y-%m-%d %H:%M} "
            "UTC, more than a day ago: reporting as of then (--as-of sets another moment)",
            err=True,
        )
    return when


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
    with open_engine(db) as engine:
        when = _as_of(engine, process, parse_time(as_of, "--as-of"))
        report = rp.pipeline(engine, process, version, when, value_field=value_field)
    emit([report], fmt, html)


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
        when = _as_of(engine, process, when)
        report = rp.funnel(engine, process, version, when, cohort=period, path=stages)
    emit([report], fmt, html)


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
    with open_engine(db) as engine:
        when = _as_of(engine, process, parse_time(as_of, "--as-of"))
        report = rp.time_in_stage(engine, process, version, when, since=_since(since))
    emit([report], fmt, html)


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
        when = _as_of(engine, process, when)
        report = rp.stuck(
            engine, process, version, when, older_than=threshold, value_field=value_field
        )
        titles = rp.stage_titles(engine, process, version)
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
    emit([report], fmt, html, titles)


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
    with open_engine(db) as engine:
        when = _as_of(engine, process, parse_time(as_of, "--as-of"))
        report = rp.loss_reasons(
            engine,
            process,
            version,
            when,
            since=_since(since),
            loss_field=loss_field,
            value_field=value_field,
        )
    emit([report], fmt, html)


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
    with open_engine(db) as engine:
        when = _as_of(engine, process, parse_time(as_of, "--as-of"))
        report = rp.owners(
            engine, process, version, when, since=_since(since), value_field=value_field
        )
    emit([report], fmt, html)


@report_app.command()
@handled
def fairness(
    db: Db,
    process: ProcessOpt,
    version: VersionOpt = None,
    as_of: AsOf = None,
    fmt: FormatOpt = Format.table,
    html: Html = None,
    since: Since = None,
) -> None:
    """Routing fairness: leads per team member against the fair share, deviation, owed turns."""
    with open_engine(db) as engine:
        when = _as_of(engine, process, parse_time(as_of, "--as-of"))
        report = rp.fairness(engine, process, version, when, since=_since(since))
    emit([report], fmt, html)


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
        when = _as_of(engine, process, when)
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
    emit(out, fmt, html)


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
        when = _as_of(engine, process, when)
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
        titles = rp.stage_titles(engine, process, version)
    emit(out, fmt, html, titles)
