"""API tokens: only a hash is stored, and only a live token with the right secret verifies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from leadflow.engine import LeadflowError
from leadflow.engine.store import (
    ROLES,
    InvalidToken,
    Store,
    TokenInfo,
    TokenStore,
    UnknownToken,
    upgrade,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated, empty store, on SQLite and on PostgreSQL."""
    upgrade(db_url)
    s = Store(db_url)
    yield s
    s.dispose()


@pytest.fixture
def tokens(store: Store) -> TokenStore:
    """The token store of that database."""
    return TokenStore(store)


def rows(store: Store) -> list[tuple[object, ...]]:
    """Every lf_tokens row, as stored."""
    with store.sa.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text("SELECT * FROM lf_tokens ORDER BY id"))]


def test_a_created_token_verifies_and_has_the_documented_shape(tokens: TokenStore) -> None:
    """The token is lf_<8-char prefix>_<43-char secret> and verifies as the created token."""
    token, info = tokens.create("ci-bot", "ops", at=T0)
    assert token.startswith("lf_")
    assert len(token) == 3 + 8 + 1 + 43
    assert token[11] == "_"
    assert info == TokenInfo(info.id, "ci-bot", "ops", None, None, T0, None, None)
    found = tokens.verify(token, T0 + timedelta(seconds=5))
    assert found is not None
    assert (found.id, found.name, found.role) == (info.id, "ci-bot", "ops")
    assert found.last_used_at == T0 + timedelta(seconds=5)


def test_team_and_owner_are_kept(tokens: TokenStore) -> None:
    """A rep token keeps its team and owner, and verify returns them."""
    token, _ = tokens.create("ann.phone", "rep", team="inbound", owner="ann@example.com", at=T0)
    found = tokens.verify(token, T0)
    assert found is not None
    assert (found.role, found.team, found.owner) == ("rep", "inbound", "ann@example.com")


def test_only_the_hash_of_the_secret_is_stored(store: Store, tokens: TokenStore) -> None:
    """No stored column holds the token or its secret; the hash column is a 64-hex digest."""
    token, _ = tokens.create("ci-bot", "admin", at=T0)
    secret = token[12:]
    (row,) = rows(store)
    assert not any(isinstance(v, str) and (token in v or secret in v) for v in row)
    with store.sa.connect() as conn:
        stored = conn.execute(sa.text("SELECT hash, prefix FROM lf_tokens")).one()
    assert len(stored.hash) == 64
    assert int(stored.hash, 16) >= 0
    assert stored.hash != token
    assert stored.prefix == token[3:11]


def test_wrong_secret_unknown_prefix_and_malformed_tokens_do_not_verify(
    tokens: TokenStore,
) -> None:
    """A changed secret, an unknown prefix and text of another shape all give None."""
    token, _ = tokens.create("ci-bot", "ops", at=T0)
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    other_prefix = "lf_" + ("x" * 8) + token[11:]
    for bad in (flipped, other_prefix, "", "lf_", token + "x", token[:-1], "Bearer " + token):
        assert tokens.verify(bad, T0) is None, bad


def test_a_revoked_token_does_not_verify(tokens: TokenStore) -> None:
    """After revoke the token no longer verifies, and the info says when it was revoked."""
    token, _ = tokens.create("ci-bot", "ops", at=T0)
    revoked = tokens.revoke("ci-bot", T0 + timedelta(hours=1))
    assert revoked.revoked_at == T0 + timedelta(hours=1)
    assert tokens.verify(token, T0 + timedelta(hours=2)) is None
    again = tokens.revoke("ci-bot", T0 + timedelta(hours=3))
    assert again.revoked_at == T0 + timedelta(hours=1)


def test_revoking_an_unknown_name_raises_unknown_token(tokens: TokenStore) -> None:
    """UnknownToken is a LookupError with the code unknown-token."""
    with pytest.raises(UnknownToken) as info:
        tokens.revoke("nobody", T0)
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, LeadflowError)
    assert info.value.code == "unknown-token"
    assert "nobody" in str(info.value)


def test_last_used_is_written_at_most_once_a_minute(tokens: TokenStore) -> None:
    """Verifications within a minute of the recorded use leave last_used_at as it was."""
    token, _ = tokens.create("ci-bot", "ops", at=T0)
    tokens.verify(token, T0)
    tokens.verify(token, T0 + timedelta(seconds=59))
    (listed,) = tokens.list()
    assert listed.last_used_at == T0
    tokens.verify(token, T0 + timedelta(seconds=61))
    (listed,) = tokens.list()
    assert listed.last_used_at == T0 + timedelta(seconds=61)


def test_a_duplicate_name_changes_nothing_and_says_it_is_taken(
    store: Store, tokens: TokenStore
) -> None:
    """Creating a second token under a taken name is InvalidToken and writes no row."""
    tokens.create("ci-bot", "ops", at=T0)
    before = rows(store)
    with pytest.raises(InvalidToken, match="'ci-bot' is taken"):
        tokens.create("ci-bot", "admin", at=T0)
    assert rows(store) == before


def test_an_unknown_role_changes_nothing_and_names_the_roles(
    store: Store, tokens: TokenStore
) -> None:
    """An unknown role is InvalidToken (a ValueError, code invalid-token) listing every role."""
    with pytest.raises(InvalidToken) as info:
        tokens.create("ci-bot", "superuser", at=T0)
    assert isinstance(info.value, ValueError)
    assert info.value.code == "invalid-token"
    assert all(role in str(info.value) for role in ROLES)
    assert rows(store) == []


@pytest.mark.parametrize(
    ("name", "team", "owner"),
    [
        ("", None, None),
        ("has space", None, None),
        ("x" * 65, None, None),
        ("ok", "bad team", None),
        ("ok", "", None),
        ("ok", None, ""),
        ("ok", None, " ann"),
        ("ok", None, "a" * 256),
        ("ok", None, "ann\n"),
    ],
)
def test_bad_names_teams_and_owners_are_refused(
    store: Store, tokens: TokenStore, name: str, team: str | None, owner: str | None
) -> None:
    """A bad name, team or owner is InvalidToken and nothing is written."""
    with pytest.raises(InvalidToken):
        tokens.create(name, "rep", team=team, owner=owner, at=T0)
    assert rows(store) == []


def test_a_naive_time_is_refused(store: Store, tokens: TokenStore) -> None:
    """create needs an aware datetime, like every engine call."""
    with pytest.raises(InvalidToken, match="timezone"):
        tokens.create("ci-bot", "ops", at=datetime(2026, 1, 5, 9, 0))
    assert rows(store) == []


def test_list_returns_every_token_oldest_first_without_hashes(tokens: TokenStore) -> None:
    """list includes revoked tokens and its items carry no hash or secret."""
    first, _ = tokens.create("a", "admin", at=T0)
    second, _ = tokens.create("b", "viewer", at=T0 + timedelta(minutes=1))
    tokens.revoke("a", T0 + timedelta(minutes=2))
    listed = tokens.list()
    assert [(t.name, t.revoked_at is not None) for t in listed] == [("a", True), ("b", False)]
    for info in listed:
        text = repr(info) + repr(info.as_dict())
        assert "hash" not in text
        assert first[12:] not in text
        assert second[12:] not in text
