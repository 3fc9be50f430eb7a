"""The reports' results: frozen dataclasses with ``rows`` and ``as_dict()``.

Every report carries what it was asked (process, version, ``as_of``, options) next to its rows,
so a JSON dump of it says what it is. Durations are in days (floats), amounts in the process's
value field, rates as fractions (0.25, not 25 %).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, ClassVar

__all__ = [
    "BacktestError",
    "BacktestReport",
    "BacktestRow",
    "ForecastReport",
    "ForecastRow",
    "FunnelReport",
    "FunnelRow",
    "LossReasonRow",
    "LossReasonsReport",
    "OwnerRow",
    "OwnersReport",
    "PipelineReport",
    "PipelineRow",
    "Report",
    "StuckReport",
    "StuckRow",
    "TimeInStageReport",
    "TimeInStageRow",
]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """What every report has: the process, version (None: all), the moment it describes."""

    name: ClassVar[str] = "report"
    title: ClassVar[str] = "Report"
    row_type: ClassVar[type]

    process: str
    """The process reported on."""
    version: int | None
    """The definition version reported on; None for the leads of every version."""
    as_of: datetime
    """The moment the report describes (history after it is ignored)."""
    rows: tuple[Any, ...]
    """The report's rows (dataclasses)."""

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        """The names of the rows' fields, in order."""
        return tuple(f.name for f in fields(cls.row_type))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping: ``report``, the options it ran with, and ``rows``."""
        out: dict[str, Any] = {"report": self.name}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "rows":
                continue
            if f.name == "errors":
                value = [asdict(e) for e in value]
            out[f.name] = _plain(value)
        out["rows"] = [_plain(asdict(r)) for r in self.rows]
        return out


@dataclass(frozen=True, slots=True)
class PipelineRow:
    """Open leads in one stage."""

    stage: str
    title: str
    leads: int
    value: float
    probability: int | None
    weighted_value: float
    avg_days_in_stage: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineReport(Report):
    """Open leads by stage with their value and probability-weighted value."""

    name: ClassVar[str] = "pipeline"
    title: ClassVar[str] = "Pipeline by stage"
    row_type: ClassVar[type] = PipelineRow
    value_field: str | None
    rows: tuple[PipelineRow, ...]
    """One row per open stage, in stage order."""

    @property
    def total_leads(self) -> int:
        """All open leads."""
        return sum(r.leads for r in self.rows)

    @property
    def total_value(self) -> float:
        """The value of all open leads."""
        return sum(r.value for r in self.rows)

    @property
    def total_weighted(self) -> float:
        """The probability-weighted value of all open leads."""
        return sum(r.weighted_value for r in self.rows)


@dataclass(frozen=True, slots=True)
class FunnelRow:
    """How many leads of a cohort reached a stage of the main path (or a later one)."""

    cohort: str
    stage: str
    title: str
    reached: int
    conversion: float | None
    """reached / reached of the previous stage; None for the first stage or an empty one."""
    of_entered: float | None
    """reached / reached of the first stage."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FunnelReport(Report):
    """Conversion between consecutive main-path stages, per cohort of start dates."""

    name: ClassVar[str] = "funnel"
    title: ClassVar[str] = "Funnel"
    row_type: ClassVar[type] = FunnelRow
    cohort: str | None
    path: tuple[str, ...]
    rows: tuple[FunnelRow, ...]
    """Per cohort (oldest first), one row per main-path stage."""

    def cohorts(self) -> list[str]:
        """The cohorts, oldest first."""
        return list(dict.fromkeys(r.cohort for r in self.rows))

    def overall(self) -> list[tuple[str, int]]:
        """(stage, reached) summed over every cohort."""
        totals = dict.fromkeys(self.path, 0)
        for r in self.rows:
            totals[r.stage] += r.reached
        return list(totals.items())


@dataclass(frozen=True, slots=True)
class TimeInStageRow:
    """How long visits of one stage last: all of them (open visits counted up to ``as_of``),
    the closed and the open ones apart, and the time from the stage to the lead's outcome."""

    stage: str
    title: str
    visits: int
    open_visits: int
    median_days: float | None
    """Of every visit, those still going on with their time so far (mixes both kinds)."""
    p90_days: float | None
    mean_days: float | None
    closed_visits: int = 0
    """Visits that ended (the lead moved on) by ``as_of``."""
    closed_median_days: float | None = None
    closed_p90_days: float | None = None
    open_median_days: float | None = None
    """How long the visits still going on have lasted so far."""
    won: int = 0
    """Leads that entered the stage and were then won by ``as_of``."""
    to_won_median_days: float | None = None
    """Median time from a lead's first entry into the stage to its win."""
    lost: int = 0
    to_lost_median_days: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeInStageReport(Report):
    """Median and 90th percentile of time in each open stage."""

    name: ClassVar[str] = "time-in-stage"
    title: ClassVar[str] = "Time in stage"
    row_type: ClassVar[type] = TimeInStageRow
    since: datetime | None
    rows: tuple[TimeInStageRow, ...]
    """One row per open stage, in stage order."""


@dataclass(frozen=True, slots=True)
class StuckRow:
    """An open lead that has been in its stage longer than the threshold."""

    lead_id: str
    stage: str
    owner: str | None
    entered_at: datetime
    days_in_stage: float
    threshold_days: float
    value: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StuckReport(Report):
    """Open leads in their stage for longer than ``older_than`` (or the stage's p90)."""

    name: ClassVar[str] = "stuck"
    title: ClassVar[str] = "Stuck leads"
    row_type: ClassVar[type] = StuckRow
    older_than_days: float | None
    """None: each stage's own 90th percentile of time in stage."""
    rows: tuple[StuckRow, ...]
    """Longest in stage first."""


@dataclass(frozen=True, slots=True)
class LossReasonRow:
    """Lost leads with one reason."""

    reason: str | None
    leads: int
    share: float
    value: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LossReasonsReport(Report):
    """Lost leads by reason, most frequent first."""

    name: ClassVar[str] = "loss-reasons"
    title: ClassVar[str] = "Loss reasons"
    row_type: ClassVar[type] = LossReasonRow
    loss_field: str | None
    since: datetime | None
    rows: tuple[LossReasonRow, ...]
    """Most frequent first; reason None for lost leads without one."""


@dataclass(frozen=True, slots=True)
class OwnerRow:
    """One owner's leads, outcomes and activity."""

    owner: str | None
    leads: int
    open: int
    won: int
    lost: int
    win_rate: float | None
    """won / (won + lost); None before anything closed."""
    won_value: float
    open_value: float
    activities: int
    """Activities this person recorded (as actor) on the process's leads."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnersReport(Report):
    """Per-owner leads, conversion and activity."""

    name: ClassVar[str] = "owners"
    title: ClassVar[str] = "Owners"
    row_type: ClassVar[type] = OwnerRow
    since: datetime | None
    rows: tuple[OwnerRow, ...]
    """By owner name; unassigned leads (owner None) last."""


@dataclass(frozen=True, slots=True)
class ForecastRow:
    """Expected wins and won value in one future period; the value of the leads open now split
    by their stage's forecast category (arrivals, when included, are in no category)."""

    period: str
    start: datetime
    end: datetime
    expected_wins: float
    expected_value: float
    commit_value: float = 0.0
    """Expected value of the leads now in ``commit`` stages."""
    best_case_value: float = 0.0
    """... in ``best_case`` stages."""
    pipeline_value: float = 0.0
    """... in ``pipeline`` stages."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ForecastReport(Report):
    """Expected wins and value per future period, by the Markov flow model or naively."""

    name: ClassVar[str] = "forecast"
    title: ClassVar[str] = "Forecast"
    row_type: ClassVar[type] = ForecastRow
    method: str
    period: str
    includes_arrivals: bool
    open_leads: int
    open_value: float
    rows: tuple[ForecastRow, ...]
    """One row per future period, soonest first."""


@dataclass(frozen=True, slots=True)
class BacktestRow:
    """Actual and forecast wins and value in one held-out period."""

    period: str
    start: datetime
    end: datetime
    actual_wins: int
    actual_value: float
    markov_wins: float
    markov_value: float
    naive_wins: float
    naive_value: float


@dataclass(frozen=True, slots=True)
class BacktestError:
    """One method's error on one measure over the held-out periods."""

    method: str
    measure: str
    """``wins`` or ``value``."""
    mae: float
    """Mean absolute error per period."""
    mape: float | None
    """Mean absolute percentage error over periods with a non-zero actual (0.1 = 10 %)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestReport(Report):
    """Both forecasts fitted on history before ``split_at``, against what happened after."""

    name: ClassVar[str] = "backtest"
    title: ClassVar[str] = "Forecast backtest"
    row_type: ClassVar[type] = BacktestRow
    split_at: datetime
    period: str
    open_at_split: int
    errors: tuple[BacktestError, ...]
    rows: tuple[BacktestRow, ...]
    """One row per held-out period."""

    def error(self, method: str, measure: str) -> BacktestError:
        """The error of ``method`` (markov, naive) on ``measure`` (wins, value)."""
        return next(e for e in self.errors if e.method == method and e.measure == measure)
