"""The lead-to-account match: which imported account a lead belongs to, and how sure that is.

:class:`AccountMatcher` is built once per definition version from its ``match_account``; the
router asks it first for every lead it routes by the rules. The ways of ``by`` are tried in
order; the first that finds an account wins:

* ``email_domain``: the email's domain (not a free-mail one), then its parent domains, against
  the accounts' domains; score 1.0. Several accounts of one domain: the lowest account id.
* ``company_name``: the normalised company name against the accounts' normalised names; equal
  names score 1.0, else the best :func:`similarity` at or over ``fuzzy`` wins (ties: the lowest
  account id). The list's names are read once and kept until the list changes.

A match whose owner is the lead's current owner (a reassignment, a pass) is no match: the
routing rules go on, noting why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leadflow.definitions import AccountMatch
from leadflow.engine._criteria import CelProgram, EvalContext
from leadflow.engine.routing._account_keys import (
    FREE_MAIL,
    company_key,
    domain_of_email,
    parents,
    similarity,
)
from leadflow.engine.routing._store import RoutingStore

__all__ = ["ACCOUNT_TEAM", "AccountHit", "AccountMatcher"]

ACCOUNT_TEAM = "@account"
"""The team a decision names (and ``lf_routes`` records) when an account match chose the owner."""

_WAYS = {"email_domain": "email domain", "company_name": "company name"}


@dataclass(frozen=True, slots=True)
class AccountHit:
    """The account a lead matched, on what, and how well."""

    account: str
    """The account's CRM id."""
    name: str | None
    owner: str
    by: str
    """``email_domain`` or ``company_name``."""
    matched: str
    """The domain, or the normalised company name, that matched."""
    score: float
    """1.0 for a domain or an equal name; the names' similarity for a fuzzy match."""

    @property
    def reason(self) -> str:
        """``account match: email domain acme.com = Acme Inc (0011), score 1.00``."""
        label = f"{self.name} ({self.account})" if self.name else self.account
        return f"account match: {_WAYS[self.by]} {self.matched} = {label}, score {self.score:.2f}"


class AccountMatcher:
    """Matches leads to the accounts of ``spec.accounts`` (one per definition version)."""

    def __init__(self, spec: AccountMatch, activity_types: tuple[str, ...]) -> None:
        self.spec = spec
        self.free_mail = FREE_MAIL | set(spec.free_mail)
        self._when = CelProgram(spec.when, activity_types) if spec.when else None
        self._names: tuple[tuple[Any, ...], list[tuple[str, str, str | None, str]]] | None = None

    def match(
        self, cur: RoutingStore, lead: Mapping[str, Any], ctx: EvalContext
    ) -> AccountHit | None:
        """The account ``lead`` belongs to, or None (``when`` does not hold, nothing matches)."""
        if self._when is not None and not self._when.run(ctx)[0]:
            return None
        for way in self.spec.by:
            if way == "email_domain":
                hit = self._by_domain(cur, lead.get(self.spec.email_field))
            else:
                hit = self._by_name(cur, lead.get(self.spec.company_field))
            if hit is not None:
                return hit
        return None

    def _by_domain(self, cur: RoutingStore, email: object) -> AccountHit | None:
        domain = domain_of_email(email)
        if domain is None or domain in self.free_mail:
            return None
        p = cur.param
        for candidate in parents(domain):
            cur.cur.execute(
                "SELECT account, name, owner FROM lf_accounts WHERE list = "
                f"{p} AND domain = {p} ORDER BY account LIMIT 1",
                (self.spec.accounts, candidate),
            )
            row = cur.cur.fetchone()
            if row is not None:
                return AccountHit(row[0], row[1], row[2], "email_domain", candidate, 1.0)
        return None

    def _by_name(self, cur: RoutingStore, company: object) -> AccountHit | None:
        key = company_key(company)
        if not key:
            return None
        best: tuple[float, str, str | None, str] | None = None
        for account, name_key, name, owner in self._list(cur):
            score = similarity(key, name_key) if name_key != key else 1.0
            if score < self.spec.fuzzy:
                continue
            if best is None or score > best[0] or (score == best[0] and account < best[1]):
                best = (score, account, name, owner)
        if best is None:
            return None
        return AccountHit(best[1], best[2], best[3], "company_name", key, round(best[0], 4))

    def _list(self, cur: RoutingStore) -> list[tuple[str, str, str | None, str]]:
        """(account, name key, name, owner) of the list's named accounts, read again only when
        the list changed since (its count, last id and last import time)."""
        p = cur.param
        cur.cur.execute(
            "SELECT count(*), max(id), max(imported_at) FROM lf_accounts WHERE list = "
            f"{p} AND name_key IS NOT NULL",
            (self.spec.accounts,),
        )
        stamp = tuple(cur.cur.fetchone())
        cached = self._names
        if cached is not None and cached[0] == stamp:
            return cached[1]
        cur.cur.execute(
            "SELECT account, name_key, name, owner FROM lf_accounts WHERE list = "
            f"{p} AND name_key IS NOT NULL ORDER BY account",
            (self.spec.accounts,),
        )
        names = [(str(a), str(k), n, str(o)) for a, k, n, o in cur.cur.fetchall()]
        self._names = (stamp, names)
        return names
