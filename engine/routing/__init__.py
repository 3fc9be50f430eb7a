"""Who gets a lead: routing rules, teams, share caps and out-of-office periods.

:class:`Router` applies a definition's ``routing:`` rules and team strategies (round robin,
weighted shares, capacity caps, fair catch-up) and returns a :class:`RouteDecision`;
:class:`RoutingStore` keeps their state (rotation, counts, owed turns, away periods) in the
transaction that starts or reassigns the lead. ``set_away`` / ``clear_away`` / ``list_away``
manage out-of-office periods; :func:`import_accounts` keeps the CRM's accounts that
``match_account`` matches leads to. :func:`dry_run` shows where leads (:func:`read_leads` reads
them from a file) would go under a definition, changing nothing.
"""

from leadflow.engine.routing._account_match import ACCOUNT_TEAM, AccountHit
from leadflow.engine.routing._accounts import (
    Account,
    AccountImport,
    InvalidAccounts,
    import_accounts,
    list_accounts,
    read_accounts,
)
from leadflow.engine.routing._dry_run import DryRoute, LeadFileError, dry_run, read_leads
from leadflow.engine.routing._router import RouteDecision, Router, UnknownTeam
from leadflow.engine.routing._store import (
    AwayPeriod,
    InvalidAway,
    RoutingStore,
    clear_away,
    list_away,
    plan_owner,
    set_away,
)

__all__ = [
    "ACCOUNT_TEAM",
    "Account",
    "AccountHit",
    "AccountImport",
    "AwayPeriod",
    "DryRoute",
    "InvalidAccounts",
    "InvalidAway",
    "LeadFileError",
    "RouteDecision",
    "Router",
    "RoutingStore",
    "UnknownTeam",
    "clear_away",
    "dry_run",
    "import_accounts",
    "list_accounts",
    "list_away",
    "plan_owner",
    "read_accounts",
    "read_leads",
    "set_away",
]
