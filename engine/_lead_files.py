"""Leads read from a file: CSV (a header row) or JSON lines (one object a line).

The simulation's replay (its main and joined files), the routing dry run and the account
imports read files this way. CSV cells are text: :func:`field_value` turns a cell into the
value a definition's field holds (``"90"`` into 90 for an integer field); JSON values are kept
as they are.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from leadflow.definitions import ProcessDefinition

__all__ = ["Kind", "field_value", "file_kind", "read_records"]

Kind = Literal["csv", "jsonl"]


def file_kind(path: Path, given: Kind | None = None) -> Kind:
    """``given``, else ``jsonl`` for ``.jsonl``/``.ndjson`` files and ``csv`` for the rest."""
    return given or ("jsonl" if path.suffix in (".jsonl", ".ndjson") else "csv")


def read_records(path: Path, kind: Kind | None = None) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(line number, record) of each row of ``path``; raises ``OSError``, ``csv.Error`` or
    ``ValueError`` (a JSON line that is not an object) for the caller to report."""
    with path.open(newline="", encoding="utf-8") as f:
        if file_kind(path, kind) == "csv":
            reader = csv.DictReader(f)
            for row in reader:
                yield reader.line_num, row
            return
        for number, line in enumerate(f, 1):
            if line.strip():
                value = json.loads(line)
                if not isinstance(value, dict):
                    raise ValueError(f"line {number} is not a JSON object")
                yield number, value


def field_value(definition: ProcessDefinition, name: str, raw: Any) -> Any:
    """``raw`` as field ``name`` holds it (None for an empty or blank cell); ``ValueError``
    naming the value, the type and the field when it does not convert: an integer field takes
    whole numbers only (``3.5`` is refused, not cut to 3) and a boolean field the usual words
    for true and false (other text is refused, not read as false)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    kind = str(definition.fields[name].type)
    try:
        if kind == "number":
            return float(raw)
        if kind == "integer":
            number = float(raw)
            if not number.is_integer():
                raise ValueError(raw)
            return int(number)
        if kind == "boolean" and isinstance(raw, str):
            return _boolean(raw)
    except ValueError as exc:
        article = "an" if kind[0] in "aeiou" else "a"
        raise ValueError(f"{raw!r} is not {article} {kind} (field {name})") from exc
    return raw


def _boolean(raw: str) -> bool:
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "y", "t"):
        return True
    if text in ("0", "false", "no", "n", "f"):
        return False
    raise ValueError(raw)
