"""The leadflow process definition language: models, loader, checks, CEL and JSON Schema.

This package is pure: it reads text and never imports :mod:`leadflow.engine`.
"""

from ._access_model import ACCESS_VERBS, BUILTIN_ROLES, AccessSpec, RoleRule, SharingRule
from ._account_model import AccountMatch
from ._base import INT32_MAX
from ._diff import DefinitionChange, diff_definitions
from ._durations import format_duration, parse_duration
from ._errors import DefinitionError, LeadflowError, Problem
from ._journeys import JourneyRule, Journeys, check_journeys, load_journeys
from ._library import library_names, library_path
from ._lint import SEVERITIES, LintFinding, LintResult, lint, lint_source
from ._lint_model import LintSettings, Suppression
from ._loader import load_definition, load_library
from ._model import (
    ActivityCriterion,
    ActivityRequirement,
    CelCriterion,
    ChecklistCriterion,
    Criterion,
    FieldSetCriterion,
    FieldSpec,
    FieldType,
    ForecastCategory,
    PlaybookItem,
    ProcessDefinition,
    Stage,
    Transition,
)
from ._schema import json_schema
from ._sla_clock_model import Handoff, RearmEvent, RearmRule, TargetRule
from ._sla_model import (
    CalendarSpec,
    FireAction,
    Fulfilment,
    HolidaySpec,
    LadderStep,
    Member,
    ReassignAction,
    RerouteRule,
    RoutingRule,
    Schedule,
    ShareCap,
    SlaPolicy,
    SnoozeRule,
    SubscriptionSpec,
    TaskPlan,
    Team,
)
from ._spans import Span, parse_span

__all__ = [
    "ACCESS_VERBS",
    "BUILTIN_ROLES",
    "INT32_MAX",
    "SEVERITIES",
    "AccessSpec",
    "AccountMatch",
    "ActivityCriterion",
    "ActivityRequirement",
    "CalendarSpec",
    "CelCriterion",
    "ChecklistCriterion",
    "Criterion",
    "DefinitionChange",
    "DefinitionError",
    "FieldSetCriterion",
    "FieldSpec",
    "FieldType",
    "FireAction",
    "ForecastCategory",
    "Fulfilment",
    "Handoff",
    "HolidaySpec",
    "JourneyRule",
    "Journeys",
    "LadderStep",
    "LeadflowError",
    "LintFinding",
    "LintResult",
    "LintSettings",
    "Member",
    "PlaybookItem",
    "Problem",
    "ProcessDefinition",
    "RearmEvent",
    "RearmRule",
    "ReassignAction",
    "RerouteRule",
    "RoleRule",
    "RoutingRule",
    "Schedule",
    "ShareCap",
    "SharingRule",
    "SlaPolicy",
    "SnoozeRule",
    "Span",
    "Stage",
    "SubscriptionSpec",
    "Suppression",
    "TargetRule",
    "TaskPlan",
    "Team",
    "Transition",
    "check_journeys",
    "diff_definitions",
    "format_duration",
    "json_schema",
    "library_names",
    "library_path",
    "lint",
    "lint_source",
    "load_definition",
    "load_journeys",
    "load_library",
    "parse_duration",
    "parse_span",
]
