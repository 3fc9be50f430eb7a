"""The leadflow process definition language: models, loader, checks, CEL and JSON Schema.

This package is pure: it reads text and never imports :mod:`leadflow.engine`.
"""

from ._durations import format_duration, parse_duration
from ._errors import DefinitionError, LeadflowError, Problem
from ._library import library_names, library_path, load_library
from ._loader import load_definition
from ._model import (
    ActivityCriterion,
    ActivityRequirement,
    CelCriterion,
    ChecklistCriterion,
    Criterion,
    FieldSetCriterion,
    FieldSpec,
    FieldType,
    PlaybookItem,
    ProcessDefinition,
    Stage,
    Transition,
)
from ._schema import json_schema
from ._sla_model import (
    CalendarSpec,
    FireAction,
    Fulfilment,
    HolidaySpec,
    LadderStep,
    Member,
    ReassignAction,
    RoutingRule,
    Schedule,
    ShareCap,
    SlaPolicy,
    SubscriptionSpec,
    TaskPlan,
    Team,
)
from ._spans import Span, parse_span

__all__ = [
    "ActivityCriterion",
    "ActivityRequirement",
    "CalendarSpec",
    "CelCriterion",
    "ChecklistCriterion",
    "Criterion",
    "DefinitionError",
    "FieldSetCriterion",
    "FieldSpec",
    "FieldType",
    "FireAction",
    "Fulfilment",
    "HolidaySpec",
    "LadderStep",
    "LeadflowError",
    "Member",
    "PlaybookItem",
    "Problem",
    "ProcessDefinition",
    "ReassignAction",
    "RoutingRule",
    "Schedule",
    "ShareCap",
    "SlaPolicy",
    "Span",
    "Stage",
    "SubscriptionSpec",
    "TaskPlan",
    "Team",
    "Transition",
    "format_duration",
    "json_schema",
    "library_names",
    "library_path",
    "load_definition",
    "load_library",
    "parse_duration",
    "parse_span",
]
