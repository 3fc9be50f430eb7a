"""A replay's rows: the main file's, each with the columns of its matching rows in joined files.

Joins are left joins in the spec's order: every row of the main file is kept; a joined file's
row is found by its key (one column, several, or differently named columns), and its columns
are added to the row (with the join's ``prefix``). A key that appears twice in a joined file
keeps its first row, and a joined row no main row matches is left out: both are reported as
:class:`~leadflow.engine.simulate._adjustments.Adjustment`, never dropped in silence. Each
value keeps the ``file:row`` it came from, so a report names the row that held it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leadflow.engine._lead_files import Kind, read_records
from leadflow.engine.simulate._adjustments import Adjustments
from leadflow.engine.simulate._spec import Join, ReplaySpec, SpecError, spec_problem

__all__ = ["Row", "joined_rows", "read_file", "unreadable"]


@dataclass(slots=True)
class Row:
    """One row of the main file with the columns joined onto it."""

    values: dict[str, Any]
    where: tuple[Path, int]
    """The main file and the row's line in it (the header is line 1)."""
    joined: dict[str, tuple[Path, int]] = field(default_factory=dict)
    """Column -> (file, line) for the columns that came from joined files."""

    def get(self, column: str) -> Any:
        """The value in ``column`` (None when the row has none)."""
        return self.values.get(column)

    def origin(self, column: str | None = None) -> tuple[Path, int]:
        """The file and line of the row that holds ``column`` (the main row when none)."""
        return self.joined.get(column, self.where) if column else self.where

    def at(self, column: str | None = None) -> str:
        """``file:row`` (the file's name) of the row that holds ``column``."""
        path, line = self.origin(column)
        return f"{path.name}:{line}"


def unreadable(
    spec: ReplaySpec, where: tuple[str | int, ...], path: Path, exc: Exception
) -> SpecError:
    """The error for a data file that cannot be read, located at the spec's ``where``."""
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return SpecError([spec_problem(spec, where, f"cannot read {path}: {detail}")])


def read_file(
    spec: ReplaySpec, path: Path, fmt: Kind | None, where: tuple[str | int, ...]
) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(line number, row) of a data file; :class:`SpecError` at ``where`` if it is unreadable."""
    try:
        yield from read_records(path, fmt)
    except (OSError, ValueError, csv.Error) as exc:
        raise unreadable(spec, where, path, exc) from exc


def _key(row: Mapping[str, Any], columns: list[str]) -> tuple[str, ...]:
    return tuple(str(row.get(c) if row.get(c) is not None else "").strip() for c in columns)


@dataclass(slots=True)
class _Table:
    """One joined file, indexed by its key."""

    join: Join
    name: str
    index: dict[tuple[str, ...], tuple[int, Mapping[str, Any]]] = field(default_factory=dict)
    used: set[tuple[str, ...]] = field(default_factory=set)


def _index(spec: ReplaySpec, k: int, join: Join, adjustments: Adjustments) -> _Table:
    table = _Table(join, join.path.name)
    right = [r for _, r in join.pairs()]
    for line, row in read_file(spec, join.path, join.format, ("join", k, "path")):
        key = _key(row, right)
        first = table.index.get(key)
        if first is not None:
            adjustments.add(
                "duplicate-join-key",
                f"{table.name}:{line}",
                "/".join(key),
                ",".join(right),
                "/".join(key),
                f"the key is also on {table.name}:{first[0]}; that first row is joined, this "
                "one is left out",
            )
            continue
        table.index[key] = (line, row)
    return table


def _merge(spec: ReplaySpec, k: int, table: _Table, row: Row) -> None:
    pairs = table.join.pairs()
    key = _key(row.values, [left for left, _ in pairs])
    hit = table.index.get(key) if all(key) else None
    if hit is None:
        return
    table.used.add(key)
    line, other = hit
    keys = {r for _, r in pairs}
    for column, value in other.items():
        if column in keys:
            continue
        name = table.join.prefix + column
        if name in row.values:
            message = (
                f"column {name!r} of {table.name} is also in the rows it joins onto; "
                "set prefix: to tell them apart"
            )
            raise SpecError([spec_problem(spec, ("join", k, "on"), message)])
        row.values[name] = value
        row.joined[name] = (table.join.path, line)


def joined_rows(spec: ReplaySpec, adjustments: Adjustments) -> Iterator[Row]:
    """The main file's rows with the joins' columns; unmatched joined rows reported at the end."""
    tables = [_index(spec, k, j, adjustments) for k, j in enumerate(spec.join)]
    name = spec.path.name
    for line, values in read_file(spec, spec.path, spec.format, ("path",)):
        row = Row(dict(values), (spec.path, line))
        for k, table in enumerate(tables):
            _merge(spec, k, table, row)
        yield row
    for table in tables:
        columns = ",".join(r for _, r in table.join.pairs())
        for key, (line, _) in table.index.items():
            if key not in table.used:
                adjustments.add(
                    "unmatched-join-row",
                    f"{table.name}:{line}",
                    "/".join(key),
                    columns,
                    "/".join(key),
                    f"no row of {name} has this key; left out",
                )
