"""SLA amounts as ops teams write them: ``5m``, ``4h business``, ``1 business day``, ``80%``.

A :class:`Span` is a share of the SLA's target (``80%``), a duration counted in calendar time or,
with the ``business`` suffix, in the open hours of the SLA's calendar, or a number of business
days. ``1d business`` is 24 open hours (three working days with 8-hour days); ``1 business day``
is one working day: the calendar's usual open hours of a day, so a clock started Monday 10:00
is due Tuesday 10:00.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

from ._durations import format_duration, parse_duration

__all__ = ["Offset", "Span", "Span_", "Target", "parse_span"]

_PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")
_BUSINESS = re.compile(r"^(.*?)\s+business\s*$")
_ZERO = re.compile(r"^\s*0+\s*[smhdw]\s*$")
_DAYS = re.compile(r"^\s*([0-9]+)\s+business\s+days?\s*$")


@dataclass(frozen=True, slots=True)
class Span:
    """An amount of SLA time: ``percent`` of the target, or ``amount`` (business or calendar)."""

    amount: timedelta | None = None
    percent: float | None = None
    business: bool = False
    days: int | None = None
    """Business days (``2 business days``): each the calendar's usual open hours of a day."""

    def __str__(self) -> str:
        if self.percent is not None:
            return f"{self.percent:g}%"
        if self.days is not None:
            return f"{self.days} business day{'' if self.days == 1 else 's'}"
        assert self.amount is not None
        text = format_duration(self.amount)
        return f"{text} business" if self.business else text

    def resolve(self, target: timedelta, day: timedelta = timedelta(days=1)) -> timedelta:
        """The amount this span stands for under an SLA whose target is ``target``, a business
        day counting ``day`` of open time."""
        if self.percent is not None:
            return target * (self.percent / 100)
        if self.days is not None:
            return day * self.days
        assert self.amount is not None
        return self.amount


def parse_span(value: Any, *, percent: bool = True, zero: bool = False) -> Span:
    """Read ``5m``, ``4h business``, ``80%`` (when ``percent``) or ``0d`` (when ``zero``)."""
    if isinstance(value, Span):
        return value
    if not isinstance(value, str):
        raise ValueError(
            f"{value!r} is not an SLA amount; write a duration such as 5m, 4h business or "
            "1 business day" + (", or a share of the target such as 80%" if percent else "")
        )
    found = _PERCENT.match(value)
    if found:
        if not percent:
            raise ValueError(f"{value!r}: a percentage is not allowed here; write a duration")
        share = float(found.group(1))
        if not 0 < share <= 1000:
            raise ValueError(f"{value!r}: the share must be above 0% and at most 1000%")
        return Span(percent=share)
    days = _DAYS.match(value)
    if days:
        if not 1 <= int(days.group(1)) <= 3650:
            raise ValueError(f"{value!r}: write 1 to 3650 business days")
        return Span(days=int(days.group(1)), business=True)
    business = _BUSINESS.match(value)
    text = business.group(1) if business else value
    if zero and _ZERO.match(text):
        return Span(amount=timedelta(0), business=bool(business))
    return Span(amount=parse_duration(text), business=bool(business))


def _span_validator(*, percent: bool, zero: bool) -> Any:
    def validate(value: Any) -> Span:
        return parse_span(value, percent=percent, zero=zero)

    return PlainValidator(validate)


_SCHEMA = {
    "type": "string",
    "pattern": (
        r"^\s*(?:[0-9]+(?:\.[0-9]+)?\s*%|(?:[0-9]+\s*[smhdw]\s*)+(?:business)?"
        r"|[0-9]+\s+business\s+days?)\s*$"
    ),
    "description": "a duration such as 5m, 4h business or 1 business day, or a share of the "
    "target such as 80%",
}

Span_ = Annotated[
    Span,
    _span_validator(percent=True, zero=False),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(_SCHEMA),
]
"""A ladder mark: ``80%`` of the target or a duration (``10m``, ``1h business``)."""

Target = Annotated[
    Span,
    _span_validator(percent=False, zero=False),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({**_SCHEMA, "description": "a duration such as 5m or 4h business"}),
]
"""An SLA target: a positive duration, optionally in business time."""

Offset = Annotated[
    Span,
    _span_validator(percent=False, zero=True),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({**_SCHEMA, "description": "a duration from the clock's start, 0d allowed"}),
]
"""A planned task's offset from the start of the clock: ``0d``, ``1d``, ``3d business``."""
