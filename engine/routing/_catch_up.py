"""Fair catch-up: a member the rotation skipped while away or at capacity gets the turn back.

A team with ``catch_up: true`` (``round_robin`` or ``weighted_round_robin``) keeps, per member,
the turns its rotation owes (``lf_owed_turns``). On each decision, under the team's row lock:

1. If a member who is owed turns is available, that member takes the lead (the one owed most;
   ties in rotation order from the current turn) and is owed one turn less. The rotation does
   not move: the member whose turn it was keeps it for the next lead.
2. Otherwise the rotation picks as usual, and each member it passed over because they were
   *out of office* or *at capacity* is owed one more turn (at most ``catch_up_limit``).
   Members passed over outside their working hours, or as the lead's current owner, are owed
   nothing: those are not turns taken from them.

A decision that queues the lead (nobody available) owes nobody anything: nobody else got it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from leadflow.definitions import Team
from leadflow.engine.routing._store import RoutingStore

__all__ = ["OWING_REASONS", "settle"]

OWING_REASONS = frozenset({"out of office", "at capacity"})
"""Why a skipped member is owed the turn."""


def settle(
    cur: RoutingStore,
    process: str,
    team: Team,
    name: str,
    walk: Sequence[str],
    unavailable: Mapping[str, str],
    skipped: Sequence[tuple[str, str]],
) -> tuple[str, int] | None:
    """(member, turns still owed) when an owed member takes this lead; else None, with the
    turns owed to the ``skipped`` members recorded. ``walk``: members in rotation order from
    the current turn."""
    owed = cur.owed_turns(process, name)
    if not owed:
        debtors: list[str] = []
    else:
        debtors = [m for m in dict.fromkeys(walk) if owed.get(m, 0) > 0 and m not in unavailable]
    if debtors:
        taker = max(debtors, key=lambda m: owed[m])  # the first of the largest: rotation order
        cur.set_owed(process, name, taker, owed[taker] - 1)
        return taker, owed[taker] - 1
    limit = team.catch_up_limit
    for member, why in skipped:
        if why in OWING_REASONS:
            now = owed.get(member, 0) + 1
            if limit is None or now <= limit:
                cur.set_owed(process, name, member, now)
    return None
