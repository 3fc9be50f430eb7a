"""Reports over a process's leads: where they are, where they get stuck, what they will win.

Every report reads the engine's database (history, instances, activities) in one streaming
pass and describes the process "as of" a moment (default: the engine's clock), replaying
history, so a report of a past date shows what was true then. Each returns a frozen dataclass
with ``rows`` and ``as_dict()``::

    from leadflow.engine import reports

    reports.pipeline(engine, "b2b-opportunity").total_weighted
    reports.funnel(engine, "b2b-opportunity", cohort="quarter").rows
    reports.forecast(engine, "b2b-opportunity", periods=4, method="markov").rows
    reports.backtest(engine, "b2b-opportunity", split_at=datetime(2026, 1, 1, tzinfo=UTC))
    Path("report.html").write_text(reports.to_html([reports.funnel(engine, "b2b-opportunity")]))

Values come from a number field (``value_field``; default the first of amount, value,
deal_value the definition declares), loss reasons from ``lost_reason`` (``loss_field``).
The forecast and backtest live in :mod:`._report_flows`; see docs/reports.md for the models.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from ._report_common import (
    ProcessInfo,
    ReportError,
    check_period,
    cohort_key,
    from_ts,
    percentile,
    process_info,
    utc,
)
from ._report_flows import backtest, forecast
from ._report_forecast import DAY
from ._report_html import to_html
from ._report_scan import activity_counts, scan
from ._report_types import (
    BacktestError,
    BacktestReport,
    BacktestRow,
    ForecastReport,
    ForecastRow,
    FunnelReport,
    FunnelRow,
    LossReasonRow,
    LossReasonsReport,
    OwnerRow,
    OwnersReport,
    PipelineReport,
    PipelineRow,
    Report,
    StuckReport,
    StuckRow,
    TimeInStageReport,
    TimeInStageRow,
)
from ._runtime import Engine

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
    "ReportError",
    "StuckReport",
    "StuckRow",
    "TimeInStageReport",
    "TimeInStageRow",
    "backtest",
    "forecast",
    "funnel",
    "loss_reasons",
    "owners",
    "pipeline",
    "stuck",
    "time_in_stage",
    "to_html",
]


def _when(engine: Engine, as_of: datetime | None) -> datetime:
    return utc(as_of, "as_of") if as_of is not None else utc(engine.clock.now(), "engine.clock")


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


def pipeline(
    engine: Engine,
    process: str,
    version: int | None = None,
    as_of: datetime | None = None,
    *,
    value_field: str | None = None,
) -> PipelineReport:
    """Open leads by stage at ``as_of``: count, value, probability, weighted value, age."""
    info = process_info(engine, process, version, value_field=value_field)
    when = _when(engine, as_of)
    t = when.timestamp()
    vf = info.value_field
    leads: Counter[str] = Counter()
    value: dict[str, float] = {}
    age: dict[str, float] = {}
    for track in scan(engine, process, version, until=when, fields=(vf,) if vf else ()):
        i = track.visit_at(t)
        if i < 0 or info.closed_kind(track.stages[i]) is not None:
            continue
        stage = track.stages[i]
        leads[stage] += 1
        value[stage] = value.get(stage, 0.0) + (_number(track.field_at(vf, t)) if vf else 0.0)
        age[stage] = age.get(stage, 0.0) + (t - track.times[i])
    stages = [*info.open_stages, *(s for s in leads if s not in info.stages)]
    rows = []
    for s in stages:
        info_s = info.stages.get(s)
        p = info_s.probability if info_s else None
        v = value.get(s, 0.0)
        n = leads[s]
        rows.append(
            PipelineRow(
                stage=s,
                title=info_s.title if info_s else s,
                leads=n,
                value=v,
                probability=p,
                weighted_value=v * (p or 0) / 100,
                avg_days_in_stage=age[s] / n / DAY if n else None,
            )
        )
    return PipelineReport(
        process=process, version=version, as_of=when, value_field=vf, rows=tuple(rows)
    )


def funnel(
    engine: Engine,
    process: str,
    version: int | None = None,
    as_of: datetime | None = None,
    *,
    cohort: str | None = "month",
    path: Sequence[str] | None = None,
) -> FunnelReport:
    """Per cohort of start dates, how many leads reached each main-path stage or a later one.

    ``cohort`` is day, week, month, quarter, year or None (one cohort, ``all``); ``path``
    overrides the main path (default: the first forward transition out of each stage from
    the initial stage to a won stage). A lead that skipped a stage counts as having reached it,
    so counts never grow along the path.
    """
    if cohort is not None:
        check_period(cohort, "cohort")
    info = process_info(engine, process, version, path=path)
    when = _when(engine, as_of)
    t = when.timestamp()
    index = {s: k for k, s in enumerate(info.main_path)}
    counts: dict[str, list[int]] = {}
    for track in scan(engine, process, version, until=when):
        last = track.visit_at(t)
        reached = max((index.get(s, -1) for s in track.stages[: last + 1]), default=-1)
        if reached < 0:
            continue
        key = cohort_key(from_ts(track.started_at), cohort)
        counts.setdefault(key, [0] * len(info.main_path))[reached] += 1
    rows = []
    for key in sorted(counts):
        n = counts[key]
        cumulative = [sum(n[k:]) for k in range(len(n))]
        for k, stage in enumerate(info.main_path):
            prev = cumulative[k - 1] if k else None
            rows.append(
                FunnelRow(
                    cohort=key,
                    stage=stage,
                    title=info.stages[stage].title,
                    reached=cumulative[k],
                    conversion=cumulative[k] / prev if prev else None,
                    of_entered=cumulative[k] / cumulative[0] if cumulative[0] else None,
                )
            )
    return FunnelReport(
        process=process,
        version=version,
        as_of=when,
        cohort=cohort,
        path=info.main_path,
        rows=tuple(rows),
    )


def _visits(
    engine: Engine,
    info: ProcessInfo,
    version: int | None,
    when: datetime,
    since: datetime | None,
    candidates: list[tuple[str, str, str | None, float, float | None]] | None = None,
) -> tuple[dict[str, array[float]], Counter[str]]:
    """Visit durations (seconds) per open stage, open visits per stage, open-lead candidates."""
    t = when.timestamp()
    start = since.timestamp() if since is not None else float("-inf")
    vf = info.value_field if candidates is not None else None
    durations: dict[str, array[float]] = {s: array("d") for s in info.open_stages}
    still: Counter[str] = Counter()
    tracks = scan(
        engine,
        info.process,
        version,
        until=when,
        fields=(vf,) if vf else (),
        owners=candidates is not None,
    )
    for track in tracks:
        last = track.visit_at(t)
        for i in range(last + 1):
            stage = track.stages[i]
            entered = track.times[i]
            if info.closed_kind(stage) is not None or entered < start:
                continue
            end = track.visit_end(i)
            if end is None or end > t:
                end = t
                still[stage] += 1
                if candidates is not None:
                    value = _number(track.field_at(vf, t)) if vf else None
                    candidates.append((track.lead_id, stage, track.owner_at(t), entered, value))
            durations.setdefault(stage, array("d")).append(end - entered)
    for values in durations.values():
        values[:] = array("d", sorted(values))
    return durations, still


def time_in_stage(
    engine: Engine,
    process: str,
    version: int | None = None,
    as_of: datetime | None = None,
    *,
    since: datetime | None = None,
) -> TimeInStageReport:
    """Median, 90th percentile and mean days of each open stage's visits.

    Visits still going on at ``as_of`` count with their time so far; ``since`` keeps only visits
    that began at or after it (to compare before and after a process change).
    """
    info = process_info(engine, process, version)
    when = _when(engine, as_of)
    since = utc(since, "since") if since is not None else None
    durations, still = _visits(engine, info, version, when, since)
    rows = []
    for stage, values in durations.items():
        rows.append(
            TimeInStageRow(
                stage=stage,
                title=info.stages[stage].title if stage in info.stages else stage,
                visits=len(values),
                open_visits=still[stage],
                median_days=_days(percentile(values, 0.5)),
                p90_days=_days(percentile(values, 0.9)),
                mean_days=sum(values) / len(values) / DAY if values else None,
            )
        )
    return TimeInStageReport(
        process=process, version=version, as_of=when, since=since, rows=tuple(rows)
    )


def _days(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / DAY


def stuck(
    engine: Engine,
    process: str,
    version: int | None = None,
    as_of: datetime | None = None,
    *,
    older_than: timedelta | None = None,
    value_field: str | None = None,
) -> StuckReport:
    """Open leads in their stage for longer than ``older_than``, longest first.

    Without ``older_than`` each stage's own 90th percentile of time in stage is the threshold.
    """
    if older_than is not None and (
        not isinstance(older_than, timedelta) or older_than <= timedelta(0)
    ):
        raise ReportError("older_than", f"must be a positive timedelta, not {older_than!r}")
    info = process_info(engine, process, version, value_field=value_field)
    when = _when(engine, as_of)
    t = when.timestamp()
    candidates: list[tuple[str, str, str | None, float, float | None]] = []
    durations, _ = _visits(engine, info, version, when, None, candidates)
    limit = {
        s: older_than.total_seconds() if older_than else percentile(v, 0.9) or 0.0
        for s, v in durations.items()
    }
    rows = [
        StuckRow(
            lead_id=lead_id,
            stage=stage,
            owner=owner,
            entered_at=from_ts(entered),
            days_in_stage=(t - entered) / DAY,
            threshold_days=limit[stage] / DAY,
            value=value,
        )
        for lead_id, stage, owner, entered, value in candidates
        if t - entered > limit[stage]
    ]
    rows.sort(key=lambda r: (-r.days_in_stage, r.lead_id))
    return StuckReport(
        process=process,
        version=version,
        as_of=when,
        older_than_days=older_than.total_seconds() / DAY if older_than else None,
        rows=tuple(rows),
    )


def loss_reasons(
    engine: Engine,
    process: str,
    version: int | None = None,
    as_of: datetime | None = None,
    *,
    since: datetime | None = None,
    loss_field: str | None = None,
    value_field: str | None = None,
) -> LossReasonsReport:
    """Leads lost by ``as_of`` (and, with ``since``, lost at or after it), by reason."""
    info = process_info(engine, process, version, loss_field=loss_field, value_field=value_field)
    when = _when(engine, as_of)
    since = utc(since, "since") if since is not None else None
    t = when.timestamp()
    start = since.timestamp() if since is not None else float("-inf")
    lf, vf = info.loss_field, info.value_field
    followed = tuple(f for f in (lf, vf) if f)
    leads: Counter[str | None] = Counter()
    value: dict[str | None, float] = {}
    for track in scan(engine, process, version, until=when, fields=followed):
        i = track.visit_at(t)
        if info.closed_kind(track.stages[i]) != "lost" or track.times[i] < start:
            continue
        reason = track.field_at(lf, t) if lf else None
        reason = None if reason is None else str(reason)
        leads[reason] += 1
        value[reason] = value.get(reason, 0.0) + (_number(track.field_at(vf, t)) if vf else 0.0)
    total = sum(leads.values())
    order = sorted(leads, key=lambda r: (-leads[r], r is None, r or ""))
    rows = tuple(LossReasonRow(r, leads[r], leads[r] / total, value[r]) for r in order)
    return LossReasonsReport(
        process=process, version=version, as_of=when, loss_field=lf, since=since, rows=rows
    )


def owners(
    engine: Engine,
    process: str,
    version: int | None = None,
    as_of: datetime | None = None,
    *,
    since: datetime | None = None,
    value_field: str | None = None,
) -> OwnersReport:
    """Per owner at ``as_of``: leads, open, won, lost, win rate, values, activities recorded.

    With ``since``, only leads started and activities recorded at or after it count.
    """
    info = process_info(engine, process, version, value_field=value_field)
    when = _when(engine, as_of)
    since = utc(since, "since") if since is not None else None
    t = when.timestamp()
    start = since.timestamp() if since is not None else float("-inf")
    vf = info.value_field
    stats: dict[str | None, list[float]] = {}
    for track in scan(
        engine, process, version, until=when, fields=(vf,) if vf else (), owners=True
    ):
        if track.started_at < start:
            continue
        i = track.visit_at(t)
        kind = info.closed_kind(track.stages[i])
        row = stats.setdefault(track.owner_at(t), [0, 0, 0, 0, 0.0, 0.0])
        amount = _number(track.field_at(vf, t)) if vf else 0.0
        row[0] += 1
        slot = {None: 1, "won": 2, "lost": 3}[kind]
        row[slot] += 1
        row[4 if kind == "won" else 5] += amount if kind != "lost" else 0.0
    acts = activity_counts(engine, process, version, when, since)
    for actor in acts:
        stats.setdefault(actor, [0, 0, 0, 0, 0.0, 0.0])
    rows = []
    for owner in sorted(stats, key=lambda o: (o is None, o or "")):
        n, open_, won, lost, won_value, open_value = stats[owner]
        rows.append(
            OwnerRow(
                owner=owner,
                leads=int(n),
                open=int(open_),
                won=int(won),
                lost=int(lost),
                win_rate=won / (won + lost) if won + lost else None,
                won_value=won_value,
                open_value=open_value,
                activities=acts.get(owner, 0),
            )
        )
    return OwnersReport(process=process, version=version, as_of=when, since=since, rows=tuple(rows))
