"""``leadflow report queue``: the live queue, the active SLA clocks of open leads, the next
breach first.

    leadflow report queue --db URL --process P [--owner ID | --team T] [--sla POLICY]
                          [--limit 50] [--format table|csv|json]
"""

from __future__ import annotations

import csv
import io
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from leadflow.cli._common import CliError, Db, console, handled, open_engine, print_json
from leadflow.cli._report_options import Format, FormatOpt, ProcessOpt
from leadflow.cli._units import duration
from leadflow.engine import QueueItem

__all__ = ["queue"]


def _left(seconds: float | None) -> str:
    if seconds is None:
        return "paused"
    return f"{duration(-seconds)} late" if seconds < 0 else duration(seconds)


def _table(items: list[QueueItem]) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    for name, justify in (("lead", "left"), ("owner", "left"), ("SLA", "left"), ("left", "right")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    table.add_column("due (UTC)", overflow="fold")
    for q in items:
        due = f"{q.due_at:%Y-%m-%d %H:%M}" if q.due_at else "-"
        left = _left(q.seconds_left) + (" (breached)" if q.breached and q.seconds_left else "")
        table.add_row(q.lead_id, q.owner or "-", q.policy, left, due)
    return table


@handled
def queue(
    db: Db,
    process: ProcessOpt,
    owner: Annotated[str | None, typer.Option("--owner", help="Only this owner's leads.")] = None,
    team: Annotated[str | None, typer.Option("--team", help="Only this team's leads.")] = None,
    sla: Annotated[str | None, typer.Option("--sla", metavar="POLICY", help="One SLA.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 50,
    fmt: FormatOpt = Format.table,
) -> None:
    """The live queue: open leads' running SLA clocks, the next breach first."""
    with open_engine(db) as engine:
        try:
            items = engine.sla_queue(
                process,
                owners=None if owner is None else {owner},
                team=team,
                policy=sla,
                limit=limit,
            )
        except ValueError as exc:
            raise CliError(str(exc)) from None
    if fmt is Format.json:
        print_json([q.as_dict() for q in items])
        return
    if fmt is Format.csv:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["lead_id", "owner", "policy", "state", "due_at", "seconds_left"])
        for q in items:
            due = q.due_at.isoformat() if q.due_at else ""
            writer.writerow([q.lead_id, q.owner or "", q.policy, q.state, due, q.seconds_left])
        typer.echo(out.getvalue(), nl=False)
        return
    if not items:
        console().print(f"no running SLA clock in {process}")
        return
    console().print(_table(items))
