"""The leadflow runtime: deploy definitions and run one durable instance per lead."""

from leadflow.definitions import DefinitionError, LeadflowError

from ._clock import Clock, SystemClock
from ._errors import (
    ConcurrentUpdate,
    CriterionResult,
    DeployConflict,
    DuplicateLead,
    FieldIssue,
    GuardFailed,
    InvalidData,
    InvalidTransition,
    LeadNotFound,
    SchemaMismatch,
    StorageError,
    TransactionConflict,
    UnknownProcess,
)
from ._events import EVENT_TYPES
from ._runtime import Engine
from ._types import (
    BatchResult,
    HistoryEntry,
    Instance,
    ItemFailure,
    NextSteps,
    PlaybookStatus,
    TriggerOption,
)

__all__ = [
    "EVENT_TYPES",
    "BatchResult",
    "Clock",
    "ConcurrentUpdate",
    "CriterionResult",
    "DefinitionError",
    "DeployConflict",
    "DuplicateLead",
    "Engine",
    "FieldIssue",
    "GuardFailed",
    "HistoryEntry",
    "Instance",
    "InvalidData",
    "InvalidTransition",
    "ItemFailure",
    "LeadNotFound",
    "LeadflowError",
    "NextSteps",
    "PlaybookStatus",
    "SchemaMismatch",
    "StorageError",
    "SystemClock",
    "TransactionConflict",
    "TriggerOption",
    "UnknownProcess",
]
