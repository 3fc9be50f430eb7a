"""The leadflow runtime: deploy definitions and run one durable instance per lead."""

from leadflow.definitions import DefinitionError, LeadflowError

from ._calendar import BusinessCalendar, Calendar, CalendarError, CalendarTime, WorkingHours
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
from ._routing import RouteDecision, UnknownTeam
from ._routing_store import AwayPeriod, InvalidAway
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
    "AwayPeriod",
    "BatchResult",
    "BusinessCalendar",
    "Calendar",
    "CalendarError",
    "CalendarTime",
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
    "InvalidAway",
    "InvalidData",
    "InvalidTransition",
    "ItemFailure",
    "LeadNotFound",
    "LeadflowError",
    "NextSteps",
    "PlaybookStatus",
    "RouteDecision",
    "SchemaMismatch",
    "StorageError",
    "SystemClock",
    "TransactionConflict",
    "TriggerOption",
    "UnknownProcess",
    "UnknownTeam",
    "WorkingHours",
]
