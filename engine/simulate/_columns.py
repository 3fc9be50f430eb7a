"""Every column a replay spec names must be in its files: a misspelt column would otherwise read
as empty in every row and quietly replay nothing (no lead won, no time moved).

The header lines of the CSV files are read before anything else; a name that no file (before
it, for a join's key) has is a :class:`SpecError` at the spec's key, with the closest column.
JSONL files have no header: a spec that reads one is not checked here.
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Iterator
from pathlib import Path

from leadflow.definitions import Problem
from leadflow.engine._lead_files import Kind, file_kind
from leadflow.engine.simulate._join import unreadable
from leadflow.engine.simulate._spec import ReplaySpec, SpecError, spec_problem

__all__ = ["check_columns"]

Named = tuple[tuple[str | int, ...], str]
"""(where in the spec, column name)."""


def _header(
    spec: ReplaySpec, path: Path, fmt: Kind | None, where: tuple[str | int, ...]
) -> list[str] | None:
    if file_kind(path, fmt) != "csv":
        return None
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return next(csv.reader(f), [])
    except (OSError, ValueError, csv.Error) as exc:
        raise unreadable(spec, where, path, exc) from exc


def _named(spec: ReplaySpec) -> Iterator[Named]:
    """Every column the spec reads from the joined rows."""
    yield ("lead_id",), spec.lead_id
    for k, column in enumerate(spec.created):
        yield ("created", k), column
    for key in ("stage", "owner"):
        value = getattr(spec, key)
        if value is not None:
            yield (key,), value
    if spec.events is not None:
        yield ("events", "time"), spec.events.time
        yield ("events", "type"), spec.events.type
    for part in ("stage_times", "activity_times", "fields"):
        for key, column in getattr(spec, part).items():
            yield (part, key), column
    for stage, columns in spec.stage_fields.items():
        for name, column in columns.items():
            yield ("stage_fields", stage, name), column
    for column in spec.time_formats:
        yield ("time_formats", column), column


def _unknown(column: str, known: list[str], files: str) -> str:
    close = difflib.get_close_matches(column, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f" ({', '.join(dict.fromkeys(known))})"
    return f"'{column}' is not a column of {files}{hint}"


def check_columns(spec: ReplaySpec) -> None:
    """:class:`SpecError` naming every column the spec reads that its CSV files lack."""
    columns = _header(spec, spec.path, spec.format, ("path",))
    files = [spec.path.name]
    problems: list[Problem] = []
    for k, join in enumerate(spec.join):
        theirs = _header(spec, join.path, join.format, ("join", k, "path"))
        before = len(problems)
        for ours, their in join.pairs():
            for column, known, names in ((ours, columns, files), (their, theirs, [join.path.name])):
                if known is not None and column not in known:
                    message = _unknown(column, known, " or ".join(names))
                    problems.append(spec_problem(spec, ("join", k, "on"), message))
        if columns is None or theirs is None:
            columns = None
        else:
            keys = {t for _, t in join.pairs()}
            added = [join.prefix + c for c in theirs if c not in keys]
            clashes = set(added) & set(columns) if len(problems) == before else set()
            for column in sorted(clashes):  # (a wrong key would clash with itself)
                message = (
                    f"column '{column}' of {join.path.name} is also in the rows it joins onto; "
                    "set prefix: to tell them apart"
                )
                problems.append(spec_problem(spec, ("join", k, "on"), message))
            columns = [*columns, *added]
        files.append(join.path.name)
    if columns is not None:
        for where, column in _named(spec):
            if column not in columns:
                message = _unknown(column, columns, " or ".join(files))
                problems.append(spec_problem(spec, where, message))
    if problems:
        raise SpecError(problems)
