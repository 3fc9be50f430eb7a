"""What a replay had to change in the data to play it: every adjusted row, reported.

A replay never moves a time, fills a gap or drops a row in silence. Each such change is one
:class:`Adjustment` naming its kind, the row (``file:row``, the data file's line), the lead,
the column and the value it had, and what was done instead. The CLI prints the count per kind
with the first rows, and ``--adjustments FILE`` writes every one.

Kinds:

- ``before-created``: a stage time earlier than the lead's creation (a deal won two days before
  its first contact); played at the creation time.
- ``out-of-order``: a stage time earlier than the step before it; played at that step's time.
- ``missing-time``: a stage the lead reached has no time; played at the step before it.
- ``undated-start``: no creation time (``undated: end``); the lead starts at the end of the data.
- ``undated-skipped``: no creation time (``undated: skip``); the row is left out.
- ``after-end``: a step after the spec's ``end``; not played (nor the lead, when it starts
  after the end).
- ``duplicate-lead``: a lead id seen before in the main file; the later row is left out.
- ``duplicate-join-key``: a key seen before in a joined file; the later row is left out.
- ``unmatched-join-row``: a joined row whose key no row of the main file has (left join).
- ``bad-time``, ``bad-value``, ``unknown-stage``, ``no-lead-id``: with ``bad_rows: skip``, a
  row holding such a value is left out (with ``bad_rows: error``, the default, the replay
  stops before writing anything and names every such row).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["KINDS", "Adjustment", "Adjustments"]

KINDS = (
    "before-created",
    "out-of-order",
    "missing-time",
    "undated-start",
    "undated-skipped",
    "after-end",
    "duplicate-lead",
    "duplicate-join-key",
    "unmatched-join-row",
    "bad-time",
    "bad-value",
    "unknown-stage",
    "no-lead-id",
)
"""Every kind of adjustment, in the order reports list them."""


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One row the replay could not play exactly as written, and what it did instead."""

    kind: str
    """One of :data:`KINDS`."""
    row: str
    """Where: ``file:row`` (the data file's name and line; the header is line 1)."""
    lead_id: str
    column: str
    """The column holding the value (empty when the row as a whole is concerned)."""
    value: str
    """The value as written (empty when missing)."""
    detail: str
    """What was done instead, in a sentence."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


class Adjustments:
    """Collects adjustments as a replay reads and plans its rows."""

    def __init__(self) -> None:
        self._rows: list[Adjustment] = []

    def add(self, kind: str, row: str, lead_id: str, column: str, value: Any, detail: str) -> None:
        """Record one adjusted row."""
        assert kind in KINDS, kind
        text = "" if value is None else str(value)
        self._rows.append(Adjustment(kind, row, lead_id, column, text, detail))

    def rows(self) -> tuple[Adjustment, ...]:
        """Every adjustment, by kind (in :data:`KINDS` order), then in reading order."""
        order = {k: n for n, k in enumerate(KINDS)}
        return tuple(sorted(self._rows, key=lambda a: order[a.kind]))

    def counts(self) -> dict[str, int]:
        """Adjustments per kind, in :data:`KINDS` order."""
        counted = Counter(a.kind for a in self._rows)
        return {k: counted[k] for k in KINDS if counted[k]}
