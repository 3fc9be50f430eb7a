"""Where the leads are: the pipeline by stage and the funnel along the main path."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime

from leadflow.engine._engine import Engine
from leadflow.engine.reports._common import (
    as_of_or_now,
    check_period,
    cohort_key,
    from_ts,
    number,
    process_info,
)
from leadflow.engine.reports._forecast import DAY
from leadflow.engine.reports._scan import scan
from leadflow.engine.reports._types import FunnelReport, FunnelRow, PipelineReport, PipelineRow

__all__ = ["funnel", "pipeline"]


def pipeline(
    engine: Engine,
    process: str,
    version: int | None = None,
    as_of: datetime | None = None,
    *,
    value_field: str | None = None,
    hidden: Collection[str] = (),
) -> PipelineReport:
    """Open leads by stage at ``as_of``: count, value, probability, weighted value, age."""
    info = process_info(engine, process, version, value_field=value_field, hidden=hidden)
    when = as_of_or_now(engine, as_of)
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
        value[stage] = value.get(stage, 0.0) + (number(track.field_at(vf, t)) if vf else 0.0)
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
    when = as_of_or_now(engine, as_of)
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
