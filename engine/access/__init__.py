"""Access rules: roles, what each may do to which lead, and why a request was refused.

See :mod:`leadflow.engine.access._rules` for the table of roles. The HTTP service checks every
request with :func:`require`; Python hosts can do the same with an :class:`Actor`.
"""

from leadflow.engine.access._redaction import is_hidden, seen_without_hidden, without_hidden
from leadflow.engine.access._rules import (
    LEAD_VERBS,
    ROLES,
    VERBS,
    AccessDecision,
    AccessDenied,
    Actor,
    LeadScope,
    explain_access,
    hidden_fields,
    lead_scope,
    require,
    team_members,
)

__all__ = [
    "LEAD_VERBS",
    "ROLES",
    "VERBS",
    "AccessDecision",
    "AccessDenied",
    "Actor",
    "LeadScope",
    "explain_access",
    "hidden_fields",
    "is_hidden",
    "lead_scope",
    "require",
    "seen_without_hidden",
    "team_members",
    "without_hidden",
]
