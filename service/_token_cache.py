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
