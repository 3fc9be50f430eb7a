"""Named board views: a board's filters saved under a name, a person's own or shared.

A view is the board's query string (``owner=ana&segment=smb``) kept with a name per process:
its owner (a token name) sees it, or everyone does when it is shared. Saving a name the same
person (or, for a shared view, anyone) already used for that process replaces the filters.
The filters are not trusted when a view is opened: the board checks them against the viewer's
role like any other URL, so a shared view never widens what someone sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from leadflow.definitions import LeadflowError
from leadflow.engine.store._begin import begin
from leadflow.engine.store._store import Store
from leadflow.engine.store.tables import board_views

__all__ = ["InvalidView", "SavedView", "SavedViews"]

_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
MAX_QUERY = 2000
"""Characters of a view's query string."""
MAX_VIEWS = 100
"""Views one person may keep per process (shared ones count for their creator)."""


class InvalidView(LeadflowError, ValueError):
    """A view's name or filters are not acceptable, or the person may not change it; nothing
    was written."""

    code = "invalid-view"


@dataclass(frozen=True, slots=True)
class SavedView:
    """A named board filter."""

    id: int
    process: str
    name: str
    owner: str | None
    """The token name whose view it is; None when it is shared."""
    created_by: str
    query: str
    """The filters as a query string, without ``?``."""
    created_at: datetime


class SavedViews:
    """The saved views of every process, in ``store``'s database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def save(
        self, process: str, name: str, query: str, *, by: str, shared: bool, at: datetime
    ) -> SavedView:
        """Save ``query`` as the view ``name`` of ``by`` (or shared); same name: replaced."""
        name = name.strip()
        if not _NAME.fullmatch(name):
            raise InvalidView("name: 1 to 64 characters, no control characters")
        if len(query) > MAX_QUERY:
            raise InvalidView(f"filters: at most {MAX_QUERY} characters")
        owner = None if shared else by
        v = board_views
        same = sa.and_(
            v.c.process == process,
            v.c.name == name,
            v.c.owner.is_(None) if owner is None else v.c.owner == owner,
        )
        with begin(self.store, f"save view {name!r}") as conn:
            if conn.execute(sa.delete(v).where(same)).rowcount == 0:
                mine = sa.select(sa.func.count()).where(
                    v.c.process == process, v.c.created_by == by
                )
                if conn.execute(mine).scalar_one() >= MAX_VIEWS:
                    raise InvalidView(f"at most {MAX_VIEWS} views per person and process")
            values = {
                "process": process,
                "name": name,
                "owner": owner,
                "created_by": by,
                "query": query,
                "created_at": at,
            }
            ident = conn.execute(sa.insert(v).values(**values)).inserted_primary_key
        assert ident is not None
        return SavedView(int(ident[0]), process, name, owner, by, query, at)

    def visible(self, process: str, viewer: str) -> list[SavedView]:
        """The views ``viewer`` sees on ``process``'s board: their own, then the shared ones,
        each by name."""
        v = board_views
        query = (
            sa.select(v)
            .where(v.c.process == process, sa.or_(v.c.owner == viewer, v.c.owner.is_(None)))
            .order_by(v.c.owner.is_(None), v.c.name)
        )
        return [self._view(r) for r in self.store.query(query, "list saved views")]

    def delete(self, process: str, view_id: int, *, by: str) -> None:
        """Delete a view: one's own, or a shared one one created. :class:`InvalidView` for a
        view that is not there or not theirs."""
        v = board_views
        mine = sa.or_(v.c.owner == by, sa.and_(v.c.owner.is_(None), v.c.created_by == by))
        with begin(self.store, f"delete view {view_id}") as conn:
            gone = conn.execute(sa.delete(v).where(v.c.id == view_id, v.c.process == process, mine))
        if gone.rowcount != 1:
            raise InvalidView(f"view {view_id}: no such view of yours")

    def _view(self, r: sa.Row[tuple[object, ...]]) -> SavedView:
        return SavedView(
            int(r.id),
            str(r.process),
            str(r.name),
            r.owner,
            str(r.created_by),
            str(r.query),
            self.store.decode_time(r.created_at),
        )
