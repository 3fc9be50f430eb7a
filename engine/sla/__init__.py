"""SLA clocks and the business calendars they count in.

:class:`BusinessCalendar` (weekly hours, a time zone, holidays) measures business time;
:class:`SlaSet` is a definition's SLA policies compiled into clocks and ladder :class:`Mark` s.
The due-timer sweep that fires the marks is :mod:`leadflow.engine.sla.sweep` (it runs on the
engine's runtime, so this package's ``__init__`` does not import it).
"""

from leadflow.engine.sla._calendar import (
    BusinessCalendar,
    Calendar,
    CalendarError,
    CalendarTime,
    WorkingHours,
)
from leadflow.engine.sla._clocks import EVENT_OF_LEVEL, CompiledSla, Mark, SlaSet, build_calendar

__all__ = [
    "EVENT_OF_LEVEL",
    "BusinessCalendar",
    "Calendar",
    "CalendarError",
    "CalendarTime",
    "CompiledSla",
    "Mark",
    "SlaSet",
    "WorkingHours",
    "build_calendar",
]
