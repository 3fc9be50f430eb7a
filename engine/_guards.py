"""The guards of one change: who acts (and their access rules), the version, the key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leadflow.definitions import ProcessDefinition
from leadflow.engine._errors import CriterionResult, GuardFailed
from leadflow.engine._idempotency import Idempotency
from leadflow.engine._types import Instance
from leadflow.engine.access import Actor, hidden_fields, require, seen_without_hidden

__all__ = ["Guards", "redacted", "who_of"]


def who_of(actor: str | Actor | None) -> str | None:
    """The name history records for ``actor``."""
    return actor.id if isinstance(actor, Actor) else actor


def redacted(
    error: GuardFailed, actor: str | Actor | None, definition: ProcessDefinition
) -> GuardFailed:
    """``error`` as ``actor`` may see it: for an :class:`Actor`, the values its role may not
    read are left out of what the criteria saw."""
    if not isinstance(actor, Actor):
        return error
    hidden = hidden_fields(actor.role, definition)
    if not hidden:
        return error

    def seen(results: tuple[CriterionResult, ...]) -> list[CriterionResult]:
        return [r._replace(seen=seen_without_hidden(r.seen, hidden)) for r in results]

    return GuardFailed(
        error.process,
        error.lead_id,
        error.trigger,
        error.stage,
        seen(error.unmet),
        seen(error.results),
    )


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
