"""The building blocks every model of the definition language shares."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict

from ._durations import Duration

__all__ = [
    "INT32_MAX",
    "NAME_PATTERN",
    "PROCESS_PATTERN",
    "ActivityRequirement",
    "Bound",
    "Name",
    "WholeNumber",
    "as_tuple",
]

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
"""Stage, field, trigger and criterion names: a letter, then letters, digits or underscores."""
PROCESS_PATTERN = r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$"
"""Process ids: lower-case words joined by ``-`` or ``_`` (``inbound-lead``)."""

Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
WholeNumber = Annotated[int, Strict()]
"""An integer that is written as one (``yes`` or ``1.0`` are refused); each use bounds it, at
most by :data:`INT32_MAX`."""
INT32_MAX = 2_147_483_647
"""The largest whole number of the language: what a PostgreSQL ``integer`` column holds (versions
and counts are stored in such columns)."""
Bound = Annotated[float, Field(allow_inf_nan=False)]
"""A finite number."""


def as_tuple(value: Any) -> Any:
    """A lone string as a one-item tuple (``from: new`` means ``from: [new]``)."""
    return (value,) if isinstance(value, str) else value


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        use_attribute_docstrings=True,
        populate_by_name=True,
        str_strip_whitespace=True,
    )


class ActivityRequirement(_Model):
    """How many activities of a type must have been recorded."""

    type: Name
    """The activity type (``call``, ``email``, ``meeting`` or any type the team records)."""
    min: WholeNumber = Field(default=1, ge=1, le=INT32_MAX)
    """At least this many."""
    within: Duration | None = None
    """Count only activities recorded within this long before the event (``14d``)."""
    in_stage: bool = False
    """Count only activities recorded since the lead entered its current stage."""
