"""Reading one replayed value: a time, a field's value or a stage, or a :class:`BadCell` saying
which column held what and why it cannot be read (the replay reports or refuses the row)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from leadflow.definitions import ProcessDefinition
from leadflow.engine._lead_files import field_value
from leadflow.engine.simulate._join import Row
from leadflow.engine.simulate._spec import ReplaySpec, SpecError, spec_problem

__all__ = ["BadCell", "Cells"]


class BadCell(Exception):
    """A value of a row that cannot be read; ``kind`` is the adjustment kind."""

    def __init__(self, kind: str, column: str, value: Any, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.column = column
        self.value = value


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class Cells:
    """Reads the values of a row as the spec says (time formats, time zone, stage names)."""

    def __init__(self, spec: ReplaySpec, definition: ProcessDefinition) -> None:
        self.spec = spec
        self.definition = definition
        try:
            self.zone = ZoneInfo(spec.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SpecError([spec_problem(spec, ("timezone",), "unknown time zone")]) from exc

    def time(self, row: Row, column: str) -> datetime | None:
        """The time in ``column`` (None when empty); :class:`BadCell` when unreadable."""
        text = row.get(column)
        if _blank(text):
            return None
        raw = str(text).strip()
        pattern = self.spec.time_formats.get(column)
        try:
            if pattern is not None:
                value = datetime.strptime(raw, pattern)
            elif len(raw) == 10:
                value = datetime.combine(date.fromisoformat(raw), time())
            else:
                value = datetime.fromisoformat(raw)
        except ValueError as exc:
            expected = f"a time in the format {pattern}" if pattern else "an ISO date or time"
            hint = "" if pattern else " (set time_formats for this column)"
            message = f"column {column}: {raw!r} is not {expected}{hint}"
            raise BadCell("bad-time", column, raw, message) from exc
        return value if value.tzinfo else value.replace(tzinfo=self.zone)

    def value(self, name: str, row: Row, column: str) -> Any:
        """Field ``name``'s value from ``column``, typed; :class:`BadCell` when it is not one."""
        raw = row.get(column)
        try:
            return field_value(self.definition, name, raw)
        except ValueError as exc:
            raise BadCell("bad-value", column, raw, f"column {column}: {exc}") from exc

    def fields(self, columns: dict[str, str], row: Row) -> dict[str, Any]:
        """The fields ``columns`` name (field -> column) that the row has values for."""
        values = {f: self.value(f, row, c) for f, c in columns.items()}
        return {k: v for k, v in values.items() if v is not None}

    def stage(self, row: Row, column: str) -> str:
        """The definition's stage the value in ``column`` names; :class:`BadCell` otherwise."""
        raw = row.get(column)
        text = "" if raw is None else str(raw)
        stage = self.spec.stages.get(text, text if text in self.definition.stages else None)
        if stage is None:
            known = ", ".join(self.spec.stages) or ", ".join(self.definition.stages)
            message = f"column {column}: {text!r} is not a known stage ({known})"
            raise BadCell("unknown-stage", column, text, message)
        return stage
