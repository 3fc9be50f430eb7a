"""Verified tokens, remembered briefly so that a request costs no token query.

A token verified in the last ``ttl`` seconds is trusted again without reading the database; a
revoked token therefore stops working within ``ttl`` (10 s by default) on every replica. Only
the SHA-256 of a token is kept as the key, never the token.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from datetime import datetime

from leadflow.engine.store import TokenInfo, TokenStore

__all__ = ["DEFAULT_TTL", "TokenCache"]

DEFAULT_TTL = 10.0
"""Seconds a verification is trusted."""

_MAX = 10_000


class TokenCache:
    """``verify`` with a short memory in front of :class:`TokenStore`."""

    def __init__(
        self,
        tokens: TokenStore,
        ttl: float = DEFAULT_TTL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tokens = tokens
        self.ttl = ttl
        self._monotonic = monotonic
        self._seen: dict[bytes, tuple[float, TokenInfo]] = {}
        self._named: dict[str, tuple[float, TokenInfo]] = {}
        self._lock = threading.Lock()

    def cached(self, token: str) -> TokenInfo | None:
        """The info of a token verified less than ``ttl`` seconds ago, else None."""
        key = hashlib.sha256(token.encode()).digest()
        with self._lock:
            hit = self._seen.get(key)
        if hit is not None and hit[0] > self._monotonic():
            return hit[1]
        return None

    def verify(self, token: str, at: datetime) -> TokenInfo | None:
        """The token's info (remembered for ``ttl``), or None when it is not a live token."""
        info = self.cached(token)
        if info is not None:
            return info
        info = self.tokens.verify(token, at)
        if info is not None and self.ttl > 0:
            key = hashlib.sha256(token.encode()).digest()
            with self._lock:
                if len(self._seen) >= _MAX:
                    self._seen.clear()
                self._seen[key] = (self._monotonic() + self.ttl, info)
        return info

    def live(self, name: str, ident: int) -> TokenInfo | None:
        """The info of the live token ``name`` whose id is ``ident`` (the token a web session
        was signed in with), remembered for ``ttl``; None once it is revoked or replaced."""
        with self._lock:
            hit = self._named.get(name)
        if hit is None or hit[0] <= self._monotonic():
            info = self.tokens.get(name)
            if info is None:
                return None
            hit = (self._monotonic() + self.ttl, info)
            if self.ttl > 0:
                with self._lock:
                    if len(self._named) >= _MAX:
                        self._named.clear()
                    self._named[name] = hit
        info = hit[1]
        return info if info.id == ident and info.revoked_at is None else None
