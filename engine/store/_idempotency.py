"""Idempotency keys: the first answer to a write, kept so that a retry gets it back.

The HTTP service honours an ``Idempotency-Key`` header on writes. The answer lives in the
database (``lf_idempotency``), not in a replica's memory, so a retry after a crash or one that
lands on another replica returns the first answer instead of doing the write twice.

How a write uses it, in one :meth:`Store.transaction <leadflow.engine.store.Store.transaction>`:

1. ``tx.answer(scope, key)``: a :class:`StoredAnswer` means the write was done before; return it
   (after comparing its ``request_hash`` with this request's: another request under the same key
   is the client's mistake, not a retry).
2. Otherwise do the write, then ``tx.save_answer(scope, key, request_hash, status, body, at)`` in
   the same transaction, and commit.

Two requests with the same key at the same time both find nothing in step 1; the second one's
``save_answer`` then raises the store's integrity error (``store.integrity_error``, the DBAPI
``IntegrityError``; on PostgreSQL it waits for the first transaction to commit). The first answer
stays as it was. The error is deliberately not wrapped: leaving the transaction by it rolls back
the second request's write with it (on PostgreSQL the transaction is unusable after it anyway),
and the caller reads the winner's answer with ``tx.answer`` in a new transaction ("someone else
answered first").

The statements are hand-written portable SQL on the transaction's DBAPI cursor, like the rest
of :class:`~leadflow.engine.store.Tx`; :func:`purge_answers` runs off the hot path through
SQLAlchemy Core.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple, Protocol

import sqlalchemy as sa
from sqlalchemy import Engine

from leadflow.engine._clock import as_utc
from leadflow.engine._errors import StorageError
from leadflow.engine.store.tables import idempotency

__all__ = ["StoredAnswer", "purge_answers", "read_answer", "write_answer"]


class StoredAnswer(NamedTuple):
    """The first answer given to a write under one idempotency key.

    ``tx.answer(scope, key)`` reads it; ``tx.save_answer(...)`` stores it in the transaction of
    the write. When an answer is stored already, ``save_answer`` raises ``store.integrity_error``
    (the DBAPI ``IntegrityError``, not wrapped) and the first answer stays: someone else
    answered first, so let the error roll the transaction back and return their answer, read
    with ``tx.answer`` in a new transaction.
    """

    request_hash: str
    """A hash of the request that got this answer (the caller chooses how it hashes)."""
    status: int
    """The HTTP status code of the answer."""
    body: str
    """The answer's body, as sent."""


def read_answer(cur: Any, p: str, scope: str, key: str) -> StoredAnswer | None:
    """The stored answer of ``(scope, key)``, or None (``p``: the DBAPI placeholder)."""
    cur.execute(
        f'SELECT request_hash, status, body FROM lf_idempotency WHERE scope = {p} AND "key" = {p}',
        (scope, key),
    )
    r = cur.fetchone()
    return None if r is None else StoredAnswer(str(r[0]), int(r[1]), str(r[2]))


def write_answer(
    cur: Any,
    p: str,
    encode_time: Callable[[datetime], Any],
    scope: str,
    key: str,
    request_hash: str,
    status: int,
    body: str,
    at: datetime,
) -> None:
    """Insert the answer of ``(scope, key)``; the DBAPI integrity error if it has one already."""
    cur.execute(
        "INSERT INTO lf_idempotency "
        '(scope, "key", request_hash, status, body, created_at) '
        f"VALUES ({p}, {p}, {p}, {p}, {p}, {p})",
        (scope, key, request_hash, status, body, encode_time(as_utc(at))),
    )


class _Database(Protocol):
    """What :func:`purge_answers` needs of a :class:`~leadflow.engine.store.Store`."""

    sa: Engine


def purge_answers(store: _Database, before: datetime) -> int:
    """Delete the answers stored before ``before`` (a retry later than that does the write
    again); returns how many went. Run it now and then, e.g. with a day's margin."""
    t = idempotency
    try:
        with store.sa.begin() as conn:
            gone = conn.execute(t.delete().where(t.c.created_at < as_utc(before))).rowcount
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(
            f"purge idempotency answers: the database failed: {exc.__cause__ or exc}"
        ) from exc
    return int(gone)
