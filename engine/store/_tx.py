"""One open transaction's cursor with the hot-path operations (see :class:`Store`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from leadflow.engine._criteria import Activity
from leadflow.engine._json import dumps
from leadflow.engine.store._idempotency import StoredAnswer, read_answer, write_answer
from leadflow.engine.store._rows import SELECT_COLS, Change, DueTimer, InstanceRow
from leadflow.engine.store._statements import WAKEUP_CHANNEL
from leadflow.engine.telemetry import events_written

__all__ = ["WAKEUP_CHANNEL", "StoreView", "Tx"]


class StoreView(Protocol):
    """What a transaction reads of its :class:`~leadflow.engine.store.Store` (the store's own
    module imports this one, so the type is structural)."""

    sql: dict[str, str]
    param: str
    dialect: str

    encode_time: Callable[[datetime], Any]

    def decode_time(self, value: str | datetime) -> datetime: ...

    def row(self, r: Sequence[Any]) -> InstanceRow: ...


_CHUNK = 500

_Timers = dict[tuple[int, str], tuple[int, datetime] | None]


def _committed() -> None:
    raise RuntimeError(
        "this transaction committed with the write marked last (Tx.apply(last=True)); "
        "it cannot write more"
    )


class Tx:
    """One open transaction's cursor with the hot-path operations.

    A *lazy* transaction (``begin`` given; PostgreSQL, see ``Store.transaction``) reads
    without a transaction and sends BEGIN only before its first write: every use of
    :attr:`cur` starts it, and only the reads written for it here (:meth:`load`,
    :meth:`activities`, :meth:`answer`) use the cursor before. A change that is the
    transaction's only write commits by itself as one statement (:meth:`apply` with
    ``last=True``). At READ COMMITTED each statement reads its own snapshot anyway, and every
    write checks the version it read, so reading before BEGIN guarantees the same.
    """

    __slots__ = ("_begin", "_cur", "_times", "before_commit", "memo", "store")

    def __init__(
        self, store: StoreView, cursor: Any, begin: Callable[[], None] | None = None
    ) -> None:
        self.store = store
        self._cur = cursor
        self._begin = begin
        """Lazy: what starts the transaction before its first write; None once started."""
        self.memo: dict[Any, Any] = {}
        """Reads cached for the length of this transaction (see RoutingStore)."""
        self._times: dict[datetime, Any] = {}
        self.before_commit: list[Callable[[], None]] = []
        """Writes held back until the transaction's end (see ``RoutingStore.of``)."""

    @property
    def cur(self) -> Any:
        """The transaction's DBAPI cursor (a lazy transaction is begun first)."""
        if self._begin is not None:
            self._begin()
            self._begin = None
        return self._cur

    @property
    def begun(self) -> bool:
        """Whether statements run inside the transaction (always, unless lazy and unwritten)."""
        return self._begin is None

    def encode_time(self, value: datetime) -> Any:
        """``store.encode_time``, once per distinct time of the transaction (a change's time
        is usually also its row's ``updated_at`` and ``stage_entered_at``, and a batch's items
        share one time)."""
        encoded = self._times.get(value)
        if encoded is None:
            encoded = self._times[value] = self.store.encode_time(value)
        return encoded

    def load(self, process: str, lead_id: str) -> InstanceRow | None:
        """The instance of ``lead_id`` in ``process``, or None."""
        cur = self._cur  # a read: a lazy transaction need not begin for it
        cur.execute(self.store.sql["load"], (process, lead_id))
        r = cur.fetchone()
        return self.store.row(r) if r else None

    def latest_version(self, process: str) -> int | None:
        """The newest deployed version of ``process``, or None."""
        self.cur.execute(self.store.sql["latest"], (process,))
        r = self.cur.fetchone()
        return None if r is None or r[0] is None else int(r[0])

    def load_many(self, process: str, lead_ids: Iterable[str]) -> dict[str, InstanceRow]:
        """Instances by lead id for every lead of ``lead_ids`` that has one."""
        ids = list(dict.fromkeys(lead_ids))
        out: dict[str, InstanceRow] = {}
        p = self.store.param
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            self.cur.execute(
                f"SELECT {SELECT_COLS} FROM lf_instances WHERE process = {p} "
                f"AND lead_id IN ({', '.join([p] * len(chunk))})",
                (process, *chunk),
            )
            for r in self.cur.fetchall():
                row = self.store.row(r)
                out[row.lead_id] = row
        return out

    def activities(self, instance_id: int) -> list[Activity]:
        """The recorded activities of an instance, oldest first."""
        cur = self._cur  # a read: a lazy transaction need not begin for it
        cur.execute(self.store.sql["activities"], (instance_id,))
        dt = self.store.decode_time
        return [Activity(t, dt(at), seq) for t, at, seq in cur.fetchall()]

    def activities_many(self, instance_ids: Iterable[int]) -> dict[int, list[Activity]]:
        """Recorded activities by instance id, oldest first."""
        ids = list(dict.fromkeys(instance_ids))
        out: dict[int, list[Activity]] = {i: [] for i in ids}
        p = self.store.param
        dt = self.store.decode_time
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            self.cur.execute(
                "SELECT instance_id, type, at, seq FROM lf_activities WHERE instance_id IN "
                f"({', '.join([p] * len(chunk))}) ORDER BY instance_id, seq",
                tuple(chunk),
            )
            for iid, t, at, seq in self.cur.fetchall():
                out[iid].append(Activity(t, dt(at), seq))
        return out

    def due_timers(self, now: datetime, limit: int) -> list[Any]:
        """Claim up to ``limit`` timers due at ``now``, earliest first (skipping ones that another
        transaction holds, on PostgreSQL)."""
        self.cur.execute(self.store.sql["claim"], (self.store.encode_time(now), limit))
        dt = self.store.decode_time
        return [DueTimer(i, iid, pol, step, dt(due)) for i, iid, pol, step, due in self.cur]

    def lock_instances(self, ids: Sequence[int]) -> dict[int, InstanceRow]:
        """Instances by id, locked for update; on PostgreSQL instances another transaction
        holds are skipped, not waited for (the sweep already holds timer rows that such a
        transaction may be about to replace: waiting could deadlock)."""
        p = self.store.param
        lock = " FOR UPDATE SKIP LOCKED" if self.store.dialect == "postgresql" else ""
        out: dict[int, InstanceRow] = {}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            self.cur.execute(
                f"SELECT {SELECT_COLS} FROM lf_instances WHERE id IN "
                f"({', '.join([p] * len(chunk))}) ORDER BY id{lock}",
                tuple(chunk),
            )
            for r in self.cur.fetchall():
                row = self.store.row(r)
                out[row.id] = row
        return out

    def open_instances_not_on(
        self,
        process: str,
        version: int,
        from_version: int | None,
        after: int,
        limit: int,
        *,
        lock: bool,
    ) -> list[InstanceRow]:
        """Up to ``limit`` open instances of ``process`` with id above ``after`` that run another
        version than ``version`` (only ``from_version`` when given), by id; locked for update
        when ``lock`` (PostgreSQL). Live migration reads its batches with this."""
        p = self.store.param
        only = f" AND definition_version = {p}" if from_version is not None else ""
        locked = " FOR UPDATE" if lock and self.store.dialect == "postgresql" else ""
        args: tuple[Any, ...] = (process, version)
        if from_version is not None:
            args += (from_version,)
        self.cur.execute(
            f"SELECT {SELECT_COLS} FROM lf_instances WHERE process = {p} AND closed IS NULL "
            f"AND definition_version <> {p}{only} AND id > {p} ORDER BY id LIMIT {p}{locked}",
            (*args, after, limit),
        )
        return [self.store.row(r) for r in self.cur.fetchall()]

    def delete_timers(self, ids: Sequence[int]) -> None:
        """Delete timer rows by id (stale timers the sweep found nothing to do for)."""
        if ids:
            p = self.store.param
            self.cur.executemany(f"DELETE FROM lf_timers WHERE id = {p}", [(i,) for i in ids])

    def postpone_timer(self, ident: int, until: datetime) -> None:
        """Move one timer's due time (a timer whose mark keeps failing)."""
        p = self.store.param
        self.cur.execute(
            f"UPDATE lf_timers SET due_at = {p} WHERE id = {p}",
            (self.store.encode_time(until), ident),
        )

    def next_due(self) -> datetime | None:
        """The earliest due time of any timer, or None."""
        self.cur.execute("SELECT min(due_at) FROM lf_timers")
        r = self.cur.fetchone()
        return None if r is None or r[0] is None else self.store.decode_time(r[0])

    def answer(self, scope: str, key: str) -> StoredAnswer | None:
        """The first answer given under idempotency key ``key`` in ``scope``, or None."""
        return read_answer(self._cur, self.store.param, scope, key)  # a read: need not begin

    def save_answer(
        self, scope: str, key: str, request_hash: str, status: int, body: str, at: datetime
    ) -> None:
        """Store the answer of ``(scope, key)`` with this transaction's write. If one is stored
        already, raises ``store.integrity_error`` and keeps the first: someone else answered
        first, so roll back and return theirs (see :class:`StoredAnswer`)."""
        enc = self.store.encode_time
        write_answer(self.cur, self.store.param, enc, scope, key, request_hash, status, body, at)

    def apply(self, changes: Sequence[Change], *, last: bool = False) -> bool:
        """Write ``changes`` completely; False (roll back!) if an instance moved on meanwhile.
        ``last``: the caller writes nothing more in this transaction, so a lazy one that has
        not begun may commit these changes by themselves when one statement writes them."""
        if len(changes) == 1 and "write_one" in self.store.sql:
            change = changes[0]
            if change.expected_version is not None and not change.extra_events:
                return self._apply_one(change, last)
        if not self.write_instances(changes):
            return False
        self.write_log(changes)
        return True

    def _apply_one(self, change: Change, last: bool) -> bool:
        """PostgreSQL: one change's version-checked UPDATE, its history row, its event and the
        workers' wake-up in one statement (``write_one``), whose log rows are written only
        when the UPDATE matched (its row count is then 1); then its activity and timers.
        As the ``last`` and only write of a lazy transaction, the statement runs without
        BEGIN and commits by itself (a fire in two round trips: the read and this)."""
        history, events, acts, timers = self._log_rows([change])
        params = self._update_params(change.row, change.expected_version) + history[0] + events[0]
        alone = last and not self.begun and not acts and not timers and not self.before_commit
        cur = self._cur if alone else self.cur
        cur.execute(self.store.sql["write_one"], params)
        if alone:
            self._begin = _committed  # nothing may be written after a write that committed
        if cur.rowcount != 1:
            return False
        self._write_extras(acts, timers)
        events_written(events, [change])  # their ids on the current trace span (telemetry.py)
        return True

    def write_instances(self, changes: Sequence[Change]) -> bool:
        """Insert or version-checked update of each change's instance row; False on a conflict."""
        enc = self.encode_time
        updates = []
        inserts: list[tuple[InstanceRow, tuple[Any, ...]]] = []
        for c in changes:
            r = c.row
            if c.expected_version is None:
                state, times = self._row_params(r)
                created = (r.process, r.lead_id, *state, enc(r.created_at), *times)
                inserts.append((r, created))
            else:
                updates.append(self._update_params(r, c.expected_version))
        if inserts:
            self._insert_instances(inserts)
        return self._update(updates)

    def update_instances(self, rows: Sequence[tuple[InstanceRow, int]]) -> bool:
        """Version-checked UPDATE of existing instance rows, each given as (the row to write,
        the version it was read at); False on a conflict."""
        return self._update([self._update_params(r, expected) for r, expected in rows])

    def _update(self, updates: list[tuple[Any, ...]]) -> bool:
        if len(updates) == 1:
            self.cur.execute(self.store.sql["update"], updates[0])
            return bool(self.cur.rowcount == 1)
        if updates:
            self.cur.executemany(self.store.sql["update"], updates)
            return bool(self.cur.rowcount == len(updates))
        return True

    def _update_params(self, r: InstanceRow, expected: int | None) -> tuple[Any, ...]:
        """The parameters of the ``update`` statement of an existing instance read at version
        ``expected``."""
        state, times = self._row_params(r)
        return (*state, *times, r.id, expected)

    def _row_params(self, r: InstanceRow) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """An instance row's columns as the ``insert`` and ``update`` statements both take them:
        (definition_version, stage, owner, data, closed, version) and, after ``created_at``
        in an insert, (updated_at, stage_entered_at, stage_seq, sla)."""
        enc = self.encode_time
        sla = dumps(r.sla) if r.sla else None
        state = (r.definition_version, r.stage, r.owner, dumps(r.data), r.closed, r.version)
        return state, (enc(r.updated_at), enc(r.stage_entered_at), r.stage_seq, sla)

    def _insert_instances(self, inserts: list[tuple[InstanceRow, tuple[Any, ...]]]) -> None:
        """INSERT new instance rows and set their ids: on PostgreSQL many at once in one
        pipeline (psycopg's ``executemany(returning=True)``), else one statement each."""
        sql = self.store.sql["insert"]
        if len(inserts) > 1 and self.store.dialect == "postgresql":
            self.cur.executemany(sql, [params for _, params in inserts], returning=True)
            for i, (row, _) in enumerate(inserts):
                if i:
                    self.cur.nextset()
                row.id = self.cur.fetchone()[0]
            return
        for row, params in inserts:
            self.cur.execute(sql, params)
            row.id = self.cur.fetchone()[0]

    def write_log(self, changes: Sequence[Change]) -> None:
        """The history row, outbox event and activity row of each change, in order."""
        sql = self.store.sql
        history, events, acts, timers = self._log_rows(changes)
        woken = False
        if len(history) == 1 and len(events) == 1:
            if "log_one" in sql:  # PostgreSQL: both rows and the wake-up in one statement
                self.cur.execute(sql["log_one"], history[0] + events[0])
                woken = True
            else:
                self.cur.execute(sql["history"], history[0])
                self.cur.execute(sql["outbox"], events[0])
        else:
            self.cur.executemany(sql["history"], history)
            self.cur.executemany(sql["outbox"], events)
        self._write_extras(acts, timers)
        events_written(events, changes)  # their ids on the current trace span (telemetry.py)
        if events and not woken and self.store.dialect == "postgresql":
            # idle workers LISTEN on it: new outbox rows and timers wake them at commit (one
            # notification per transaction, however many changes it holds)
            self.cur.execute(f"NOTIFY {WAKEUP_CHANNEL}")

    def _log_rows(
        self, changes: Sequence[Change]
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]], _Timers]:
        """The parameters of the history, outbox and activity INSERTs of ``changes``, and the
        SLA timers they leave (by instance and policy; None: the timer ends)."""
        enc = self.encode_time
        history = []
        events = []
        acts = []
        timers: _Timers = {}
        for c in changes:
            r = c.row
            at = enc(c.at)
            history.append(
                (
                    r.id,
                    r.version,
                    at,
                    c.kind,
                    c.trigger,
                    c.from_stage,
                    c.to_stage,
                    c.actor,
                    c.details_json,
                )
            )
            events.append((c.event_id, r.id, r.version, c.event_type, at, c.event_json))
            if c.extra_events:
                for ident, kind, envelope in c.extra_events:
                    events.append((ident, r.id, r.version, kind, at, envelope))
            if c.timers:
                for policy, timer in c.timers.items():
                    timers[(r.id, policy)] = timer  # the last change of a chain wins
            if c.activity is not None:
                kind, stage, actor, data = c.activity
                acts.append((r.id, kind, at, r.version, stage, actor, data))
        return history, events, acts, timers

    def _write_extras(self, acts: list[tuple[Any, ...]], timers: _Timers) -> None:
        """The activity rows and the SLA timers of the changes being written."""
        sql = self.store.sql
        if acts:
            self.cur.executemany(sql["activity"], acts)
        if timers:
            self.cur.executemany(sql["timer_delete"], list(timers))
            enc = self.encode_time
            inserts = [(i, pol, t[0], enc(t[1])) for (i, pol), t in timers.items() if t is not None]
            if inserts:
                self.cur.executemany(sql["timer_insert"], inserts)
