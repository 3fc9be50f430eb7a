"""Idempotency keys: the first answer to a write is stored with it and wins over later ones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from leadflow.engine.store import Store, StoredAnswer, purge_answers, upgrade

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated, empty store, on SQLite and on PostgreSQL."""
    upgrade(db_url)
    s = Store(db_url)
    yield s
    s.dispose()


def test_save_answer_then_answer_round_trips(store: Store) -> None:
    """A saved answer comes back field for field from a later transaction."""
    with store.transaction("save") as tx:
        assert tx.answer("tok:POST /leads", "k1") is None
        tx.save_answer("tok:POST /leads", "k1", "h" * 64, 201, '{"id": "L1"}', T0)
    with store.transaction("read") as tx:
        assert tx.answer("tok:POST /leads", "k1") == StoredAnswer("h" * 64, 201, '{"id": "L1"}')
        assert tx.answer("tok:POST /leads", "k2") is None
        assert tx.answer("other", "k1") is None


def test_a_second_answer_for_the_same_key_raises_and_keeps_the_first(store: Store) -> None:
    """The second save_answer raises the store's integrity error and the first answer stays."""
    with store.transaction("first") as tx:
        tx.save_answer("s", "k", "first", 200, "one", T0)
    with pytest.raises(store.integrity_error), store.transaction("second") as tx:
        tx.save_answer("s", "k", "second", 500, "two", T0 + timedelta(seconds=1))
    with store.transaction("read") as tx:
        assert tx.answer("s", "k") == StoredAnswer("first", 200, "one")


def test_a_lost_race_rolls_back_the_whole_write(store: Store) -> None:
    """Whatever the losing transaction wrote before save_answer failed is rolled back too."""
    with store.transaction("first") as tx:
        tx.save_answer("s", "k", "h", 200, "one", T0)

    def second() -> None:
        with store.transaction("second") as tx:
            tx.save_answer("s", "other-key", "h", 200, "written before the conflict", T0)
            tx.save_answer("s", "k", "h", 200, "two", T0)

    with pytest.raises(store.integrity_error):
        second()
    with store.transaction("read") as tx:
        assert tx.answer("s", "other-key") is None


def test_purge_answers_deletes_only_older_ones(store: Store) -> None:
    """purge_answers removes answers stored before the cutoff and counts them."""
    with store.transaction("save") as tx:
        tx.save_answer("s", "old", "h", 200, "old", T0)
        tx.save_answer("s", "new", "h", 200, "new", T0 + timedelta(days=2))
    assert purge_answers(store, T0 + timedelta(days=1)) == 1
    with store.transaction("read") as tx:
        assert tx.answer("s", "old") is None
        assert tx.answer("s", "new") is not None
    assert purge_answers(store, T0 + timedelta(days=1)) == 0
