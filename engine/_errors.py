"""Errors the engine raises. Every one carries a stable ``code`` and read-only structured fields.

The tree::

    LeadflowError (leadflow.definitions)
    ├── DefinitionError (ValueError)          a definition failed to load
    ├── DeployConflict (ValueError)           same process+version deployed with other content
    ├── InvalidArgument (TypeError, ValueError) a call's argument has the wrong type or range
    ├── UnknownProcess (LookupError)          no deployed definition of that process (or version)
    ├── LeadNotFound (LookupError)            no instance of that lead in that process
    ├── DuplicateLead (ValueError)            start of a lead that already has an instance
    ├── InvalidData (ValueError)              lead data breaks the field contract; .issues
    ├── InvalidTransition (ValueError)        trigger not allowed from the stage; .allowed
    ├── GuardFailed (ValueError)              criteria unmet; .unmet
    ├── CalendarError (ValueError)            a business calendar is misconfigured or never opens
    ├── UnknownTeam (LookupError)             routing to a team the definition does not declare
    ├── InvalidAway (ValueError)              a bad out-of-office period (naive time, end first)
    ├── ConcurrentUpdate                      the lead changed since it was read; retry
    ├── StorageError                          the database failed or is not set up
    │   ├── SchemaMismatch                    the schema is missing or at another revision
    │   └── TransactionConflict               the database aborted us (deadlock, lock timeout)

CalendarError, UnknownTeam and InvalidAway live next to their code (``sla``, ``routing``).
start_many / fire_many do not raise for single items: each failed item is an
``ItemFailure`` (index, lead id, the error above it would have raised) in
``BatchResult.failed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from leadflow.definitions import DefinitionError, LeadflowError

__all__ = [
    "ConcurrentUpdate",
    "CriterionResult",
    "DefinitionError",
    "DeployConflict",
    "DuplicateLead",
    "FieldIssue",
    "GuardFailed",
    "InvalidArgument",
    "InvalidData",
    "InvalidTransition",
    "LeadNotFound",
    "LeadflowError",
    "SchemaMismatch",
    "StorageError",
    "TransactionConflict",
    "UnknownProcess",
]


class CriterionResult(NamedTuple):
    """How one criterion evaluated: whether it was met, and the values it saw.

    A named tuple: immutable, and cheap to make on the hot path (one per criterion per event).
    """

    id: str
    """The criterion's id (``requires_<field>`` for a field the event must set)."""
    message: str
    """What the rep must do when it is unmet."""
    met: bool
    """Whether it held."""
    kind: str
    """``field_set``, ``activity``, ``cel``, ``checklist`` or ``requires``."""
    source: str
    """Where it comes from: ``exit:<stage>`` or ``guard:<transition>``."""
    seen: dict[str, Any]
    """The values it looked at (field values, activity counts, playbook items)."""
    applies: bool = True
    """False when its ``when`` condition did not hold (it then counts as met)."""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (for history rows and the CLI)."""
        out: dict[str, Any] = {
            "id": self.id,
            "message": self.message,
            "met": self.met,
            "kind": self.kind,
            "source": self.source,
            "seen": self.seen,
        }
        if not self.applies:
            out["applies"] = False
        return out


@dataclass(frozen=True, slots=True)
class FieldIssue:
    """One field of lead data that breaks the definition's field contract."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class DeployConflict(LeadflowError, ValueError):
    """A process+version is already deployed with different content; versions are immutable."""

    code = "deploy-conflict"

    def __init__(self, process: str, version: int) -> None:
        self.process = process
        self.version = version
        super().__init__(
            f"process '{process}' version {version} is already deployed with different content; "
            "deployed versions never change: give the new content a new version number"
        )


class InvalidArgument(LeadflowError, TypeError, ValueError):
    """An argument of a public call has the wrong type or is out of range (``at="2026-01-01"``).

    A ``TypeError`` (and a ``ValueError``, for values out of range) naming the ``argument``,
    what it ``expected`` and what it ``got`` (the type's name, or the value when it is small).
    """

    code = "invalid-argument"

    def __init__(self, argument: str, expected: str, got: object) -> None:
        self.argument = argument
        self.expected = expected
        shown = repr(got) if isinstance(got, (int, float, str)) and len(repr(got)) <= 40 else None
        self.got = shown or type(got).__name__
        got_text = f"{type(got).__name__} {shown}" if shown else type(got).__name__
        super().__init__(f"argument '{argument}': expected {expected}, got {got_text}")

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownProcess(LeadflowError, LookupError):
    """No definition of this process (or of this version) has been deployed."""

    code = "unknown-process"

    def __init__(self, process: str, version: int | None = None, known: Sequence[str] = ()) -> None:
        self.process = process
        self.version = version
        self.known = tuple(known)
        what = f"process '{process}'" + (f" version {version}" if version is not None else "")
        hint = f" (deployed: {', '.join(self.known)})" if self.known else " (nothing deployed)"
        super().__init__(f"{what} is not deployed{hint}")

    def __str__(self) -> str:
        return str(self.args[0])


class LeadNotFound(LeadflowError, LookupError):
    """The lead has no instance in this process."""

    code = "lead-not-found"

    def __init__(self, process: str, lead_id: str) -> None:
        self.process = process
        self.lead_id = lead_id
        super().__init__(f"lead '{lead_id}' has not been started in process '{process}'")

    def __str__(self) -> str:
        return str(self.args[0])


class DuplicateLead(LeadflowError, ValueError):
    """The lead already has an instance in this process."""

    code = "duplicate-lead"

    def __init__(self, process: str, lead_id: str) -> None:
        self.process = process
        self.lead_id = lead_id
        super().__init__(f"lead '{lead_id}' is already started in process '{process}'")


class InvalidData(LeadflowError, ValueError):
    """Lead data breaks the definition's field contract; nothing was changed."""

    code = "invalid-data"

    def __init__(self, process: str, lead_id: str, issues: Sequence[FieldIssue]) -> None:
        self.process = process
        self.lead_id = lead_id
        self.issues = tuple(issues)
        listed = "; ".join(str(i) for i in self.issues)
        super().__init__(f"lead '{lead_id}' in '{process}': invalid data: {listed}")


class InvalidTransition(LeadflowError, ValueError):
    """The trigger is not allowed from the lead's current stage; nothing was changed."""

    code = "invalid-transition"

    def __init__(
        self, process: str, lead_id: str, trigger: str, stage: str, allowed: Sequence[str]
    ) -> None:
        self.process = process
        self.lead_id = lead_id
        self.trigger = trigger
        self.stage = stage
        self.allowed = tuple(allowed)
        can = ", ".join(self.allowed) if self.allowed else "none: the stage is closed"
        super().__init__(
            f"lead '{lead_id}' in '{process}': '{trigger}' is not allowed from stage "
            f"'{stage}' (allowed: {can})"
        )


class GuardFailed(LeadflowError, ValueError):
    """Criteria of the transition (or of the stage being left) are unmet; nothing was changed."""

    code = "guard-failed"

    def __init__(
        self,
        process: str,
        lead_id: str,
        trigger: str,
        stage: str,
        unmet: Sequence[CriterionResult],
        results: Sequence[CriterionResult] = (),
    ) -> None:
        self.process = process
        self.lead_id = lead_id
        self.trigger = trigger
        self.stage = stage
        self.unmet = tuple(unmet)
        self.results = tuple(results) or self.unmet
        listed = "; ".join(f"{c.id}: {c.message}" for c in self.unmet)
        super().__init__(
            f"lead '{lead_id}' in '{process}': cannot '{trigger}' from '{stage}': {listed}"
        )


class ConcurrentUpdate(LeadflowError):
    """Another change to the lead committed first; re-read and retry if it still makes sense."""

    code = "concurrent-update"

    def __init__(self, process: str, lead_id: str, expected_version: int) -> None:
        self.process = process
        self.lead_id = lead_id
        self.expected_version = expected_version
        super().__init__(
            f"lead '{lead_id}' in '{process}' changed while this change was being made "
            f"(expected version {expected_version}); nothing was written"
        )


class StorageError(LeadflowError):
    """The database failed; the message says what leadflow was doing."""

    code = "storage-error"


class SchemaMismatch(StorageError):
    """The database schema is missing or at another revision than this leadflow expects."""

    code = "schema-mismatch"

    def __init__(self, found: str | None, expected: str) -> None:
        self.found = found
        self.expected = expected
        state = "has no leadflow tables" if found is None else f"is at schema revision {found}"
        super().__init__(
            f"the database {state}; this leadflow needs revision {expected}: "
            "run `leadflow db upgrade --db URL`"
        )


class TransactionConflict(StorageError):
    """The database aborted the change to resolve a conflict with another transaction
    (deadlock, serialization failure, lock wait timeout); nothing was written: retry."""

    code = "transaction-conflict"

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(
            f"{what}: the database aborted this change because another transaction held what "
            "it needed (deadlock or lock timeout); nothing was written: retry"
        )
