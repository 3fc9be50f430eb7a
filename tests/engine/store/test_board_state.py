"""Saved board views and batch runs in the database, on SQLite and PostgreSQL: what the web
app's views and batch actions rely on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from leadflow.engine import Engine
from leadflow.engine.access import Actor
from leadflow.engine.store import BatchRuns, InvalidView, SavedViews, upgrade

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN = Actor("w-admin", "admin")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine over a new database at the newest schema."""
    if db_url.startswith("postgresql"):
        upgrade(db_url)
    with Engine(db_url) as lf:
        yield lf


def test_views_are_their_owners_or_shared_and_replaced_by_name(engine: Engine) -> None:
    """Own views first then shared ones, by name; the same name again replaces; only the owner
    deletes; bad names and long filters are refused, writing nothing."""
    views = SavedViews(engine.store)
    views.save("deals", "b", "owner=ana", by="ana", shared=False, at=AT)
    views.save("deals", "a", "team=east", by="ana", shared=True, at=AT)
    views.save("deals", "b", "owner=ben", by="ana", shared=False, at=AT)
    views.save("other", "x", "", by="ana", shared=False, at=AT)
    assert [(v.name, v.query, v.owner) for v in views.visible("deals", "ana")] == [
        ("b", "owner=ben", "ana"),
        ("a", "team=east", None),
    ]
    assert [v.name for v in views.visible("deals", "ben")] == ["a"]
    mine = views.visible("deals", "ana")[0]
    assert mine.created_at == AT
    with pytest.raises(InvalidView):
        views.delete("deals", mine.id, by="ben")
    views.delete("deals", mine.id, by="ana")
    with pytest.raises(InvalidView, match="name"):
        views.save("deals", "", "x=1", by="ana", shared=False, at=AT)
    with pytest.raises(InvalidView, match="filters"):
        views.save("deals", "long", "x" * 2001, by="ana", shared=False, at=AT)
    assert [v.name for v in views.visible("deals", "ana")] == ["a"]


def test_a_batch_run_counts_settles_once_and_finishes(engine: Engine) -> None:
    """A run starts all pending; each lead settles once (a second settle is refused); counts
    and failures follow; finished runs are not unfinished."""
    runs = BatchRuns(engine.store)
    leads = [f"L{k:04d}" for k in range(1500)]  # more than one insert chunk
    run_id = runs.create(
        "deals", "fire", "propose", lead_ids=leads, filter="owner=ana", actor=ADMIN, by="w", at=AT
    )
    assert runs.unfinished() == [run_id]
    assert runs.settle(run_id, "L0000", None)
    assert not runs.settle(run_id, "L0000", "again")
    assert runs.settle(run_id, "L0001", "Record the budget")
    run = runs.get(run_id)
    assert run is not None
    assert run.counts == {"pending": 1498, "succeeded": 1, "failed": 1}
    assert run.total == 1500
    assert run.failures == (("L0001", "Record the budget"),)
    assert (run.action, run.argument, run.filter, run.actor) == (
        "fire",
        "propose",
        "owner=ana",
        ADMIN,
    )
    assert runs.pending(run_id, 2) == ["L0002", "L0003"]
    runs.finish(run_id, AT)
    assert runs.unfinished() == []
    assert runs.get(run_id + 1) is None


def test_one_lease_at_a_time(engine: Engine) -> None:
    """A run's lease is one owner's until it runs out or is let go; a finished run is no one's."""
    runs = BatchRuns(engine.store)
    run_id = runs.create(
        "deals", "assign", None, lead_ids=["a"], filter="", actor=ADMIN, by="w", at=AT
    )
    assert runs.lease(run_id, "one", AT)
    assert runs.lease(run_id, "one", AT + timedelta(seconds=30))  # renewed
    assert not runs.lease(run_id, "two", AT + timedelta(seconds=60))
    assert runs.lease(run_id, "two", AT + timedelta(seconds=91))  # ran out
    runs.finish(run_id, AT)
    assert not runs.lease(run_id, "two", AT + timedelta(seconds=92))
    with pytest.raises(ValueError, match="fire or assign"):
        runs.create("deals", "delete", None, lead_ids=[], filter="", actor=ADMIN, by="w", at=AT)
