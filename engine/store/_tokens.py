"""API tokens of the HTTP service: create, verify, list, revoke (``leadflow token``).

A token reads ``lf_<prefix>_<secret>``: ``prefix`` is 8 random URL-safe characters, a public id
stored as it is and used to find the token's row; ``secret`` is 32 random bytes
(``secrets.token_urlsafe``, 43 characters). The token is shown once, when it is created; the
database keeps only the SHA-256 of the secret, in hex, compared in constant time
(:func:`hmac.compare_digest`).

Why not a slow password hash (argon2, bcrypt): those exist to make guessing a *human-chosen*
password from a stolen hash expensive. A 256-bit random secret cannot be guessed whatever the
hash costs, so SHA-256 is as safe here, while argon2 would add some 50 ms of CPU to every
request the service authenticates.

``verify`` writes ``last_used_at`` at most once a minute per token, so that authenticating a
request is one indexed read, not a write per request. Every write runs in its own transaction
through SQLAlchemy Core; an error raised (:class:`InvalidToken`, :class:`UnknownToken`) means
nothing was written.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from leadflow.definitions import LeadflowError
from leadflow.engine._clock import as_utc
from leadflow.engine._errors import StorageError
from leadflow.engine.access import ROLES
from leadflow.engine.store._store import Store
from leadflow.engine.store.tables import tokens as tokens_table

__all__ = ["ROLES", "InvalidToken", "TokenInfo", "TokenStore", "UnknownToken"]


_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_TEAM = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")  # a team name of a definition
_MAX_OWNER = 255
_PREFIX_BYTES = 6  # 8 URL-safe characters
_SECRET_BYTES = 32  # 43 URL-safe characters
_PREFIX_LEN = 8
_SECRET_LEN = 43
_TOKEN = re.compile(rf"lf_([A-Za-z0-9_-]{{{_PREFIX_LEN}}})_([A-Za-z0-9_-]{{{_SECRET_LEN}}})")
_TOUCH_EVERY = timedelta(minutes=1)
_ATTEMPTS = 5  # new prefixes tried when a random one is taken already (48 bits: never, really)


class InvalidToken(LeadflowError, ValueError):
    """A token was given a bad name, role, team or owner, or the name is taken; nothing was
    written."""

    code = "invalid-token"


class UnknownToken(LeadflowError, LookupError):
    """No token has that name."""

    code = "unknown-token"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What is known of a token, never the token itself nor its hash."""

    id: int
    name: str
    """Unique: 1 to 64 letters, digits, ``.``, ``_`` or ``-``."""
    role: str
    """One of :data:`ROLES`."""
    team: str | None
    """The team the token acts for (managers, reps), if any."""
    owner: str | None
    """The owner id the token acts as (reps), if any."""
    created_at: datetime
    revoked_at: datetime | None
    """When it was revoked; a revoked token no longer verifies."""
    last_used_at: datetime | None
    """Its last successful verification, to the minute."""

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready mapping (times as ISO 8601 text)."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "team": self.team,
            "owner": self.owner,
            "created_at": self.created_at.isoformat(),
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
            "last_used_at": None if self.last_used_at is None else self.last_used_at.isoformat(),
        }


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidToken(
            f"token name {name!r} is not allowed; use 1 to 64 letters, digits, '.', '_' or '-'"
        )
    return name


def _time(value: object, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidToken(f"{what} {value!r} is not a datetime; pass an aware datetime")
    try:
        return as_utc(value)
    except ValueError as exc:
        raise InvalidToken(f"{what}: {exc}") from exc


class TokenStore:
    """The API tokens of one :class:`~leadflow.engine.store.Store`."""

    __slots__ = ("store",)

    _COLUMNS = (
        tokens_table.c.id,
        tokens_table.c.name,
        tokens_table.c.role,
        tokens_table.c.team,
        tokens_table.c.owner,
        tokens_table.c.created_at,
        tokens_table.c.revoked_at,
        tokens_table.c.last_used_at,
    )

    def __init__(self, store: Store) -> None:
        self.store = store

    def _info(self, r: Any) -> TokenInfo:
        dt = self.store.decode_time
        return TokenInfo(
            int(r[0]),
            r[1],
            r[2],
            r[3],
            r[4],
            dt(r[5]),
            None if r[6] is None else dt(r[6]),
            None if r[7] is None else dt(r[7]),
        )

    def _by_name(self, conn: sa.Connection, name: str) -> TokenInfo | None:
        r = conn.execute(sa.select(*self._COLUMNS).where(tokens_table.c.name == name)).first()
        return None if r is None else self._info(r)

    def create(
        self,
        name: str,
        role: str,
        *,
        team: str | None = None,
        owner: str | None = None,
        at: datetime,
        custom_roles: Collection[str] = (),
    ) -> tuple[str, TokenInfo]:
        """A new token: ``(token text, its info)``. The text is returned only here; keep it.

        ``role`` is one of :data:`ROLES` or of ``custom_roles`` (the roles deployed definitions
        declare under ``access.roles``). :class:`InvalidToken` names what is wrong (a bad name,
        an unknown role, a bad team or owner, a name another token has, revoked or not); nothing
        is written then.
        """
        name = _name(name)
        _check_grant(role, team, owner, custom_roles)
        when = _time(at, "at")
        taken = InvalidToken(f"token name {name!r} is taken; choose another name")
        t = tokens_table
        for _ in range(_ATTEMPTS):
            prefix = secrets.token_urlsafe(_PREFIX_BYTES)
            secret = secrets.token_urlsafe(_SECRET_BYTES)
            insert = (
                t.insert()
                .values(
                    name=name,
                    role=role,
                    team=team,
                    owner=owner,
                    prefix=prefix,
                    hash=_digest(secret),
                    created_at=when,
                )
                .returning(t.c.id)
            )
            try:
                with self.store.sa.begin() as conn:
                    if self._by_name(conn, name) is not None:
                        raise taken
                    ident = int(conn.execute(insert).scalar_one())
            except sa.exc.IntegrityError as exc:
                # a concurrent create took the name, or (48 random bits) the prefix
                if self._exists(name):
                    raise taken from exc
                continue
            except sa.exc.SQLAlchemyError as exc:
                raise StorageError(
                    f"create token {name}: the database failed: {exc.__cause__ or exc}"
                ) from exc
            info = TokenInfo(ident, name, role, team, owner, when, None, None)
            return f"lf_{prefix}_{secret}", info
        raise StorageError(f"create token {name}: no free token prefix after {_ATTEMPTS} tries")

    def _exists(self, name: str) -> bool:
        t = tokens_table
        return bool(self.store.query(sa.select(t.c.id).where(t.c.name == name), "read tokens"))

    def verify(self, token: str, at: datetime) -> TokenInfo | None:
        """The info of ``token`` if it is a live token, else None (malformed, unknown prefix,
        wrong secret, revoked). Records the use (``last_used_at``) when the last recorded one is
        a minute old or more."""
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        prefix, secret = match.groups()
        when = _time(at, "at")
        t = tokens_table
        rows = self.store.query(
            sa.select(*self._COLUMNS, t.c.hash).where(t.c.prefix == prefix), "verify a token"
        )
        if not rows:
            return None
        row = rows[0]
        if not hmac.compare_digest(_digest(secret), str(row[8])):
            return None
        info = self._info(row)
        if info.revoked_at is not None:
            return None
        if info.last_used_at is not None and when - info.last_used_at < _TOUCH_EVERY:
            return info
        stale = t.c.last_used_at.is_(None) | (t.c.last_used_at <= when - _TOUCH_EVERY)
        try:
            with self.store.sa.begin() as conn:
                done = conn.execute(
                    t.update().where(t.c.id == info.id, stale).values(last_used_at=when)
                ).rowcount
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(
                f"verify token {info.name}: the database failed: {exc.__cause__ or exc}"
            ) from exc
        if not done:  # another request recorded a use in the meantime
            return info
        return TokenInfo(
            info.id,
            info.name,
            info.role,
            info.team,
            info.owner,
            info.created_at,
            info.revoked_at,
            when,
        )

    def get(self, name: str) -> TokenInfo | None:
        """The info of the token ``name`` (revoked or not), or None when there is none; for a
        session that names its token, to check that the token is still live."""
        try:
            with self.store.sa.connect() as conn:
                return self._by_name(conn, name)
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(
                f"read token {name}: the database failed: {exc.__cause__ or exc}"
            ) from exc

    def list(self) -> builtins.list[TokenInfo]:
        """Every token, revoked ones included, oldest first (no hashes, no secrets)."""
        rows = self.store.query(
            sa.select(*self._COLUMNS).order_by(tokens_table.c.id), "list tokens"
        )
        return [self._info(r) for r in rows]

    def revoke(self, name: str, at: datetime) -> TokenInfo:
        """Revoke the token ``name`` as of ``at``; it no longer verifies. Revoking a revoked
        token changes nothing (it keeps its first ``revoked_at``). :class:`UnknownToken` when
        no token has that name."""
        when = _time(at, "at")
        t = tokens_table
        try:
            with self.store.sa.begin() as conn:
                conn.execute(
                    t.update()
                    .where(t.c.name == name, t.c.revoked_at.is_(None))
                    .values(revoked_at=when)
                )
                info = self._by_name(conn, name)
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(
                f"revoke token {name}: the database failed: {exc.__cause__ or exc}"
            ) from exc
        if info is None:
            raise UnknownToken(f"no token is named {name!r}; see: leadflow token list")
        return info


def _check_grant(
    role: str, team: str | None, owner: str | None, custom_roles: Collection[str]
) -> None:
    """:class:`InvalidToken` for an unknown role, a bad team name or a bad owner id."""
    if role not in ROLES and role not in custom_roles:
        known = ", ".join([*ROLES, *sorted(set(custom_roles) - set(ROLES))])
        raise InvalidToken(f"role {role!r} is not a role; allowed: {known}")
    if team is not None and (not isinstance(team, str) or not _TEAM.fullmatch(team)):
        raise InvalidToken(
            f"team {team!r} is not a team name; use a letter, then up to 63 letters, digits or '_'"
        )
    if owner is not None and (
        not isinstance(owner, str)
        or not owner.strip()
        or owner != owner.strip()
        or len(owner) > _MAX_OWNER
        or not owner.isprintable()
    ):
        raise InvalidToken(
            f"owner {owner!r} is not an owner id; use 1 to {_MAX_OWNER} printable characters "
            "without surrounding spaces"
        )
