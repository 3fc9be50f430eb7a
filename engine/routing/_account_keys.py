"""What makes two accounts the same: email domains and company names, normalised.

* **Domains.** ``Ana@EU.Acme.com`` has the domain ``eu.acme.com``; it matches an account of
  ``eu.acme.com``, else of ``acme.com`` (parent domains down to two labels). An account's domain
  may be written as a website (``https://www.acme.com/about``: ``acme.com``). Free-mail domains
  (:data:`FREE_MAIL`: gmail.com, outlook.com, ...) never name an account.
* **Company names.** Lowercased, accents and punctuation dropped, ``&`` read as ``and``, a
  leading ``the`` and trailing legal forms (``Inc.``, ``GmbH``, ``Ltd``, ``S.A.``, ...) removed:
  ``The ACME Corp., Inc.`` and ``Acme`` are both ``acme``. :func:`similarity` compares two
  normalised names with :class:`difflib.SequenceMatcher` (the standard library's; no fuzzy
  matching library is a dependency): 1.0 for equal names. :class:`NameIndex` finds the most
  similar of many names, comparing only those that share the most three-letter runs.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Mapping
from difflib import SequenceMatcher
from importlib.resources import files

__all__ = [
    "FREE_MAIL",
    "NameIndex",
    "company_key",
    "domain_of_email",
    "domain_of_site",
    "parents",
    "similarity",
    "trigrams",
]

FREE_MAIL = frozenset(
    line.strip()
    for line in files(__package__).joinpath("free-mail-domains.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)
"""Email domains of free-mail providers (the shipped ``free-mail-domains.txt``): an address
there says nothing about the employer."""

_LEGAL = frozenset(
    {
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "co",
        "company",
        "llc",
        "llp",
        "lp",
        "ltd",
        "limited",
        "plc",
        "gmbh",
        "mbh",
        "ag",
        "kg",
        "ohg",
        "ug",
        "se",
        "sa",
        "sas",
        "sarl",
        "sasu",
        "nv",
        "bv",
        "ab",
        "as",
        "asa",
        "oy",
        "oyj",
        "aps",
        "spa",
        "srl",
        "sl",
        "slu",
        "pty",
        "pte",
        "kk",
        "lda",
    }
)
_WORD = re.compile(r"[a-z0-9]+")


def domain_of_email(email: object) -> str | None:
    """The lowercase domain of an email address, or None when it is not one."""
    if not isinstance(email, str) or email.count("@") != 1:
        return None
    domain = email.rsplit("@", 1)[1].strip().strip(".").lower()
    return domain if "." in domain and " " not in domain else None


def domain_of_site(text: object) -> str | None:
    """``https://www.Acme.com/about`` -> ``acme.com``; a bare domain stays as it is."""
    if not isinstance(text, str) or not text.strip():
        return None
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text.strip().lower())
    host = re.split(r"[/?#:]", host, maxsplit=1)[0].strip(".")
    host = host.removeprefix("www.")
    return host if "." in host and " " not in host else None


def parents(domain: str) -> list[str]:
    """``eu.acme.com`` -> ``[eu.acme.com, acme.com]``: the domain, then its parents of two
    labels or more."""
    labels = domain.split(".")
    return [".".join(labels[k:]) for k in range(max(len(labels) - 1, 1))]


def company_key(name: object) -> str:
    """A company name normalised for comparison (empty when nothing is left)."""
    if not isinstance(name, str):
        return ""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    plain = plain.replace("&", " and ")
    plain = re.sub(r"\b([a-z])\.(?=[a-z]\.)", r"\1", plain)  # s.a. -> sa., g.m.b.h. -> gmbh.
    plain = re.sub(r"\b([a-z])\.", r"\1", plain)
    words = _WORD.findall(plain)
    if words[:1] == ["the"] and len(words) > 1:
        words = words[1:]
    while len(words) > 1 and words[-1] in _LEGAL:
        words.pop()
    return " ".join(words)


def similarity(a: str, b: str) -> float:
    """How alike two normalised names are, 0.0 to 1.0 (1.0: equal)."""
    if a == b:
        return 1.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def trigrams(name: str) -> set[str]:
    """The three-letter runs of a normalised name, words padded as PostgreSQL's pg_trgm does
    (``acme``: ``"  a"``, ``" ac"``, ``"acm"``, ``"cme"``, ``"me "``)."""
    out: set[str] = set()
    for word in name.split():
        padded = f"  {word} "
        out.update(padded[k : k + 3] for k in range(len(padded) - 2))
    return out


class NameIndex:
    """Normalised account names, findable by similarity (built once per account list)."""

    CANDIDATES = 50
    """How many names sharing the most three-letter runs with the one sought are compared."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self.names = dict(names)
        """{account id: normalised name}"""
        self._runs: dict[str, list[str]] = defaultdict(list)
        for ident, name in sorted(self.names.items()):
            for run in trigrams(name):
                self._runs[run].append(ident)

    def closest(self, key: str, least: float) -> tuple[float, str] | None:
        """(similarity, account id) of the name most like ``key`` at ``least`` or more, among
        the :attr:`CANDIDATES` names sharing the most three-letter runs with it (ties: the
        smaller id); None when none is that alike."""
        shared: Counter[str] = Counter()
        for run in trigrams(key):
            shared.update(self._runs.get(run, ()))
        matcher = SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(key)  # the matcher keeps what it learnt of the second sequence
        best: tuple[float, str] | None = None
        for ident, _ in shared.most_common(self.CANDIDATES):
            name = self.names[ident]
            if 2 * min(len(key), len(name)) / (len(key) + len(name)) < least:
                continue
            matcher.set_seq1(name)
            score = matcher.ratio()
            if score >= least and (best is None or (-score, ident) < (-best[0], best[1])):
                best = (score, ident)
        return best
