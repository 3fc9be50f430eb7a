"""The guards of one change: who acts (and their access rules), the version, the key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leadflow.definitions import ProcessDefinition
from leadflow.engine._idempotency import Idempotency
from leadflow.engine._types import Instance
from leadflow.engine.access import Actor, require

__all__ = ["Guards", "who_of"]


def who_of(actor: str | Actor | None) -> str | None:
    """The name history records for ``actor``."""
    return actor.id if isinstance(actor, Actor) else actor


@dataclass(frozen=True, slots=True)
class Guards:
    """What a change must satisfy: an :class:`Actor`'s access rules for ``verb`` (which may
    restrict the ``trigger``, the ``fields`` written and the ``new_owner``), the lead's
    version (``if_version``) and its idempotency key."""

    actor: str | Actor | None
    verb: str
    if_version: int | None = None
    idempotency: Idempotency | None = None
    trigger: str | None = None
    fields: Mapping[str, Any] | None = None
    new_owner: str | None = None

    def check(self, lead: Instance, definition: ProcessDefinition) -> None:
        """:class:`AccessDenied` unless the actor may do this to ``lead``."""
        if isinstance(self.actor, Actor):
            fields = self.fields or {}
            require(
                self.actor,
                self.verb,
                lead,
                definition,
                trigger=self.trigger,
                fields=fields,
                new_owner=self.new_owner,
            )
