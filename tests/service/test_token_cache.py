"""Verified tokens are trusted for a few seconds, then checked again (so revocation takes hold)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leadflow.engine import Engine
from leadflow.engine.store import TokenStore
from leadflow.service._token_cache import TokenCache

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def tokens(tmp_path: Path) -> Iterator[TokenStore]:
    with Engine(f"sqlite:///{tmp_path / 'lf.db'}") as engine:
        yield TokenStore(engine.store)


def test_a_revoked_token_stops_working_when_its_ttl_ends(tokens: TokenStore) -> None:
    """Within the TTL a verified token is trusted without a query; after it, a revoked token
    is refused; an unknown token is never remembered."""
    clock = [0.0]
    cache = TokenCache(tokens, ttl=10, monotonic=lambda: clock[0])
    token, info = tokens.create("t", "rep", owner="sdr_ana", at=NOW)
    verified = cache.verify(token, NOW)
    assert verified is not None
    assert verified.name == info.name
    tokens.revoke("t", at=NOW)
    clock[0] = 9.0
    assert cache.cached(token) == verified
    clock[0] = 10.5
    assert cache.cached(token) is None
    assert cache.verify(token, NOW) is None
    assert cache.verify("lf_nope", NOW) is None
    assert cache.cached("lf_nope") is None


def test_a_zero_ttl_checks_every_time(tokens: TokenStore) -> None:
    """With ttl 0 nothing is remembered: a revocation holds at the next request."""
    cache = TokenCache(tokens, ttl=0)
    token, _ = tokens.create("t", "viewer", at=NOW)
    assert cache.verify(token, NOW) is not None
    tokens.revoke("t", at=NOW)
    assert cache.verify(token, NOW) is None
