"""Storage: connections, the schema check, and the few statements on the hot path.

The hot path (start, fire, update, record, assign) runs hand-written portable SQL through the
pooled DBAPI connection: one SELECT, one UPDATE (or INSERT ... RETURNING) and the history and
outbox INSERTs, one commit (on PostgreSQL a single call's read and one statement that writes
everything and commits by itself: see ``transaction(lazy=True)``). SQLAlchemy still owns the
pool, the dialect, the schema and every query off the hot path; measured on this project's
machine, a SQLAlchemy Core round trip per statement cost four times the raw DBAPI call, which
the per-fire budget cannot afford.
Dialect differences (parameter style, how times are stored) are computed once, here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import QueuePool, StaticPool

from leadflow.engine._errors import SchemaMismatch, StorageError, TransactionConflict
from leadflow.engine._json import dumps, loads
from leadflow.engine.store._rows import Change, DueTimer, InstanceRow
from leadflow.engine.store._statements import hot_path_statements
from leadflow.engine.store._tx import WAKEUP_CHANNEL, Tx
from leadflow.engine.store.tables import SCHEMA_REVISION, metadata

__all__ = ["WAKEUP_CHANNEL", "Change", "DueTimer", "InstanceRow", "Store", "Tx", "dumps"]

_KEPT = 2
"""Connections a store keeps between transactions (see :meth:`Store._checkout`)."""


class Store:
    """The engine's database: a SQLAlchemy engine plus the prepared hot-path statements."""

    def __init__(self, db: str | sa.Engine, *, create: bool | None = None) -> None:
        if isinstance(db, sa.Engine):
            self.sa = db
            self.owns_engine = False
        else:
            self.sa = _make_engine(db)
            self.owns_engine = True
        self.dialect = self.sa.dialect.name
        self.is_sqlite = self.dialect == "sqlite"
        dbapi = self.sa.dialect.dbapi
        assert dbapi is not None
        self.dbapi_error: type[Exception] = dbapi.Error
        self.integrity_error: type[Exception] = dbapi.IntegrityError
        p = "?" if self.sa.dialect.paramstyle == "qmark" else "%s"
        self.sql = hot_path_statements(p, self.dialect)
        """The hot path's hand-written statements by name, for this dialect."""
        self.param = p
        """The DBAPI placeholder of this dialect (``?`` or ``%s``) for hand-written SQL."""
        self.encode_time: Callable[[datetime], Any] = _sqlite_time if self.is_sqlite else _aware
        self._idle: list[tuple[Any, int]] = []
        """Connections kept checked out between transactions, with the process that did."""
        self._keep = self.owns_engine and isinstance(self.sa.pool, QueuePool)
        if self._keep:  # sa.dispose() renews every connection: the kept ones too
            event.listen(self.sa, "engine_disposed", self._drop_kept)
        try:
            self.ensure_schema(create=self.is_sqlite if create is None else create)
        except BaseException:
            self.dispose()  # a refused database must not leave pooled connections behind
            raise

    # -- schema --------------------------------------------------------------------------------

    def revision(self) -> str | None:
        """The Alembic revision the database is at, or None when it has no leadflow tables."""
        try:
            with self.sa.connect() as conn:
                if not sa.inspect(conn).has_table("alembic_version"):
                    return None
                row = conn.execute(sa.text("SELECT version_num FROM alembic_version")).first()
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot read the database schema: {exc.__cause__ or exc}") from exc
        return row[0] if row else None

    def ensure_schema(self, *, create: bool) -> None:
        """Check the schema revision; create the tables in an empty database when allowed."""
        found = self.revision()
        if found == SCHEMA_REVISION:
            return
        if found is None and create:
            self.create_schema()
            return
        raise SchemaMismatch(found, SCHEMA_REVISION)

    def create_schema(self) -> None:
        """Create every table and stamp the Alembic revision (for new embedded databases)."""
        try:
            with self.sa.begin() as conn:
                metadata.create_all(conn)
                conn.execute(
                    sa.text(
                        "CREATE TABLE IF NOT EXISTS alembic_version ("
                        "version_num VARCHAR(32) NOT NULL PRIMARY KEY)"
                    )
                )
                conn.execute(sa.text("DELETE FROM alembic_version"))
                conn.execute(
                    sa.text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                    {"v": SCHEMA_REVISION},
                )
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(
                f"cannot create the leadflow tables: {exc.__cause__ or exc}"
            ) from exc

    def _drop_kept(self, _engine: sa.Engine) -> None:
        """Close the connections kept between transactions (``self.sa.dispose()`` was called:
        whoever called it wants new connections, with the database's current settings)."""
        while (raw := self._pop_kept()) is not None:
            with suppress(self.dbapi_error):
                raw.invalidate()

    def dispose(self) -> None:
        """Close pooled connections (only of an engine this store created)."""
        self._keep = False
        while (raw := self._pop_kept()) is not None:
            raw.close()
        if self.owns_engine:
            self.sa.dispose()

    # -- transactions --------------------------------------------------------------------------

    def query(self, statement: sa.Executable, what: str) -> list[Any]:
        """Run a read-only SQLAlchemy statement off the hot path; errors become StorageError."""
        try:
            with self.sa.connect() as conn:
                return list(conn.execute(statement).all())
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"{what}: the database failed: {exc.__cause__ or exc}") from exc

    @contextmanager
    def transaction(self, what: str, *, commit: bool = True, lazy: bool = False) -> Iterator[Tx]:
        """A DBAPI transaction committed on success (rolled back whatever happens with
        ``commit=False``: a dry run); DBAPI errors become :class:`StorageError`.

        ``lazy`` (PostgreSQL): the transaction begins at its first write, and a change that
        is its only write commits by itself (see :class:`Tx`); a fire then takes two round
        trips instead of four (BEGIN, read, write, COMMIT). Elsewhere it changes nothing."""
        raw = self._checkout(what)
        healthy = False  # the connection ended its transaction cleanly: it may be kept
        lazy = lazy and commit and self.dialect == "postgresql"
        try:
            cursor = raw.cursor()
            try:
                if lazy:
                    raw.dbapi_connection.autocommit = True  # BEGIN is sent by the Tx
                    tx = Tx(self, cursor, lambda: cursor.execute("BEGIN"))
                else:
                    tx = Tx(self, cursor)
                yield tx
                if commit:
                    for hook in tx.before_commit:
                        hook()
                    raw.commit()
                else:
                    raw.rollback()
                healthy = True
            except BaseException:
                with suppress(self.dbapi_error):  # a lost connection cannot roll back
                    raw.rollback()
                    healthy = True
                raise
            finally:
                with suppress(self.dbapi_error):
                    cursor.close()
                if lazy:
                    try:  # pooled connections begin their transactions themselves again
                        raw.dbapi_connection.autocommit = False
                    except self.dbapi_error:  # lost, say: never pooled in autocommit mode
                        raw.invalidate()
                        healthy = False
        except self.integrity_error:
            raise
        except self.dbapi_error as exc:
            healthy = False
            if _is_transient(exc):
                raise TransactionConflict(what) from exc
            if self.sa.dialect.is_disconnect(cast(Any, exc), raw.dbapi_connection, None):
                self._forget_connections(raw)
                raise StorageError(
                    f"{what}: the database connection was lost ({exc}); retry (with the same "
                    "idempotency key, if the change may have been committed)"
                ) from exc
            raise StorageError(f"{what}: the database failed: {exc}") from exc
        finally:
            self._checkin(raw, healthy)

    def _checkout(self, what: str) -> Any:
        """A pooled DBAPI connection: one this store kept from its last transaction, else
        the SQLAlchemy pool's (its checkout and checkin cost about a tenth of a fire)."""
        raw = self._pop_kept()
        if raw is not None:
            return raw
        try:
            return self.sa.raw_connection()
        except (sa.exc.SQLAlchemyError, self.dbapi_error) as exc:  # raw: the driver's own error
            raise StorageError(f"{what}: cannot connect: {exc.__cause__ or exc}") from exc

    def _pop_kept(self) -> Any:
        """A connection this process kept, taken off the list; None when there is none."""
        while self._idle:
            try:
                raw, pid = self._idle.pop()
            except IndexError:  # another thread took the last one
                break
            if pid == os.getpid():
                return raw
            # a forked child must not use its parent's connection (nor close it)
        return None

    def _checkin(self, raw: Any, healthy: bool) -> None:
        """Keep a connection that ended cleanly (at most :data:`_KEPT`, so the SQLAlchemy pool
        always has connections for the queries off the hot path); else return it to the pool."""
        if healthy and self._keep and len(self._idle) < _KEPT:
            self._idle.append((raw, os.getpid()))
        else:
            raw.close()

    def _forget_connections(self, raw: Any) -> None:
        """After a lost connection (the server restarted, say): drop it and every idle pooled
        one, which are as dead, so the next transaction connects afresh. (The raw DBAPI
        cursors of the hot path bypass SQLAlchemy's own disconnect handling; without this a
        dead connection went back to the pool and failed every later transaction.) The
        connections this store kept between transactions go the same way."""
        raw.invalidate()
        self._drop_kept(self.sa)
        self.sa.dispose()

    def decode_time(self, value: str | datetime) -> datetime:
        """A stored time as an aware UTC datetime."""
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def row(self, r: Sequence[Any]) -> InstanceRow:
        """An :class:`InstanceRow` from a SELECT of ``SELECT_COLS``."""
        dt = self.decode_time
        return InstanceRow(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            loads(r[6]),
            r[7],
            r[8],
            dt(r[9]),
            dt(r[10]),
            dt(r[11]),
            r[12],
            loads(r[13]) if r[13] else {},
        )


_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure
_TRANSIENT_SQLITE = frozenset({5, 6, 517})  # SQLITE_BUSY, SQLITE_LOCKED, SQLITE_BUSY_SNAPSHOT


def _is_transient(exc: BaseException) -> bool:
    """A failure the database resolved by aborting us; the same work may well succeed again."""
    return (
        getattr(exc, "sqlstate", None) in _TRANSIENT_SQLSTATES
        or getattr(exc, "sqlite_errorcode", None) in _TRANSIENT_SQLITE
    )


def _sqlite_time(value: datetime) -> str:
    """SQLAlchemy's SQLite DateTime text format (``2026-01-05 09:00:00.000000``), in UTC."""
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _aware(value: datetime) -> datetime:
    return value


def _make_engine(url: str) -> sa.Engine:
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StorageError(
            f"{url!r} is not a database URL; use sqlite:///path/to/leadflow.db or "
            "postgresql+psycopg://user@host/dbname"
        ) from exc
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    synchronous = "NORMAL"
    if parsed.get_backend_name() == "sqlite" and "synchronous" in parsed.query:
        synchronous = _synchronous(url, parsed.query["synchronous"])
        parsed = parsed.difference_update_query(["synchronous"])
    # every transaction of ours ends in commit or rollback: the pool's reset would be a second one
    kwargs: dict[str, Any] = {"pool_reset_on_return": None}
    memory = parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")
    if memory:
        kwargs["poolclass"] = StaticPool
        kwargs["connect_args"] = {"check_same_thread": False}
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        hint = " (install leadflow[postgres] for PostgreSQL)" if "postgres" in url else ""
        raise StorageError(f"cannot use database {url!r}: {exc}{hint}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas(memory, synchronous))
    return engine


_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def _synchronous(url: str, given: str | tuple[str, ...]) -> str:
    """The ``synchronous`` query parameter of a SQLite URL, checked (SQLite's own levels)."""
    value = given if isinstance(given, str) else given[-1]
    if value.upper() not in _SYNCHRONOUS:
        raise StorageError(
            f"{url!r}: synchronous={value!r} is not a SQLite synchronous level; "
            f"use one of {', '.join(_SYNCHRONOUS)} (NORMAL is the default)"
        )
    return value.upper()


def _sqlite_pragmas(memory: bool, synchronous: str) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cur = dbapi_connection.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    return on_connect
