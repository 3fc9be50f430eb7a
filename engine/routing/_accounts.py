"""Accounts imported from the CRM, and the lead-to-account match that routing runs first.

``leadflow accounts import FILE`` (:func:`import_accounts`) keeps accounts (id, name, domain,
owner) in named lists in ``lf_accounts``: the CRM decides who owns an account, as LeanData
matches leads against the CRM's Account object. A definition's ``match_account`` then sends a
lead that matches an account of its list to the account's owner (:class:`AccountMatcher`, run by
the router before the routing rules); :mod:`._account_keys` says what matches.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from leadflow.definitions import LeadflowError
from leadflow.engine._clock import as_utc
from leadflow.engine._errors import StorageError
from leadflow.engine._lead_files import read_records
from leadflow.engine.routing._account_keys import company_key, domain_of_site
from leadflow.engine.store import Store
from leadflow.engine.store.tables import account_lists
from leadflow.engine.store.tables import accounts as table

__all__ = [
    "Account",
    "AccountImport",
    "InvalidAccounts",
    "import_accounts",
    "list_accounts",
    "read_accounts",
]

_MAX = 255
_LIST = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_LISTED = 20
COLUMNS = {"id": "id", "name": "name", "domain": "domain", "owner": "owner"}
"""Our key -> the file's column, by default."""


class InvalidAccounts(LeadflowError, ValueError):
    """Accounts to import with missing or bad values; nothing was written."""

    code = "invalid-accounts"


@dataclass(frozen=True, slots=True)
class Account:
    """An imported account: its CRM id, name, domain and owner."""

    account: str
    name: str | None
    domain: str | None
    owner: str


@dataclass(frozen=True, slots=True)
class AccountImport:
    """What an import did to a list."""

    added: int
    updated: int
    removed: int
    """Accounts of the list not in the file, removed by ``replace=True``."""


def read_accounts(path: Path, columns: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Rows of a CSV or JSON-lines file as ``{"id", "name", "domain", "owner"}`` (``columns``
    maps those keys to the file's columns; a ``website`` column serves when there is no
    ``domain`` one). :class:`InvalidAccounts` when the file cannot be read."""
    names = {**COLUMNS, **(columns or {})}
    out = []
    try:
        for _, record in read_records(path):
            row = {key: record.get(column) for key, column in names.items()}
            if row["domain"] is None and "domain" not in (columns or {}):
                row["domain"] = record.get("website")
            out.append(row)
    except (OSError, ValueError, csv.Error) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidAccounts(f"cannot read {path}: {detail}") from exc
    return out


def _text(value: object) -> str | None:
    return str(value).strip() or None if value is not None else None


def _checked(rows: Iterable[Mapping[str, Any]]) -> list[Account]:
    """The rows as accounts; :class:`InvalidAccounts` listing every bad row (1 = the first)."""
    out: list[Account] = []
    problems: list[str] = []
    seen: set[str] = set()
    for n, row in enumerate(rows, start=1):
        ident, owner, name = _text(row.get("id")), _text(row.get("owner")), _text(row.get("name"))
        site = _text(row.get("domain"))
        domain = domain_of_site(site) if site else None
        why = []
        if not ident or len(ident) > _MAX:
            why.append(f"id: text of 1 to {_MAX} characters, not {row.get('id')!r}")
        elif ident in seen:
            why.append(f"id {ident!r} is listed twice")
        if not owner or len(owner) > _MAX:
            why.append(f"owner: text of 1 to {_MAX} characters, not {row.get('owner')!r}")
        if site and domain is None:
            why.append(f"domain: {site!r} is not a domain or website (acme.com)")
        if not name and not domain:
            why.append("give a name or a domain (nothing to match on)")
        if name and len(name) > _MAX:
            why.append(f"name: at most {_MAX} characters")
        if why:
            problems.append(f"account {n}: {'; '.join(why)}")
            continue
        assert ident is not None
        assert owner is not None
        seen.add(ident)
        out.append(Account(ident, name, domain, owner))
    if problems:
        more = len(problems) - _LISTED
        listed = "; ".join(problems[:_LISTED]) + (f"; and {more} more" if more > 0 else "")
        raise InvalidAccounts(f"{len(problems)} bad accounts, nothing imported: {listed}")
    return out


def import_accounts(
    store: Store,
    rows: Iterable[Mapping[str, Any]],
    *,
    at: datetime,
    account_list: str = "default",
    replace: bool = False,
) -> AccountImport:
    """Add or update accounts (``{"id", "name", "domain", "owner"}``; ``domain`` may be a
    website) in ``account_list``; with ``replace``, the list's accounts not given are removed.
    All rows are checked first: any bad one raises :class:`InvalidAccounts` and nothing is
    written."""
    if not isinstance(account_list, str) or not _LIST.match(account_list):
        raise InvalidAccounts(f"account list {account_list!r}: a name such as crm or emea_crm")
    given = _checked(rows)
    when = as_utc(at)
    t = table
    mine = t.c.list == account_list
    try:
        with store.sa.begin() as conn:
            known = {r[0] for r in conn.execute(sa.select(t.c.account).where(mine))}
            ids = [a.account for a in given]
            removed = len(known - set(ids)) if replace else 0
            if replace:
                conn.execute(t.delete().where(mine))
            else:
                for k in range(0, len(ids), 500):
                    conn.execute(t.delete().where(mine, t.c.account.in_(ids[k : k + 500])))
            if given:
                conn.execute(t.insert(), [_row(a, account_list, when) for a in given])
            _bump(conn, account_list, when)
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"import accounts: the database failed: {exc.__cause__}") from exc
    updated = len(known & set(ids))
    return AccountImport(len(given) - updated, updated, removed)


def _bump(conn: sa.Connection, account_list: str, at: datetime) -> None:
    """One more revision of the list (routing reads its names again)."""
    lists = account_lists.c
    bumped = conn.execute(
        account_lists.update()
        .where(lists.list == account_list)
        .values(revision=lists.revision + 1, imported_at=at)
    ).rowcount
    if not bumped:
        conn.execute(account_lists.insert().values(list=account_list, revision=1, imported_at=at))


def _row(a: Account, account_list: str, at: datetime) -> dict[str, Any]:
    key = company_key(a.name) or None
    return {
        "list": account_list,
        "account": a.account,
        "name": a.name,
        "name_key": key[:_MAX] if key else None,
        "domain": a.domain,
        "owner": a.owner,
        "imported_at": at,
    }


def list_accounts(store: Store, account_list: str = "default") -> list[Account]:
    """The accounts of ``account_list``, by account id."""
    t = table
    query = (
        sa.select(t.c.account, t.c.name, t.c.domain, t.c.owner)
        .where(t.c.list == account_list)
        .order_by(t.c.account)
    )
    return [Account(*row) for row in store.query(query, f"list accounts of {account_list}")]
