"""The outbox's rows for the dispatcher and the admin commands: one typed, public surface.

Each method of :class:`OutboxStore` is one short transaction. The adapters room reaches the
outbox only through it (never through the tables), so the SQL stays with the store.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from leadflow.engine._errors import StorageError
from leadflow.engine.store import _outbox, _outbox_admin
from leadflow.engine.store._outbox_admin import BacklogRow, DeliveryRow

__all__ = ["ClaimedRow", "OutboxStore"]


class ClaimedRow(NamedTuple):
    """A leased delivery: its event payload and (when the lead still exists) its data."""

    id: int
    adapter: str
    seq: int
    attempts: int
    payload: str
    lead: str | None
    """The lead's data as JSON, or None."""


ANALYZE_AFTER = 1_000
"""Deliveries one store creates before it refreshes PostgreSQL's statistics of the table (or
a fifth of the rows counted at the last refresh, when that is more): see
:meth:`OutboxStore.fan_out`."""


class OutboxStore:
    """The outbox and delivery rows of one database (``OutboxStore(engine.store.sa)``)."""

    def __init__(self, db: sa.Engine) -> None:
        self.db = db
        self._unanalyzed = 0
        """Deliveries this store created since it last refreshed the table's statistics."""
        self._counted = 0.0
        """The rows PostgreSQL counted in ``lf_deliveries`` at that refresh."""

    # -- the dispatcher ------------------------------------------------------------------------

    def fan_out(
        self, limit: int, targets: Callable[[str, str], Sequence[str]], now: datetime
    ) -> tuple[int, int]:
        """Turn up to ``limit`` new events into deliveries for ``targets(type, payload)``;
        (events, deliveries). Rows another dispatcher holds are skipped (PostgreSQL).

        On PostgreSQL a backlog fanned out at once (after a CRM outage, an import, a sweep of
        thousands of marks) leaves the table's statistics describing the table as it was
        before, until autovacuum looks again (a minute or more). A claim planned on them can
        scan the table once per pending row: with 10,000 pending deliveries one claim took
        minutes and its dispatcher could not stop meanwhile. So after creating
        :data:`ANALYZE_AFTER` deliveries (or a fifth of the rows counted before), the store
        refreshes them (``ANALYZE lf_deliveries``, a sample; milliseconds)."""
        with _outbox.write_tx(self.db, "fan out outbox events") as conn:
            counts = _outbox.fan_out(conn, limit, targets, now)
        if counts[1] and self.db.dialect.name == "postgresql":
            self._unanalyzed += counts[1]
            if self._unanalyzed >= max(ANALYZE_AFTER, self._counted / 5):
                self._refresh_statistics()
        return counts

    def _refresh_statistics(self) -> None:
        with _outbox.write_tx(self.db, "refresh the deliveries' statistics") as conn:
            conn.exec_driver_sql("ANALYZE lf_deliveries")
            counted = conn.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE oid = 'lf_deliveries'::regclass"
            ).scalar()
        self._counted = float(counted or 0)
        self._unanalyzed = 0

    def claim(
        self,
        adapters: Sequence[str],
        now: datetime,
        limit: int,
        lease_until: datetime,
        owner: str,
        block_on_dead: bool,
    ) -> list[ClaimedRow]:
        """Lease up to ``limit`` due queue heads of ``adapters`` to ``owner``, oldest first."""
        with _outbox.write_tx(self.db, "claim outbox deliveries") as conn:
            rows = _outbox.claim(conn, adapters, now, limit, lease_until, owner, block_on_dead)
        return [ClaimedRow(*r) for r in rows]

    def claim_followers(
        self,
        head: int,
        types: Collection[str],
        now: datetime,
        lease_until: datetime,
        owner: str,
        limit: int = 100,
    ) -> list[ClaimedRow]:
        """Lease the due deliveries of ``types`` that follow queue head ``head`` directly (same
        lead and adapter), to coalesce them with it into one write."""
        with _outbox.write_tx(self.db, "claim deliveries to coalesce") as conn:
            rows = _outbox.claim_followers(conn, head, types, now, lease_until, owner, limit)
        return [ClaimedRow(*r) for r in rows]

    def record(self, outcomes: Sequence[Mapping[str, Any]], owner: str) -> int:
        """Write outcomes of deliveries ``owner`` still leases (see :func:`._outbox.record`);
        returns how many were written (fewer when a lease expired and was taken over)."""
        with _outbox.write_tx(self.db, "record outbox deliveries") as conn:
            return _outbox.record(conn, [dict(o) for o in outcomes], owner)

    def schedule(
        self, adapters: Sequence[str], block_on_dead: bool
    ) -> tuple[int, dict[str, datetime]]:
        """(events waiting to be fanned out, per adapter the earliest time a queue head can be
        attempted); the times are only read when no event waits."""
        with _outbox.write_tx(self.db, "read the outbox schedule", write=False) as conn:
            waiting = _outbox.undispatched_count(conn)
            if waiting:
                return waiting, {}
            return 0, _outbox.due_times(conn, adapters, block_on_dead)

    # -- administration ------------------------------------------------------------------------

    def backlog(self, at: datetime) -> tuple[int, list[BacklogRow]]:
        """(events waiting to be fanned out, per adapter counts as of ``at``)."""
        try:
            with self.db.connect() as conn:
                return _outbox.undispatched_count(conn), _outbox_admin.backlog(conn, at)
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"outbox status: the database failed: {exc}") from exc

    def deliveries(
        self, status: str | None, adapter: str | None, lead_id: str | None, limit: int
    ) -> list[DeliveryRow]:
        """Deliveries, oldest first, filtered by status, adapter and lead id."""
        with _outbox.write_tx(self.db, "list outbox deliveries", write=False) as conn:
            return _outbox_admin.list_deliveries(conn, status, adapter, lead_id, limit)

    def retry_dead(self, adapter: str | None, at: datetime) -> int:
        """Every dead letter (of ``adapter``) due again at ``at`` with a fresh retry budget."""
        with _outbox.write_tx(self.db, "retry outbox deliveries") as conn:
            return _outbox_admin.retry_dead(conn, adapter, at)

    def retry(
        self,
        ids: Sequence[int],
        adapter: str | None,
        at: datetime,
        check: Callable[[Mapping[int, str]], None],
    ) -> int:
        """Make deliveries ``ids`` due at ``at`` (dead letters with a fresh budget). ``check``
        sees the status of each id found and raises to refuse: then nothing changes."""
        wanted = sorted(set(ids))
        with _outbox.write_tx(self.db, "retry outbox deliveries") as conn:
            found = _outbox_admin.statuses(conn, wanted, adapter)
            check(found)
            dead = [i for i in wanted if found.get(i) == _outbox.DEAD]
            pending = [i for i in wanted if found.get(i) == _outbox.PENDING]
            _outbox_admin.retry_ids(conn, dead, pending, at)
        return len(wanted)

    def purge(self, delivered_before: datetime | None, dead: bool) -> tuple[int, int]:
        """Delete delivered deliveries before a time and/or dead letters: (deliveries, events)."""
        with _outbox.write_tx(self.db, "purge the outbox") as conn:
            return _outbox_admin.purge(conn, delivered_before, dead)
