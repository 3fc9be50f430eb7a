"""One way to print a duration, a percentage and a table in every CLI report.

Durations read at their scale (``45s``, ``12m 30s``, ``3h 5m``, ``2d 5h``), percentages as whole
percents (``28%``; ``<1%`` for a small non-zero share), whether the number was a probability
(``40``), a share (``0.28``) or a rate. Tables drop their least important columns (the last
ones) until they fit the terminal, and say which they dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["duration", "fitted_table", "percent", "print_fitted"]


def duration(seconds: float | None) -> str:
    """``-``, ``45s``, ``12m 30s``, ``3h 5m`` or ``2d 5h``: two units at most."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def percent(fraction: float | None) -> str:
    """``-``, ``<1%`` or a whole percent (``0.284`` -> ``28%``)."""
    if fraction is None:
        return "-"
    if 0 < fraction < 0.005:
        return "<1%"
    return f"{fraction:.0%}"


def fitted_table(
    columns: Sequence[tuple[str, bool]],
    rows: Sequence[Sequence[Text]],
    width: int,
    drop: Sequence[int] = (),
) -> tuple[Table, list[str]]:
    """A table of ``columns`` (header, right-aligned) that fits ``width``: cells whole, headers
    folded at spaces; columns are left out until it fits, first those listed in ``drop`` (by
    index), then the last ones (the first column always stays). Returns the table and the
    headers left out."""
    need = [
        max([len(w) for w in header.split()] + [len(row[k].plain) for row in rows] + [1])
        for k, (header, _) in enumerate(columns)
    ]
    order = [*drop, *(k for k in reversed(range(1, len(columns))) if k not in drop)]
    kept = list(range(len(columns)))
    while len(kept) > 1 and sum(need[k] + 3 for k in kept) + 1 > width:
        kept.remove(next(k for k in order if k in kept))
    table = Table(box=box.SIMPLE_HEAD)
    for k in kept:
        header, right = columns[k]
        table.add_column(
            header, justify="right" if right else "left", min_width=need[k], max_width=need[k]
        )
    for row in rows:
        table.add_row(*(row[k] for k in kept))
    return table, [columns[k][0] for k in range(len(columns)) if k not in kept]


def print_fitted(
    out: Console,
    columns: Sequence[tuple[str, bool]],
    rows: Sequence[Sequence[Text]],
    drop: Sequence[int] = (),
) -> None:
    """Print a :func:`fitted_table` at the console's width, with a note of what was left out."""
    table, dropped = fitted_table(columns, rows, out.width, drop)
    out.print(table)
    if dropped:
        out.print(
            Text(
                f"left out to fit {out.width} columns: {', '.join(dropped)} "
                "(a wider terminal, or --format csv|json, shows them)",
                style="dim",
            )
        )
