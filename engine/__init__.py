"""The leadflow runtime: deploy definitions and run one durable instance per lead."""

from leadflow.definitions import DefinitionError, LeadflowError
from leadflow.engine._clock import Clock, SystemClock
from leadflow.engine._engine import Engine
from leadflow.engine._errors import (
    ConcurrentUpdate,
    CriterionResult,
    DeployConflict,
    DuplicateLead,
    FieldIssue,
    GuardFailed,
    InvalidArgument,
    InvalidData,
    InvalidTransition,
    LeadNotFound,
    SchemaMismatch,
    StorageError,
    TransactionConflict,
    UnknownProcess,
)
from leadflow.engine._events import EVENT_TYPES
from leadflow.engine._idempotency import Idempotency, IdempotencyConflict
from leadflow.engine._journeys import NoJourney
from leadflow.engine._types import (
    BatchResult,
    HistoryEntry,
    Instance,
    ItemFailure,
    NextSteps,
    PlaybookStatus,
    TriggerOption,
)
from leadflow.engine.routing import AwayPeriod, InvalidAway, RouteDecision, UnknownTeam
from leadflow.engine.sla import (
    BusinessCalendar,
    Calendar,
    CalendarError,
    CalendarTime,
    WorkingHours,
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
    "Idempotency",
    "IdempotencyConflict",
    "Instance",
    "InvalidArgument",
    "InvalidAway",
    "InvalidData",
    "InvalidTransition",
    "ItemFailure",
    "LeadNotFound",
    "LeadflowError",
    "NextSteps",
    "NoJourney",
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
