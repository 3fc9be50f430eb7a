"""How long leads stay: time in stage (median, p90) and the leads stuck in their stage."""

from __future__ import annotations

from array import array
from collections.abc import Collection
from dataclasses import dataclass
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


@dataclass(slots=True)
class _Visits:
    """Visit durations (seconds, sorted) per open stage, split by whether the visit ended."""

    durations: dict[str, array[float]]
    """Every visit; one still going on counts up to ``as_of``."""
    ended: dict[str, array[float]]
    """Visits that ended (the lead moved on) by ``as_of``."""
    going_on: dict[str, array[float]]
    """Visits still going on at ``as_of``: their time so far."""
    outcomes: dict[tuple[str, str], array[float]]
    """(stage, ``won``/``lost``) -> per lead, its first entry into the stage to its next close."""


def _visits(
    engine: Engine,
    info: ProcessInfo,
    version: int | None,
    when: datetime,
    since: datetime | None,
    candidates: list[tuple[str, str, str | None, float, float | None]] | None = None,
) -> _Visits:
    """The visits of every open stage up to ``when``; with ``candidates``, the open leads."""
    t = when.timestamp()
    start = since.timestamp() if since is not None else float("-inf")
    vf = info.value_field if candidates is not None else None
    out = _Visits({}, {}, {}, {})
    for s in info.open_stages:
        out.durations[s], out.ended[s], out.going_on[s] = array("d"), array("d"), array("d")
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
        first_entry: dict[str, float] = {}
        for i in range(last + 1):
            stage = track.stages[i]
            entered = track.times[i]
            kind = info.closed_kind(stage)
            if kind is not None:
                for open_stage, since_entry in first_entry.items():
                    out.outcomes.setdefault((open_stage, kind), array("d")).append(
                        entered - since_entry
                    )
                first_entry.clear()  # a reopened lead starts over
                continue
            if entered < start:
                continue
            first_entry.setdefault(stage, entered)
            end = track.visit_end(i)
            if end is None or end > t:
                end = t
                out.going_on.setdefault(stage, array("d")).append(end - entered)
                if candidates is not None:
                    value = number(track.field_at(vf, t)) if vf else None
                    candidates.append((track.lead_id, stage, track.owner_at(t), entered, value))
            else:
                out.ended.setdefault(stage, array("d")).append(end - entered)
            out.durations.setdefault(stage, array("d")).append(end - entered)
    for group in (out.durations, out.ended, out.going_on, out.outcomes):
        for values in group.values():
            values[:] = array("d", sorted(values))
    return out


def time_in_stage(
    engine: Engine,
    process: str,
    version: int | None = None,
    as_of: datetime | None = None,
    *,
    since: datetime | None = None,
) -> TimeInStageReport:
    """Days in each open stage: closed visits, open visits and time to the outcome, apart.

    ``median_days``/``p90_days``/``mean_days`` mix both kinds of visit (one still going on
    counts with its time so far); ``closed_*`` are the visits that ended, ``open_median_days``
    the age of those still going on, and ``to_won_median_days``/``to_lost_median_days`` the
    time from a lead's first entry into the stage to its close. ``since`` keeps only visits
    that began at or after it (to compare before and after a process change).
    """
    info = process_info(engine, process, version)
    when = as_of_or_now(engine, as_of)
    since = utc(since, "since") if since is not None else None
    visits = _visits(engine, info, version, when, since)
    rows = []
    empty = array("d")
    for stage, values in visits.durations.items():
        ended = visits.ended.get(stage, empty)
        won = visits.outcomes.get((stage, "won"), empty)
        lost = visits.outcomes.get((stage, "lost"), empty)
        rows.append(
            TimeInStageRow(
                stage=stage,
                title=info.stages[stage].title if stage in info.stages else stage,
                visits=len(values),
                open_visits=len(visits.going_on.get(stage, empty)),
                median_days=_days(percentile(values, 0.5)),
                p90_days=_days(percentile(values, 0.9)),
                mean_days=sum(values) / len(values) / DAY if values else None,
                closed_visits=len(ended),
                closed_median_days=_days(percentile(ended, 0.5)),
                closed_p90_days=_days(percentile(ended, 0.9)),
                open_median_days=_days(percentile(visits.going_on.get(stage, empty), 0.5)),
                won=len(won),
                to_won_median_days=_days(percentile(won, 0.5)),
                lost=len(lost),
                to_lost_median_days=_days(percentile(lost, 0.5)),
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
    durations = _visits(engine, info, version, when, None, candidates).durations
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
