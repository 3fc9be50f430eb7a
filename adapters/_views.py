"""Outbox events as a role sees them: ``view = "<role>"`` on an adapter of the deployment
configuration sends it each event without the values of the fields that role may not read
(``access: roles: <role>: hidden`` in the lead's definition), like every other answer that role
gets. Field-level security holds on the way out too: a CRM or a partner's endpoint configured
with a role's view never receives what that role may not see.

A role that the lead's definition neither builds in nor declares sees no field values at all
(fail closed: a typo in ``view`` must not send everything).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

from leadflow.adapters.base import AdapterConfigError, Event
from leadflow.engine import Engine, LeadflowError
from leadflow.engine.access import ROLES, hidden_fields, seen_without_hidden, without_hidden

__all__ = ["RoleViews"]


class RoleViews:
    """The configured views: adapter name -> role (thread-safe: the cache only grows)."""

    def __init__(self, engine: Engine, views: Mapping[str, str]) -> None:
        self.engine = engine
        self.views = dict(views)
        self._hidden: dict[tuple[str, str, int], frozenset[str]] = {}

    def check(self) -> None:
        """:class:`AdapterConfigError` for a view naming a role no deployed definition knows."""
        known = set(ROLES)
        for process, versions in self.engine.processes().items():
            for version in versions:
                known |= set(self.engine.definition(process, version).access.roles)
        for adapter, role in sorted(self.views.items()):
            if role not in known:
                raise AdapterConfigError(
                    f"[adapters.{adapter}] view = '{role}': no such role (built in: "
                    f"{', '.join(ROLES)}; declared by definitions: "
                    f"{', '.join(sorted(known - set(ROLES))) or 'none'})"
                )

    def apply(self, adapter: str, event: Event) -> Event:
        """``event`` as ``adapter``'s role sees it (unchanged without a view)."""
        role = self.views.get(adapter)
        if role is None:
            return event
        data = event.data
        hidden = self._hidden_for(role, str(data.get("process")), data.get("definition_version"))
        if not hidden:
            return event
        envelope = {**event.envelope, "data": without_hidden(data, hidden)}
        lead = seen_without_hidden(event.lead, hidden) if event.lead is not None else None
        raw = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
        return dataclasses.replace(event, envelope=envelope, raw=raw, lead=lead)

    def _hidden_for(self, role: str, process: str, version: object) -> frozenset[str]:
        if not isinstance(version, int):
            return frozenset()  # not a lead's event (a process event carries no field values)
        key = (role, process, version)
        if key not in self._hidden:
            try:
                definition = self.engine.definition(process, version)
            except LeadflowError:
                return frozenset({"*"})
            declared = role in ROLES or role in definition.access.roles
            self._hidden[key] = (
                hidden_fields(role, definition) if declared else frozenset(definition.fields)
            )
        return self._hidden[key]
