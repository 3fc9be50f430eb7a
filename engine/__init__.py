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
from leadflow.engine._health import AdapterBacklog, Health, Limits
from leadflow.engine._idempotency import Idempotency, IdempotencyConflict
from leadflow.engine._journeys import NoJourney
from leadflow.engine._limits import max_value_bytes_from_env
from leadflow.engine._schedules import ScheduleInfo, ScheduleRun
from leadflow.engine._snooze import SnoozeRefused
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
from leadflow.engine.sla.queue import QueueItem

__all__ = [
    "EVENT_TYPES",
    "AdapterBacklog",
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
    "Health",
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
    "Limits",
    "NextSteps",
    "NoJourney",
    "PlaybookStatus",
    "QueueItem",
    "RouteDecision",
    "ScheduleInfo",
    "ScheduleRun",
    "SchemaMismatch",
    "SnoozeRefused",
    "StorageError",
    "SystemClock",
    "TransactionConflict",
    "TriggerOption",
    "UnknownProcess",
    "UnknownTeam",
    "WorkingHours",
    "max_value_bytes_from_env",
]
