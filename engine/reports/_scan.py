"""One streaming pass over a process's history, one lead at a time.

``scan`` reads ``lf_history`` joined with ``lf_instances`` in (instance, seq) order through a
streaming cursor (a server-side cursor on PostgreSQL) and yields a :class:`LeadTrack` per lead:
its stage visits, the changes of the fields a report follows and its owner changes. Only one
lead's rows are in memory at a time; details JSON is parsed only for rows that can touch a
followed field. Reports then ask a track what was true at any moment (``stage_at``,
``field_at``, ``owner_at``), so a report "as of" a past date replays history instead of reading
the current rows.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from leadflow.engine._engine import Engine
from leadflow.engine._errors import StorageError
from leadflow.engine.store.tables import activities as activities_table
from leadflow.engine.store.tables import history as history_table
from leadflow.engine.store.tables import instances as instances_table

__all__ = ["LeadTrack", "activity_counts", "scan"]

_EPOCH = datetime(1970, 1, 1)
_YIELD = 5000


@dataclass(slots=True)
class LeadTrack:
    """What history says about one lead; times are epoch seconds (UTC), never decreasing."""

    lead_id: str
    definition_version: int
    owner: str | None
    """The owner now (``owner_at`` replays assignments for earlier moments)."""
    times: list[float] = field(default_factory=list)
    """When each stage visit began (the first is the start)."""
    stages: list[str] = field(default_factory=list)
    """The stage of each visit."""
    changes: dict[str, list[tuple[float, Any]]] = field(default_factory=dict)
    """Followed field -> [(when, new value)]; None when unset."""
    assigns: list[tuple[float, str | None, str | None]] = field(default_factory=list)
    """[(when, previous owner, new owner)]."""

    @property
    def started_at(self) -> float:
        """When the lead started."""
        return self.times[0]

    def visit_at(self, when: float) -> int:
        """Index of the visit the lead was in at ``when``; -1 before it started."""
        return bisect_right(self.times, when) - 1

    def visit_end(self, index: int) -> float | None:
        """When visit ``index`` ended, None while it lasts."""
        return self.times[index + 1] if index + 1 < len(self.times) else None

    def field_at(self, name: str, when: float) -> Any:
        """The value of a followed field at ``when`` (None when unset)."""
        value = None
        for at, new in self.changes.get(name, ()):
            if at > when:
                break
            value = new
        return value

    def owner_at(self, when: float) -> str | None:
        """Who owned the lead at ``when``."""
        if not self.assigns:
            return self.owner
        owner = self.assigns[0][1]
        for at, _, new in self.assigns:
            if at > when:
                break
            owner = new
        return owner


def _decoder(store_is_sqlite: bool) -> Any:
    if store_is_sqlite:

        def decode_text(value: str) -> float:
            return (datetime.fromisoformat(value) - _EPOCH).total_seconds()

        return decode_text

    def decode_aware(value: datetime) -> float:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()

    return decode_aware


def _follow(track: LeadTrack, at: float, kind: str, details: str, fields: Sequence[str]) -> None:
    if not any(f'"{name}"' in details for name in fields):
        return
    doc = json.loads(details)
    if kind == "started":
        data = doc.get("data") or {}
        for name in fields:
            if name in data:
                track.changes.setdefault(name, []).append((at, data[name]))
        return
    changes = doc.get("changes") or {}
    for name in fields:
        if name in changes:
            track.changes.setdefault(name, []).append((at, changes[name][1]))


def _statement(
    engine: Engine,
    process: str,
    version: int | None,
    until: datetime | None,
    fields: Sequence[str],
    owners: bool,
) -> sa.Select[Any]:
    h, i = history_table, instances_table
    kinds = ["started", "transition"]
    if fields:
        kinds.append("updated")
    if owners:
        kinds.append("assigned")
    at = sa.type_coerce(h.c.at, sa.String) if engine.store.is_sqlite else h.c.at
    details = h.c.details if (fields or owners) else sa.null()
    stmt = (
        sa.select(h.c.instance_id, i.c.lead_id, i.c.definition_version, i.c.owner)
        .add_columns(at, h.c.kind, h.c.to_stage, details)
        .join(i, i.c.id == h.c.instance_id)
        .where(i.c.process == process, h.c.kind.in_(kinds))
        .order_by(h.c.instance_id, h.c.seq)
    )
    if version is not None:
        stmt = stmt.where(i.c.definition_version == version)
    if until is not None and owners:  # later assignments tell who owned the lead before them
        stmt = stmt.where(sa.or_(h.c.at <= until, h.c.kind == "assigned"))
    elif until is not None:
        stmt = stmt.where(h.c.at <= until)
    return stmt


def scan(
    engine: Engine,
    process: str,
    version: int | None = None,
    *,
    until: datetime | None = None,
    fields: Sequence[str] = (),
    owners: bool = False,
) -> Iterator[LeadTrack]:
    """Every lead of ``process`` (of ``version``) that started by ``until``, one at a time.

    ``fields`` are the data fields to follow through history; ``owners`` follows assignments.
    Database failures become :class:`StorageError`.
    """
    decode = _decoder(engine.store.is_sqlite)
    stmt = _statement(engine, process, version, until, fields, owners)
    try:
        with engine.store.sa.connect() as conn:
            result = conn.execution_options(yield_per=_YIELD).execute(stmt)
            track: LeadTrack | None = None
            current = None
            last = float("-inf")
            for iid, lead_id, dv, owner, raw_at, kind, to_stage, details in result:
                if iid != current:
                    if track is not None and track.times:
                        yield track
                    track = LeadTrack(lead_id, dv, owner)
                    current = iid
                    last = float("-inf")
                assert track is not None
                at = max(decode(raw_at), last)  # times given out of order never run backwards
                last = at
                if kind == "started" or kind == "transition":
                    track.times.append(at)
                    track.stages.append(to_stage)
                if kind == "assigned":
                    doc = json.loads(details)
                    track.assigns.append((at, doc.get("previous_owner"), doc.get("owner")))
                elif fields and kind != "assigned":
                    _follow(track, at, kind, details, fields)
            if track is not None and track.times:
                yield track
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(
            f"report on {process}: the database failed: {exc.__cause__ or exc}"
        ) from exc


def activity_counts(
    engine: Engine,
    process: str,
    version: int | None,
    until: datetime,
    since: datetime | None = None,
) -> dict[str | None, int]:
    """Activities recorded on the process's leads by each actor, up to ``until``."""
    a, i = activities_table, instances_table
    stmt = (
        sa.select(a.c.actor, sa.func.count())
        .join(i, i.c.id == a.c.instance_id)
        .where(i.c.process == process, a.c.at <= until)
        .group_by(a.c.actor)
    )
    if version is not None:
        stmt = stmt.where(i.c.definition_version == version)
    if since is not None:
        stmt = stmt.where(a.c.at >= since)
    rows = engine.store.query(stmt, f"activities of {process}")
    return {actor: int(count) for actor, count in rows}
