"""Which leads a caller may list: the owners their role's scope covers, narrowed by filters."""

from __future__ import annotations

from leadflow.definitions import ProcessDefinition
from leadflow.engine.access import Actor, lead_scope, require, team_members
from leadflow.service._problems import Problem

__all__ = ["visible_owners"]


def visible_owners(
    actor: Actor,
    definition: ProcessDefinition,
    owner: str | None = None,
    team: str | None = None,
) -> tuple[set[str] | None, bool]:
    """(owners, unassigned) of the leads ``actor`` may read, narrowed to ``owner`` or ``team``
    (owners None: everyone's). A role that reads no lead data is refused (403)."""
    scope = lead_scope(actor, definition)
    if not scope.all and not scope.owners and not scope.unassigned:
        require(actor, "read")  # raises: this role reads no lead data
    owners = None if scope.all else set(scope.owners)
    unassigned = scope.all or scope.unassigned
    if owner is not None:
        owners = {owner} if owners is None or owner in owners else set()
        unassigned = False
    if team is not None:
        members = team_members(definition, team)
        if not members:
            raise Problem(422, "invalid_request", f"no team '{team}' in {definition.process}")
        owners = set(members) if owners is None else owners & members
        unassigned = False
    return owners, unassigned
