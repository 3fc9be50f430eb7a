"""How long leads stay: time in stage (median, p90) and the leads stuck in their stage."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Collection
from datetime import datetime, timedelta

from leadflow.engine._engine import Engine
from leadflow.engine.reports._common import (
    ProcessInfo,
    ReportError,
    as_of_or_now,
    from_ts,
    number,
    percentile,
    process_info,
    utc,
)
from leadflow.engine.reports._forecast import DAY
from leadflow.engine.reports._scan import scan
from leadflow.engine.reports._types import StuckReport, StuckRow, TimeInStageReport, TimeInStageRow

__all__ = ["stuck", "time_in_stage"]


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
                    value = number(track.field_at(vf, t)) if vf else None
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
    when = as_of_or_now(engine, as_of)
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
    hidden: Collection[str] = (),
) -> StuckReport:
    """Open leads in their stage for longer than ``older_than``, longest first.

    Without ``older_than`` each stage's own 90th percentile of time in stage is the threshold.
    """
    if older_than is not None and (
        not isinstance(older_than, timedelta) or older_than <= timedelta(0)
    ):
        raise ReportError("older_than", f"must be a positive timedelta, not {older_than!r}")
    info = process_info(engine, process, version, value_field=value_field, hidden=hidden)
    when = as_of_or_now(engine, as_of)
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
