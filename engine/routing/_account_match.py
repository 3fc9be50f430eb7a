"""The lead-to-account match: which imported account a lead belongs to, and how sure that is.

:class:`AccountMatcher` is built once per definition version from its ``match_account``; the
router asks it first for every lead it routes by the rules. The ways of ``by`` are tried in
order; the first that finds an account wins:

* ``email_domain``: the email's domain (not a free-mail one), then its parent domains, against
  the accounts' domains; score 1.0. Several accounts of one domain: the lowest account id.
* ``company_name``: the normalised company name against the accounts' normalised names; equal
  names score 1.0 (found by the index), else the most similar name at or over ``fuzzy`` wins
  (:class:`NameIndex`; ties: the lowest account id). The list's names are read once and kept
  until the list changes.

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
    NameIndex,
    company_key,
    domain_of_email,
    parents,
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
        self._names: tuple[tuple[Any, ...], tuple[NameIndex, dict[str, Any]]] | None = None

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
            cur.cur.execute(  # by the (list, domain) index; the lowest account id wins
                f"SELECT account, name, owner FROM lf_accounts WHERE list = {p} AND domain = {p}",
                (self.spec.accounts, candidate),
            )
            row = min(cur.cur.fetchall(), default=None)
            if row is not None:
                return AccountHit(row[0], row[1], row[2], "email_domain", candidate, 1.0)
        return None

    def _by_name(self, cur: RoutingStore, company: object) -> AccountHit | None:
        key = company_key(company)
        if not key:
            return None
        p = cur.param
        cur.cur.execute(  # an equal name first, by the (list, name_key) index
            f"SELECT account, name, owner FROM lf_accounts WHERE list = {p} AND name_key = {p}",
            (self.spec.accounts, key),
        )
        row = min(cur.cur.fetchall(), default=None)
        if row is not None:
            return AccountHit(row[0], row[1], row[2], "company_name", key, 1.0)
        if self.spec.fuzzy >= 1:
            return None
        index, details = self._list(cur)
        found = index.closest(key, self.spec.fuzzy)
        if found is None:
            return None
        score, account = found
        name, owner = details[account]
        return AccountHit(account, name, owner, "company_name", key, round(score, 4))

    def _list(self, cur: RoutingStore) -> tuple[NameIndex, dict[str, tuple[str | None, str]]]:
        """The list's named accounts: their names indexed, and {account: (name, owner)}; read
        again only when the list's revision changed (every import makes one)."""
        p = cur.param
        cur.cur.execute(
            f"SELECT revision FROM lf_account_lists WHERE list = {p}", (self.spec.accounts,)
        )
        stamp = tuple(cur.cur.fetchone() or ())
        cached = self._names
        if cached is not None and cached[0] == stamp:
            return cached[1]
        cur.cur.execute(
            "SELECT account, name_key, name, owner FROM lf_accounts WHERE list = "
            f"{p} AND name_key IS NOT NULL ORDER BY account",
            (self.spec.accounts,),
        )
        rows = cur.cur.fetchall()
        index = NameIndex({str(a): str(k) for a, k, _, _ in rows})
        found = (index, {str(a): (n, str(o)) for a, _, n, o in rows})
        self._names = (stamp, found)
        return found
