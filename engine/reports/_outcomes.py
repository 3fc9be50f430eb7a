"""How leads end, and who works them: loss reasons and per-owner outcomes and activity."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from datetime import datetime

from leadflow.engine._engine import Engine
from leadflow.engine.reports._common import as_of_or_now, number, process_info, utc
from leadflow.engine.reports._scan import activity_counts, scan
from leadflow.engine.reports._types import LossReasonRow, LossReasonsReport, OwnerRow, OwnersReport

__all__ = ["loss_reasons", "owners"]


def loss_reasons(
    engine: Engine,
    process: str,
    version: int | None = None,
    as_of: datetime | None = None,
    *,
    since: datetime | None = None,
    loss_field: str | None = None,
    value_field: str | None = None,
    hidden: Collection[str] = (),
) -> LossReasonsReport:
    """Leads lost by ``as_of`` (and, with ``since``, lost at or after it), by reason."""
    info = process_info(
        engine, process, version, loss_field=loss_field, value_field=value_field, hidden=hidden
    )
    when = as_of_or_now(engine, as_of)
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
        value[reason] = value.get(reason, 0.0) + (number(track.field_at(vf, t)) if vf else 0.0)
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
    hidden: Collection[str] = (),
) -> OwnersReport:
    """Per owner at ``as_of``: leads, open, won, lost, win rate, values, activities recorded.

    With ``since``, only leads started and activities recorded at or after it count.
    """
    info = process_info(engine, process, version, value_field=value_field, hidden=hidden)
    when = as_of_or_now(engine, as_of)
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
        amount = number(track.field_at(vf, t)) if vf else 0.0
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
