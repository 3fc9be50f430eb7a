"""``match_account:``: a lead that matches an existing account goes to the account's owner.

Accounts are imported from the CRM (``leadflow accounts import``), as LeanData matches leads to
the CRM's Account object: the CRM is where account ownership is decided, not leadflow.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator

from ._base import Name, _Model, as_tuple

__all__ = ["DOMAIN_PATTERN", "AccountMatch"]

DOMAIN_PATTERN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
"""A lowercase domain name of two labels or more (``acme.com``, ``eu.acme.co.uk``)."""

MatchBy = Literal["email_domain", "company_name"]


class AccountMatch(_Model):
    """Send a lead matching an imported account to the account's owner, before the routing
    rules (a lead that matches nothing is routed by them)."""

    by: Annotated[
        tuple[MatchBy, ...], BeforeValidator(as_tuple, json_schema_input_type=str | list[str])
    ] = Field(default=("email_domain", "company_name"), min_length=1)
    """What to match on, tried in order: ``email_domain`` (the lead's email domain against the
    accounts' domains; free-mail domains never match) and ``company_name`` (the normalised
    company name against the accounts' names)."""
    email_field: Name = "email"
    """The string field holding the lead's email address."""
    company_field: Name = "company"
    """The string field holding the lead's company name."""
    fuzzy: float = Field(default=1.0, gt=0, le=1)
    """The least similarity (0 to 1) of two normalised company names that still match; 1:
    only equal names (after normalisation) match."""
    accounts: Name = "default"
    """The account list to match against (``leadflow accounts import FILE --list NAME``)."""
    free_mail: tuple[str, ...] = ()
    """More email domains that never name an account, besides the shipped free-mail list."""
    when: str | None = None
    """A CEL condition over the lead: only leads it holds for are matched (always when absent)."""

    @field_validator("by")
    @classmethod
    def _once(cls, by: tuple[str, ...]) -> tuple[str, ...]:
        twice = sorted({b for b in by if by.count(b) > 1})
        if twice:
            raise ValueError(f"listed twice: {', '.join(twice)}")
        return by

    @field_validator("free_mail")
    @classmethod
    def _domains(cls, domains: tuple[str, ...]) -> tuple[str, ...]:
        bad = [d for d in domains if not DOMAIN_PATTERN.match(d)]
        if bad:
            raise ValueError(
                f"not a domain: {', '.join(map(repr, bad))}; write lowercase domains such as "
                "mail.example.com"
            )
        return domains
