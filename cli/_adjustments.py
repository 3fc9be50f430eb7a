"""What ``leadflow simulate`` says about the rows a replay adjusted.

A table under the figures: one line per kind of adjustment with its count, what was done and
the first rows (``file:row``); ``--adjustments FILE`` writes every adjusted row, as CSV or, for
a ``.json`` file, as JSON.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from leadflow.cli._common import CliError
from leadflow.engine.simulate import Adjustment

__all__ = ["FIELDS", "adjustments_table", "write_adjustments"]

FIELDS = ("kind", "row", "lead_id", "column", "value", "detail")
"""The columns of ``--adjustments FILE``."""
ROWS_SHOWN = 5
"""Rows named per kind in the table."""


def adjustments_table(rows: Sequence[Adjustment], label: str = "") -> Table:
    """Adjusted rows by kind: count, the first rows and an example of what was done."""
    table = Table(
        title=f"{label}{len(rows):,} adjusted rows, by kind (--adjustments FILE lists them all)",
        title_justify="left",
    )
    table.add_column("kind")
    table.add_column("count", justify="right")
    table.add_column("rows (file:row)", overflow="fold")
    table.add_column("example", overflow="fold")
    kinds: dict[str, list[Adjustment]] = {}
    for row in rows:
        kinds.setdefault(row.kind, []).append(row)
    for kind, found in kinds.items():
        keys = ", ".join(a.row for a in found[:ROWS_SHOWN])
        if len(found) > ROWS_SHOWN:
            keys += f", ... {len(found) - ROWS_SHOWN:,} more"
        example = found[0]
        table.add_row(kind, f"{len(found):,}", keys, f"{example.lead_id}: {example.detail}")
    return table


def _text(rows: Sequence[Adjustment], path: Path) -> str:
    if path.suffix.lower() == ".json":
        return json.dumps([a.as_dict() for a in rows], indent=2, ensure_ascii=False) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(a.as_dict() for a in rows)
    return out.getvalue()


def write_adjustments(rows: Sequence[Adjustment], path: Path) -> None:
    """Write every adjusted row to ``path``: JSON for ``.json``, CSV otherwise."""
    try:
        path.write_text(_text(rows, path), encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write --adjustments {path}: {exc.strerror or exc}") from exc
