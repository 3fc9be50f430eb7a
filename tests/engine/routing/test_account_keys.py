"""What makes two accounts the same: company names and domains normalised, free-mail domains,
and the similarity search over many names."""

from __future__ import annotations

import pytest

from leadflow.engine.routing._account_keys import (
    FREE_MAIL,
    NameIndex,
    company_key,
    domain_of_email,
    domain_of_site,
    parents,
    similarity,
)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("The ACME Corp., Inc.", "acme"),
        ("Müller & Söhne GmbH", "muller and sohne"),
        ("Initech L.L.C.", "initech"),
        ("Renault S.A.", "renault"),
        ("Ltd", "ltd"),
        ("  ", ""),
    ],
)
def test_company_names_are_normalised(name: str, key: str) -> None:
    """Case, accents, punctuation, a leading 'the' and trailing legal forms do not count; a
    name that is only a legal form stays."""
    assert company_key(name) == key


def test_domains_of_emails_and_websites() -> None:
    """Emails give their lowercase domain; websites lose scheme, www and path; parents stop at
    two labels; the shipped free-mail list holds the big providers."""
    assert domain_of_email("Ana@EU.Acme.com") == "eu.acme.com"
    assert domain_of_email("not an email") is None
    assert domain_of_site("https://www.Acme.com/about?x=1") == "acme.com"
    assert domain_of_site("acme") is None
    assert parents("eu.acme.co.uk") == ["eu.acme.co.uk", "acme.co.uk", "co.uk"]
    assert {"gmail.com", "outlook.com", "yahoo.com", "gmx.de"} <= FREE_MAIL
    assert len(FREE_MAIL) >= 100


def test_the_index_finds_the_most_similar_name_and_breaks_ties_by_id() -> None:
    """The closest name at or over the threshold wins; equal scores go to the smaller id; a
    name under the threshold is no match."""
    index = NameIndex({"b": "initech", "a": "initech", "c": "initiative", "d": "globex"})
    assert index.closest("initec", 0.9) == (pytest.approx(similarity("initec", "initech")), "a")
    assert index.closest("initec", 0.95) is None
    assert index.closest("globe", 0.9) == (pytest.approx(0.909, abs=0.001), "d")
    assert similarity("acme", "acne") == 0.75
