"""The statements routing runs inside the engine's open transaction, and out-of-office periods.

:class:`RoutingStore` wraps the DBAPI cursor of a :class:`~leadflow.engine.store.Tx`, so a
routing decision is read and recorded in the same transaction as the assignment it leads to.
Every statement is portable SQL (SQLite 3.35+ and PostgreSQL): parameter markers and time
encoding come from the :class:`Store`.

Locking: :meth:`RoutingStore.advance_pointer` and :meth:`RoutingStore.lock_team` write the
team's ``lf_team_state`` row first thing, which holds a row lock on PostgreSQL (and SQLite's one
write lock) until the transaction ends. Routers of one team therefore take turns, and each one
reads open-lead counts and the share-cap window after the previous one committed (PostgreSQL's
READ COMMITTED gives every statement a fresh snapshot).

The out-of-office functions (:func:`set_away`, :func:`clear_away`, :func:`list_away`) run off the
hot path, in their own transactions, through SQLAlchemy Core.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from leadflow.definitions import LeadflowError
from leadflow.engine._clock import as_utc
from leadflow.engine._errors import StorageError
from leadflow.engine.store import InstanceRow, Store, StoreView, Tx
from leadflow.engine.store.tables import away as away_table

__all__ = [
    "AwayPeriod",
    "InvalidAway",
    "RoutingStore",
    "clear_away",
    "list_away",
    "plan_owner",
    "set_away",
]

_MAX_ID = 255
_CHUNK = 500


class InvalidAway(LeadflowError, ValueError):
    """An out-of-office period was given wrong values; nothing was written."""

    code = "invalid-away"


@dataclass(frozen=True, slots=True)
class AwayPeriod:
    """A stored out-of-office period: routing skips ``member`` from ``starts_at`` until
    ``ends_at`` (excluded)."""

    id: int
    member: str
    starts_at: datetime
    ends_at: datetime
    note: str | None


class RoutingStore:
    """Routing's reads and writes over one open transaction's cursor."""

    __slots__ = ("_dec", "_enc", "_memo", "_tx", "cur", "param")

    def __init__(self, cur: Any, store: StoreView, memo: dict[Any, Any] | None = None) -> None:
        self.cur = cur
        self.param = store.param
        self._enc = store.encode_time
        self._dec = store.decode_time
        self._memo = {} if memo is None else memo
        self._tx: Tx | None = None

    @classmethod
    def of(cls, tx: Tx) -> RoutingStore:
        """The routing store of an engine transaction (``engine.store.transaction(...)``);
        reads that cannot change within it (out-of-office periods) are made once per
        transaction, and its writes are batched: a rotation pointer is written once, and the
        decisions with one ``executemany``, before the transaction commits (or before a read
        of the decisions), however many leads it routes."""
        routing = cls(tx.cur, tx.store, tx.memo)
        routing._tx = tx
        return routing

    def _pending(self) -> tuple[list[tuple[Any, ...]], dict[tuple[str, str], list[Any]]]:
        """(decisions not written yet, {(process, team): [pointer, changed]}) of the
        transaction; the first call registers :meth:`flush` to run before it commits."""
        pending = self._memo.get("routing")
        if pending is None:
            pending = self._memo["routing"] = ([], {})
            if self._tx is not None:
                self._tx.before_commit.append(self.flush)
        return pending

    def flush(self) -> None:
        """Write the decisions and rotation pointers held back in this transaction."""
        routes, pointers = self._pending()
        p = self.param
        if routes:
            self.cur.executemany(
                "INSERT INTO lf_routes (process, team, instance_id, owner, at) "
                f"VALUES ({p}, {p}, {p}, {p}, {p})",
                routes,
            )
            routes.clear()
        changed = [(v[0], *key) for key, v in pointers.items() if v[1]]
        if changed:
            self.cur.executemany(
                f"UPDATE lf_team_state SET pointer = {p} WHERE process = {p} AND team = {p}",
                changed,
            )
            for key in pointers:
                pointers[key][1] = False

    # -- load --------------------------------------------------------------------------------

    def open_leads(self, owners: Iterable[str], *, process: str | None = None) -> dict[str, int]:
        """Open instances (``closed`` NULL) per owner, every owner of ``owners`` included.

        Counts across every process of the database by default: a rep has one desk, so one
        capacity whatever process a lead runs in. ``process`` narrows the count to one process.
        The moves a batch of this transaction planned but has not written yet
        (:meth:`plan_owner`) are counted as done.
        """
        names = list(dict.fromkeys(owners))
        out = dict.fromkeys(names, 0)
        p = self.param
        for i in range(0, len(names), _CHUNK):
            chunk = names[i : i + _CHUNK]
            sql = (
                "SELECT owner, count(*) FROM lf_instances WHERE closed IS NULL "
                f"AND owner IN ({', '.join([p] * len(chunk))})"
            )
            params: tuple[Any, ...] = tuple(chunk)
            if process is not None:
                sql += f" AND process = {p}"
                params += (process,)
            self.cur.execute(sql + " GROUP BY owner", params)
            for owner, count in self.cur.fetchall():
                out[owner] = int(count)
        for moved_process, was, now in self._memo.get("moves", {}).values():
            if process is not None and moved_process != process:
                continue
            if was in out:
                out[was] -= 1
            if now in out:
                out[now] += 1
        return out

    def plan_owner(self, process: str, instance_id: int, was: str | None, now: str | None) -> None:
        """Count a lead under its new owner before its row is written.

        Batches that write their leads after planning them all (the sweep, ``fire_many``)
        call this for each lead whose owner they change, so later routing decisions in the
        transaction (capacity, least loaded) see the move. ``was`` is the owner of the lead as
        stored, ``now`` as planned; None for no owner or a closed lead (closed leads do not
        count). A lead moved twice keeps its stored owner as ``was``."""
        moves = self._memo.setdefault("moves", {})
        first = moves.get(instance_id)
        moves[instance_id] = (process, first[1] if first is not None else was, now)

    # -- round-robin pointer -------------------------------------------------------------------

    def _bump(self, process: str, team: str, expression: str, extra: tuple[Any, ...]) -> int:
        """Run ``UPDATE ... SET pointer = <expression> RETURNING pointer``, creating the row."""
        p = self.param
        sql = (
            f"UPDATE lf_team_state SET pointer = {expression} "
            f"WHERE process = {p} AND team = {p} RETURNING pointer"
        )
        self.cur.execute(sql, (*extra, process, team))
        row = self.cur.fetchone()
        if row is None:
            self.cur.execute(
                "INSERT INTO lf_team_state (process, team, pointer) "
                f"VALUES ({p}, {p}, 0) ON CONFLICT (process, team) DO NOTHING",
                (process, team),
            )
            self.cur.execute(sql, (*extra, process, team))
            row = self.cur.fetchone()
        return int(row[0])

    def advance_pointer(self, process: str, team: str, size: int) -> int:
        """The team's round-robin position (0 <= position < ``size``), moved one step on.

        Atomic: the row is updated in place and stays locked until the transaction ends, so
        concurrent transactions never get the same position for the same pointer value. A
        missing row starts at 0.
        """
        if size < 1:
            raise ValueError(f"a rotation has at least one position; got size {size}")
        held = self._pending()[1].get((process, team)) if self._tx is not None else None
        if held is not None:  # this transaction holds the row: move it in memory
            held[0] = (held[0] % size + 1) % size
            held[1] = True
            return int(held[0] - 1) % size
        p = self.param
        mod = "%%" if p == "%s" else "%"  # a literal % next to pyformat markers is doubled
        new = self._bump(process, team, f"(pointer {mod} {p} + 1) {mod} {p}", (size, size))
        self._hold(process, team, new)
        return (new - 1) % size

    def lock_team(self, process: str, team: str) -> int:
        """Lock the team's state row until the transaction ends; its pointer, unchanged."""
        held = self._pending()[1].get((process, team)) if self._tx is not None else None
        if held is not None:
            return int(held[0])
        pointer = self._bump(process, team, "pointer", ())
        self._hold(process, team, pointer)
        return pointer

    def _hold(self, process: str, team: str, pointer: int) -> None:
        """Remember a pointer whose row this transaction has locked (batched stores only)."""
        if self._tx is not None:
            self._pending()[1][(process, team)] = [pointer, False]

    def set_pointer(self, process: str, team: str, value: int) -> None:
        """Set the team's round-robin pointer (after :meth:`advance_pointer` or
        :meth:`lock_team` in the same transaction)."""
        held = self._pending()[1].get((process, team)) if self._tx is not None else None
        if held is not None:
            held[0] = value
            held[1] = True
            return
        p = self.param
        self.cur.execute(
            f"UPDATE lf_team_state SET pointer = {p} WHERE process = {p} AND team = {p}",
            (value, process, team),
        )

    def pointer(self, process: str, team: str) -> int:
        """The team's round-robin pointer (0 when it has none; as this transaction moved it,
        when it did); read only."""
        held = self._pending()[1].get((process, team)) if self._tx is not None else None
        if held is not None:
            return int(held[0])
        p = self.param
        self.cur.execute(
            f"SELECT pointer FROM lf_team_state WHERE process = {p} AND team = {p}",
            (process, team),
        )
        row = self.cur.fetchone()
        return int(row[0]) if row else 0

    # -- catch-up ------------------------------------------------------------------------------

    def owed_turns(self, process: str, team: str) -> dict[str, int]:
        """The turns ``team``'s rotation owes its members (``catch_up: true``): {member: n}."""
        p = self.param
        self.cur.execute(
            f"SELECT member, owed FROM lf_owed_turns WHERE process = {p} AND team = {p}",
            (process, team),
        )
        return {str(m): int(n) for m, n in self.cur.fetchall() if n}

    def set_owed(self, process: str, team: str, member: str, owed: int) -> None:
        """Store the turns owed to ``member`` (after :meth:`advance_pointer`, which holds the
        team's row lock); 0 removes the row."""
        p = self.param
        key = (process, team, member)
        self.cur.execute(
            f"DELETE FROM lf_owed_turns WHERE process = {p} AND team = {p} AND member = {p}", key
        )
        if owed > 0:
            self.cur.execute(
                "INSERT INTO lf_owed_turns (process, team, member, owed) "
                f"VALUES ({p}, {p}, {p}, {p})",
                (*key, owed),
            )

    # -- decisions -----------------------------------------------------------------------------

    def routed(
        self, process: str, since: datetime, *, exclude_instance: int | None = None
    ) -> tuple[int, dict[str, int]]:
        """Distinct leads routed in ``process`` at or after ``since``: (total, {team: count}).

        A lead routed twice counts once in the total and once per team it went to.
        ``exclude_instance`` leaves one lead out (the one being routed again).
        """
        self.flush()
        p = self.param
        where = f"FROM lf_routes WHERE process = {p} AND at >= {p} AND instance_id <> {p}"
        params = (process, self._enc(since), -1 if exclude_instance is None else exclude_instance)
        self.cur.execute(f"SELECT count(DISTINCT instance_id) {where}", params)
        total = int(self.cur.fetchone()[0])
        self.cur.execute(f"SELECT team, count(DISTINCT instance_id) {where} GROUP BY team", params)
        return total, {str(team): int(n) for team, n in self.cur.fetchall()}

    def share(
        self, process: str, team: str, since: datetime, *, exclude_instance: int | None = None
    ) -> tuple[int, int]:
        """(leads of ``team``, all leads): distinct leads routed in ``process`` since ``since``.

        What :meth:`routed` says for one team, in one pass over the window (share caps ask this
        for every lead a capped rule matches; the cost grows with the window's routes).
        """
        self.flush()
        p = self.param
        self.cur.execute(
            "SELECT count(*), coalesce(sum(mine), 0) FROM (SELECT max(CASE WHEN team = "
            f"{p} THEN 1 ELSE 0 END) AS mine FROM lf_routes WHERE process = {p} AND at >= {p} "
            f"AND instance_id <> {p} GROUP BY instance_id) AS leads",
            (
                team,
                process,
                self._enc(since),
                -1 if exclude_instance is None else exclude_instance,
            ),
        )
        total, mine = self.cur.fetchone()
        return int(mine), int(total)

    def record(
        self, process: str, team: str, instance_id: int, owner: str | None, at: datetime
    ) -> None:
        """Append one routing decision to ``lf_routes`` (held until the transaction commits
        when batched, see :meth:`of`)."""
        if self._tx is not None:
            self._pending()[0].append((process, team, instance_id, owner, self._enc(at)))
            return
        p = self.param
        self.cur.execute(
            "INSERT INTO lf_routes (process, team, instance_id, owner, at) "
            f"VALUES ({p}, {p}, {p}, {p}, {p})",
            (process, team, instance_id, owner, self._enc(at)),
        )

    def waiting(self, process: str, queue_owner: str, limit: int) -> list[tuple[int, str]]:
        """Open leads of ``process`` owned by ``queue_owner``, oldest instance first:
        ``[(instance_id, lead_id), ...]``."""
        p = self.param
        self.cur.execute(
            "SELECT id, lead_id FROM lf_instances WHERE process = "
            f"{p} AND owner = {p} AND closed IS NULL ORDER BY id LIMIT {p}",
            (process, queue_owner, limit),
        )
        return [(int(i), str(lead)) for i, lead in self.cur.fetchall()]

    # -- out of office -------------------------------------------------------------------------

    def away(self, members: Iterable[str], at: datetime) -> set[str]:
        """The members of ``members`` with an out-of-office period covering ``at``."""
        names = tuple(dict.fromkeys(members))
        key = ("away", names)
        periods = self._memo.get(key)
        if periods is None:
            periods = self._memo[key] = self._periods(names)
        return {member for member, starts, ends in periods if starts <= at < ends}

    def _periods(self, names: tuple[str, ...]) -> list[tuple[str, datetime, datetime]]:
        """Every out-of-office period of ``names`` (sweeps route many leads per transaction:
        one read serves them all)."""
        out: list[tuple[str, datetime, datetime]] = []
        p = self.param
        for i in range(0, len(names), _CHUNK):
            chunk = names[i : i + _CHUNK]
            self.cur.execute(
                "SELECT member, starts_at, ends_at FROM lf_away "
                f"WHERE member IN ({', '.join([p] * len(chunk))})",
                chunk,
            )
            out.extend((str(m), self._dec(a), self._dec(b)) for m, a, b in self.cur.fetchall())
        return out


def _member(member: object) -> str:
    if not isinstance(member, str) or not member or len(member) > _MAX_ID:
        raise InvalidAway(
            f"member {member!r} is not a member id; allowed: text of 1 to {_MAX_ID} characters"
        )
    return member


def _time(value: object, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidAway(f"{name} {value!r} is not a datetime; pass an aware datetime")
    try:
        return as_utc(value)
    except ValueError as exc:
        raise InvalidAway(f"{name}: {exc}") from exc


def set_away(
    store: Store, member: str, starts_at: datetime, ends_at: datetime, note: str | None = None
) -> int:
    """Record that ``member`` is out of office from ``starts_at`` until ``ends_at`` (excluded).

    Returns the period's id. Periods may overlap; routing skips the member while any covers
    the moment. :class:`InvalidAway` names the bad value (a naive datetime, an end not after
    the start, a note over 255 characters); nothing is written then.
    """
    member = _member(member)
    start, end = _time(starts_at, "starts_at"), _time(ends_at, "ends_at")
    if end <= start:
        raise InvalidAway(
            f"out-of-office period of {member}: ends_at {end.isoformat()} is not after "
            f"starts_at {start.isoformat()}; the end must be later than the start"
        )
    if note is not None and (not isinstance(note, str) or len(note) > _MAX_ID):
        raise InvalidAway(f"note {note!r}: allowed: text of at most {_MAX_ID} characters")
    insert = (
        away_table.insert()
        .values(member=member, starts_at=start, ends_at=end, note=note)
        .returning(away_table.c.id)
    )
    try:
        with store.sa.begin() as conn:
            return int(conn.execute(insert).scalar_one())
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"set {member} away: the database failed: {exc.__cause__}") from exc


def clear_away(store: Store, member: str, at: datetime) -> int:
    """``member`` is back as of ``at``: periods covering ``at`` end there, later ones go.

    Returns how many periods changed (0 when none covered ``at`` or came later).
    """
    member = _member(member)
    when = _time(at, "at")
    t = away_table
    with_member = t.c.member == member
    try:
        with store.sa.begin() as conn:
            gone = conn.execute(t.delete().where(with_member, t.c.starts_at >= when)).rowcount
            cut = conn.execute(
                t.update()
                .where(with_member, t.c.starts_at < when, t.c.ends_at > when)
                .values(ends_at=when)
            ).rowcount
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"clear {member} away: the database failed: {exc.__cause__}") from exc
    return int(gone) + int(cut)


def list_away(
    store: Store, member: str | None = None, *, at: datetime | None = None
) -> list[AwayPeriod]:
    """Out-of-office periods, earliest first: of one ``member`` or everyone; with ``at``,
    only those not over by then."""
    t = away_table
    query = sa.select(t.c.id, t.c.member, t.c.starts_at, t.c.ends_at, t.c.note)
    if member is not None:
        query = query.where(t.c.member == _member(member))
    if at is not None:
        query = query.where(t.c.ends_at > _time(at, "at"))
    rows = store.query(query.order_by(t.c.starts_at, t.c.id), "list out-of-office periods")
    dt = store.decode_time
    return [AwayPeriod(int(r[0]), r[1], dt(r[2]), dt(r[3]), r[4]) for r in rows]


def plan_owner(tx: Tx, stored: InstanceRow, planned: InstanceRow) -> None:
    """:meth:`RoutingStore.plan_owner` for a lead a batch read as ``stored`` and will write
    as ``planned``; nothing to do when the open lead keeps its owner."""
    was = stored.owner if stored.closed is None else None
    now = planned.owner if planned.closed is None else None
    if was != now or stored.id in tx.memo.get("moves", ()):
        RoutingStore.of(tx).plan_owner(stored.process, stored.id, was, now)
