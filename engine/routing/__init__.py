"""Who gets a lead: routing rules, teams, share caps and out-of-office periods.

:class:`Router` applies a definition's ``routing:`` rules and team strategies (round robin,
weighted shares, capacity caps) and returns a :class:`RouteDecision`; :class:`RoutingStore`
keeps their state (rotation, counts, away periods) in the transaction that starts or reassigns
the lead. ``set_away`` / ``clear_away`` / ``list_away`` manage out-of-office periods.
"""

from leadflow.engine.routing._router import RouteDecision, Router, UnknownTeam
from leadflow.engine.routing._store import (
    AwayPeriod,
    InvalidAway,
    RoutingStore,
    clear_away,
    list_away,
    set_away,
)

__all__ = [
    "AwayPeriod",
    "InvalidAway",
    "RouteDecision",
    "Router",
    "RoutingStore",
    "UnknownTeam",
    "clear_away",
    "list_away",
    "set_away",
]
