"""Lead data against the definition's field contract: check, normalise, merge.

Stored lead data is plain JSON: dates are ``YYYY-MM-DD`` text, datetimes ISO-8601 text in UTC.
CEL sees datetime fields as timestamps (see :meth:`DataContract.cel_view`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from leadflow.definitions import FieldSpec, FieldType, ProcessDefinition
from leadflow.definitions.suggest import did_you_mean
from leadflow.engine._errors import FieldIssue
from leadflow.engine._json import to_json_value

__all__ = ["DataContract", "is_set"]

_MISSING = object()


def is_set(value: Any) -> bool:
    """A field counts as set when it is present and not null, empty text or an empty list."""
    return value is not None and value != "" and value != []


def _kind(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "text", list: "list"}.get(
        type(value), type(value).__name__
    )


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""Whole numbers a field holds: what SQLite, PostgreSQL's JSON and CEL's ``int`` all hold."""


def _out_of_range(value: int) -> str | None:
    if INT64_MIN <= value <= INT64_MAX:
        return None
    shown = str(value) if value.bit_length() < 128 else f"a number of {value.bit_length()} bits"
    return (
        f"{shown} is out of range: whole numbers are between {INT64_MIN} and {INT64_MAX} "
        "(use a string field for longer digit strings)"
    )


def _check_scalar(kind: FieldType, value: Any) -> tuple[Any, str | None]:
    """(normalised value, None) or (None, what is wrong)."""
    if kind is FieldType.STRING:
        return (
            (value, None)
            if isinstance(value, str)
            else (None, f"expected text, got {_kind(value)}")
        )
    if kind is FieldType.BOOLEAN:
        if isinstance(value, bool):
            return value, None
        return None, f"expected true or false, got {_kind(value)}"
    if kind is FieldType.INTEGER:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, f"expected a whole number, got {_kind(value)}"
        if isinstance(value, float):
            if not value.is_integer():
                return None, f"expected a whole number, got {value!r}"
            value = int(value)
        return value, _out_of_range(value)
    if kind is FieldType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, f"expected a number, got {_kind(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            return None, f"expected a finite number, got {value!r}"
        return value, _out_of_range(value) if isinstance(value, int) else None
    if kind is FieldType.DATE:
        if isinstance(value, datetime):
            return None, "expected a date (YYYY-MM-DD), got a date and time"
        if isinstance(value, date):
            return value.isoformat(), None
        if isinstance(value, str):
            try:
                return date.fromisoformat(value).isoformat(), None
            except ValueError:
                pass
        return None, f"expected a date (YYYY-MM-DD), got {value!r}"
    if kind is FieldType.DATETIME:
        parsed: datetime | None = value if isinstance(value, datetime) else None
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                parsed = None
        if parsed is None:
            return None, f"expected an ISO-8601 date and time with a timezone, got {value!r}"
        if parsed.tzinfo is None:
            return None, f"{value!r} has no timezone; add one (2026-01-31T09:00:00+01:00)"
        return parsed.astimezone(UTC).isoformat(), None
    raise AssertionError(kind)  # pragma: no cover


class _FieldCheck:
    __slots__ = ("check",)

    def __init__(self, spec: FieldSpec) -> None:
        self.check: Callable[[Any], tuple[Any, str | None]] = self._build(spec)

    @staticmethod
    def _build(spec: FieldSpec) -> Callable[[Any], tuple[Any, str | None]]:
        kind = spec.type
        low, high = spec.min, spec.max
        pattern = re.compile(spec.pattern) if spec.pattern else None
        values = spec.values or ()

        def bounds(measure: float, what: str) -> str | None:
            if low is not None and measure < low:
                return f"{what} {measure:g} is below the minimum {low:g}"
            if high is not None and measure > high:
                return f"{what} {measure:g} is above the maximum {high:g}"
            return None

        def check(value: Any) -> tuple[Any, str | None]:
            if kind is FieldType.ENUM:
                if value in values and isinstance(value, str):
                    return value, None
                return None, f"{value!r} is not one of: {', '.join(values)}"
            if kind is FieldType.LIST:
                if not isinstance(value, (list, tuple)):
                    return None, f"expected a list, got {_kind(value)}"
                items = list(value)
                if spec.items is not None:
                    for i, item in enumerate(items):
                        items[i], problem = _check_scalar(spec.items, item)
                        if problem:
                            return None, f"item {i}: {problem}"
                return items, bounds(len(items), "the number of items")
            normal, problem = _check_scalar(kind, value)
            if problem:
                return None, problem
            if kind is FieldType.STRING:
                problem = bounds(len(normal), "the length")
                if problem is None and pattern is not None and not pattern.fullmatch(normal):
                    problem = f"{normal!r} does not match the pattern {spec.pattern!r}"
                return normal, problem
            if kind in (FieldType.INTEGER, FieldType.NUMBER):
                return normal, bounds(normal, "value")
            return normal, None

        return check


class DataContract:
    """The field contract of one definition version, ready to check data quickly."""

    def __init__(self, definition: ProcessDefinition) -> None:
        self.allow_extra = definition.extra == "allow"
        self.fields = dict(definition.fields)
        self.required = tuple(n for n, s in self.fields.items() if s.required)
        self._checks = {name: _FieldCheck(spec).check for name, spec in self.fields.items()}
        self._datetimes = tuple(n for n, s in self.fields.items() if s.type is FieldType.DATETIME)
        self._dates = tuple(n for n, s in self.fields.items() if s.type is FieldType.DATE)

    def _unknown(self, name: str) -> FieldIssue:
        listed = ", ".join(self.fields) or "none declared"
        return FieldIssue(
            name,
            f"not a field of this process{did_you_mean(name, self.fields)} (fields: {listed})",
        )

    def merge(
        self, current: Mapping[str, Any], changes: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, list[Any]], list[FieldIssue]]:
        """Apply ``changes`` to ``current``: (new data, {field: [old, new]}, issues).

        ``None`` as a value unsets the field. The result is checked as a whole, so a required
        field that would be unset is reported too.
        """
        data = dict(current)
        diff: dict[str, list[Any]] = {}
        issues: list[FieldIssue] = []
        given: object = changes  # typed callers aside, hosts pass what their JSON held
        if given is not None and not isinstance(given, Mapping):
            kind = type(given).__name__
            return data, diff, [FieldIssue("data", f"must be a mapping of fields, not {kind}")]
        for key, raw in (changes or {}).items():
            name: object = key
            if not isinstance(name, str):
                issues.append(FieldIssue(str(name), "field names are text"))
                continue
            check = self._checks.get(name)
            if raw is None:
                value = None
            elif check is not None:
                value, problem = check(raw)
                if problem:
                    issues.append(FieldIssue(name, problem))
                    continue
            elif self.allow_extra:
                try:
                    value = to_json_value(raw)
                except (TypeError, ValueError) as exc:
                    issues.append(FieldIssue(name, f"cannot be stored: {exc}"))
                    continue
            else:
                issues.append(self._unknown(name))
                continue
            old = data.get(name, _MISSING)
            if value is None:
                if old is not _MISSING:
                    del data[name]
                    diff[name] = [old, None]
            elif old is _MISSING or old != value:
                data[name] = value
                diff[name] = [None if old is _MISSING else old, value]
        for name in self.required:
            if not is_set(data.get(name)) and not any(i.field == name for i in issues):
                issues.append(FieldIssue(name, "is required"))
        return data, diff, issues

    def cel_view(
        self, data: Mapping[str, Any], keys: tuple[str, ...] | None = None
    ) -> dict[str, Any]:
        """The ``lead`` map CEL sees: datetime fields as timestamps, dates as midnight UTC.

        With ``keys``, only those fields (what an expression reads): CEL converts every entry
        of its inputs, so a smaller map is a faster evaluation.
        """
        view = dict(data) if keys is None else {k: data[k] for k in keys if k in data}
        for name in self._datetimes:
            value = view.get(name)
            if isinstance(value, str):
                view[name] = datetime.fromisoformat(value)
        for name in self._dates:
            value = view.get(name)
            if isinstance(value, str):
                view[name] = datetime.fromisoformat(value).replace(tzinfo=UTC)
        return view
