"""The fairness report: leads each team member got over a period against their fair share.

Every routing decision that named an owner is in ``lf_routes`` (starts, SLA reassignments,
reroutes, passes, batch releases). Per team of the definition, a member's *expected* count is
the team's leads given to members in the period times the member's share of the team's weights
(``weight``; 1 each unless ``weighted_round_robin`` says otherwise). The *deviation* is what the
member got minus that, and ``deviation_share`` the deviation over the expected count. ``owed``
is the catch-up turns the rotation owes the member now (``catch_up: true``). Leads that waited
in the team's queue are one row more (member: the queue owner, nothing expected); leads an
account match gave to the account's owner (``match_account``) are rows of team ``@account``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

import sqlalchemy as sa

from leadflow.engine._engine import Engine
from leadflow.engine.reports._common import as_of_or_now, utc
from leadflow.engine.reports._types import Report
from leadflow.engine.routing import ACCOUNT_TEAM
from leadflow.engine.store.tables import owed_turns, routes

__all__ = ["FairnessReport", "FairnessRow", "fairness"]


@dataclass(frozen=True, slots=True)
class FairnessRow:
    """One member's assignments in the period against the fair share."""

    team: str
    member: str
    weight: int | None
    """The member's weight in the team (None: the queue row)."""
    assigned: int
    """Leads routed to the member in the period."""
    expected: float | None
    """The member's fair share of the team's leads given to members."""
    deviation: float | None
    """assigned - expected."""
    deviation_share: float | None
    """deviation / expected (None when nothing was expected)."""
    owed: int
    """Catch-up turns owed to the member now."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FairnessReport(Report):
    """Per team and member: leads routed in the period against the fair share."""

    name: ClassVar[str] = "fairness"
    title: ClassVar[str] = "Routing fairness"
    row_type: ClassVar[type] = FairnessRow
    since: datetime | None
    """The period's start (None: since the first decision)."""
    rows: tuple[FairnessRow, ...]
    """Teams in declared order, members in declared order, the queue last; then ``@account``
    rows, by owner."""


def fairness(
    engine: Engine,
    process: str,
    version: int | None = None,
    as_of: datetime | None = None,
    *,
    since: datetime | None = None,
) -> FairnessReport:
    """Assignments against the fair share per team member, for decisions in (since, as_of]."""
    definition = engine.definition(process, version)
    when = as_of_or_now(engine, as_of)
    start = utc(since, "since") if since is not None else None
    counts = _counts(engine, process, start, when)
    owed = _owed(engine, process)
    rows: list[FairnessRow] = []
    for name, team in definition.teams.items():
        weights = {m.id: m.weight for m in team.members}
        total = sum(counts.get((name, m), 0) for m in weights)
        scale = sum(weights.values())
        for member, weight in weights.items():
            got = counts.get((name, member), 0)
            expected = total * weight / scale
            deviation = got - expected
            share = deviation / expected if expected else None
            held = owed.get((name, member), 0)
            rows.append(FairnessRow(name, member, weight, got, expected, deviation, share, held))
        queue = team.queue_owner(name)
        if counts.get((name, queue)):
            rows.append(FairnessRow(name, queue, None, counts[(name, queue)], None, None, None, 0))
    for (team_name, owner), n in sorted(counts.items()):
        if team_name == ACCOUNT_TEAM:  # an account match chose the owner: nothing expected
            rows.append(FairnessRow(team_name, owner, None, n, None, None, None, 0))
    return FairnessReport(
        process=process, version=definition.version, as_of=when, since=start, rows=tuple(rows)
    )


def _counts(
    engine: Engine, process: str, since: datetime | None, until: datetime
) -> dict[tuple[str, str], int]:
    r = routes.c
    query = sa.select(r.team, r.owner, sa.func.count()).where(
        r.process == process, r.at <= until, r.owner.is_not(None)
    )
    if since is not None:
        query = query.where(r.at > since)
    rows = engine.store.query(query.group_by(r.team, r.owner), f"fairness of {process}")
    return {(str(team), str(owner)): int(n) for team, owner, n in rows}


def _owed(engine: Engine, process: str) -> dict[tuple[str, str], int]:
    o = owed_turns.c
    query = sa.select(o.team, o.member, o.owed).where(o.process == process)
    rows = engine.store.query(query, f"owed turns of {process}")
    return {(str(team), str(member)): int(n) for team, member, n in rows}
