"""``forecast`` and ``backtest``: expected wins per future period, and how good that guess was.

Periods start at ``as_of`` (for a backtest, at ``split_at``) and follow the calendar: a month
from the 15th runs to the 15th of the next month. The Markov model steps one day at a time (a
week for yearly periods); see :mod:`._report_hazard`.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from leadflow.engine._engine import Engine
from leadflow.engine.reports._common import (
    ProcessInfo,
    ReportError,
    add_period,
    as_of_or_now,
    check_period,
    process_info,
    utc,
    windows,
)
from leadflow.engine.reports._forecast import (
    DAY,
    ForecastInput,
    actual_wins,
    markov_forecast,
    naive_forecast,
)
from leadflow.engine.reports._scan import scan
from leadflow.engine.reports._types import (
    BacktestError,
    BacktestReport,
    BacktestRow,
    ForecastReport,
    ForecastRow,
)

__all__ = ["backtest", "forecast"]

METHODS = ("markov", "naive")
CATEGORIES = ("commit", "best_case", "pipeline")
"""The forecast categories of open stages, each a column of the forecast."""
MAX_PERIODS = 120


def _check_periods(periods: object) -> int:
    if isinstance(periods, bool) or not isinstance(periods, int) or not 1 <= periods <= MAX_PERIODS:
        raise ReportError(
            "periods", f"must be a whole number from 1 to {MAX_PERIODS}, not {periods!r}"
        )
    return periods


def _step(period: str) -> float:
    return 7 * DAY if period == "year" else DAY


def _label(start: datetime) -> str:
    return start.strftime("%Y-%m-%d")


def _gather(
    engine: Engine,
    process: str,
    version: int | None,
    info: ProcessInfo,
    start: datetime,
    until: datetime,
    period: str,
    periods: int,
) -> tuple[list[tuple[datetime, datetime]], list[tuple[float, float]], ForecastInput]:
    """The periods from ``start``, as datetimes and timestamps, and the history up to ``until``."""
    spans = windows(start, period, periods)
    ts = [(a.timestamp(), b.timestamp()) for a, b in spans]
    followed = tuple(f for f in (info.value_field, info.close_date_field) if f)
    data = ForecastInput(start.timestamp(), _step(period), ts[-1][1] - ts[0][0])
    data.gather(scan(engine, process, version, until=until, fields=followed), info)
    return spans, ts, data


def forecast(
    engine: Engine,
    process: str,
    version: int | None = None,
    as_of: datetime | None = None,
    *,
    periods: int = 4,
    period: str = "month",
    method: str = "markov",
    arrivals: bool = False,
    value_field: str | None = None,
    close_date_field: str | None = None,
    hidden: Collection[str] = (),
) -> ForecastReport:
    """Expected wins and won value in each of ``periods`` periods after ``as_of``.

    ``method="markov"``: the open leads flow through stage-to-stage exit rates and times in
    stage learned from history (with ``arrivals=True`` new leads also arrive at the rate of the
    last horizon-long stretch of history). ``method="naive"``: each open lead's stage
    probability x amount, at its expected close date (the close date field, else the start
    plus the average time to win).
    """
    if method not in METHODS:
        raise ReportError("method", f"{method!r} is not a method; use markov or naive")
    periods = _check_periods(periods)
    check_period(period)
    if method == "naive" and arrivals:
        raise ReportError("arrivals", "the naive forecast covers open leads only")
    info = process_info(
        engine,
        process,
        version,
        value_field=value_field,
        close_date_field=close_date_field,
        hidden=hidden,
    )
    when = as_of_or_now(engine, as_of)
    spans, ts, data = _gather(engine, process, version, info, when, when, period, periods)
    if method == "markov":
        flows = markov_forecast(data, ts, arrivals=arrivals)
    else:
        flows = naive_forecast(data, ts)
    by_category: dict[str, list[float]] = {}
    for category in CATEGORIES:
        only = {s for s in info.open_stages if info.category(s) == category}
        if not only:
            by_category[category] = [0.0] * len(ts)
            continue
        part = (
            markov_forecast(data, ts, only=only)
            if method == "markov"
            else naive_forecast(data, ts, only=only)
        )
        by_category[category] = [value for _, value in part]
    rows = tuple(
        ForecastRow(
            _label(a),
            a,
            b,
            wins,
            value,
            commit_value=by_category["commit"][k],
            best_case_value=by_category["best_case"][k],
            pipeline_value=by_category["pipeline"][k],
        )
        for k, ((a, b), (wins, value)) in enumerate(zip(spans, flows, strict=True))
    )
    return ForecastReport(
        process=process,
        version=version,
        as_of=when,
        method=method,
        period=period,
        includes_arrivals=arrivals,
        open_leads=data.open_leads,
        open_value=data.open_value,
        rows=rows,
    )


def _errors(
    method: str, forecast: list[tuple[float, float]], actual: list[tuple[float, float]]
) -> list[BacktestError]:
    out = []
    for k, measure in enumerate(("wins", "value")):
        pairs = [(f[k], a[k]) for f, a in zip(forecast, actual, strict=True)]
        mae = sum(abs(f - a) for f, a in pairs) / len(pairs)
        nonzero = [abs(f - a) / abs(a) for f, a in pairs if a]
        mape = sum(nonzero) / len(nonzero) if nonzero else None
        out.append(BacktestError(method, measure, mae, mape))
    return out


def _whole_periods(split: datetime, when: datetime, period: str) -> int:
    """How many whole periods (at most ``MAX_PERIODS``) fit between ``split`` and ``when``."""
    fit = 0
    while fit < MAX_PERIODS and add_period(split, period, fit + 1) <= when:
        fit += 1
    if fit == 0:
        raise ReportError(
            "split_at",
            f"{split.isoformat()} leaves no whole {period} of history before "
            f"{when.isoformat()} to test on; split earlier or use a shorter period",
        )
    return fit


def _test_periods(periods: int | None, split: datetime, when: datetime, period: str) -> int:
    """The periods a backtest compares: ``periods``, checked, or as many as fit (at most 12)."""
    fit = _whole_periods(split, when, period)
    if periods is None:
        periods = min(fit, 12)
    periods = _check_periods(periods)
    if periods > fit:
        raise ReportError(
            "periods",
            f"{periods} periods of a {period} after {split.date()} end after "
            f"{when.date()}; at most {fit} fit",
        )
    return periods


def backtest(
    engine: Engine,
    process: str,
    split_at: datetime,
    version: int | None = None,
    as_of: datetime | None = None,
    *,
    periods: int | None = None,
    period: str = "month",
    value_field: str | None = None,
    close_date_field: str | None = None,
    hidden: Collection[str] = (),
) -> BacktestReport:
    """Fit both forecasts on history up to ``split_at``; compare with what followed.

    The leads open at ``split_at`` are forecast for ``periods`` whole periods after it (default:
    as many as end by ``as_of``, at most 12) and their actual wins and won value in each period
    are counted. Errors per method and measure: mean absolute error and mean absolute
    percentage error (over periods whose actual is not zero).
    """
    check_period(period)
    split = utc(split_at, "split_at")
    when = as_of_or_now(engine, as_of)
    periods = _test_periods(periods, split, when, period)
    info = process_info(
        engine,
        process,
        version,
        value_field=value_field,
        close_date_field=close_date_field,
        hidden=hidden,
    )
    spans, ts, data = _gather(engine, process, version, info, split, when, period, periods)
    markov = markov_forecast(data, ts)
    naive = naive_forecast(data, ts)
    actual = actual_wins(data, ts)
    rows = tuple(
        BacktestRow(_label(a), a, b, int(act[0]), act[1], mk[0], mk[1], nv[0], nv[1])
        for (a, b), act, mk, nv in zip(spans, actual, markov, naive, strict=True)
    )
    errors = (*_errors("markov", markov, actual), *_errors("naive", naive, actual))
    return BacktestReport(
        process=process,
        version=version,
        as_of=when,
        split_at=split,
        period=period,
        open_at_split=data.open_leads,
        errors=errors,
        rows=rows,
    )
