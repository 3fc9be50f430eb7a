"""``leadflow route DEFINITION LEADS --dry-run``: where each lead of a file would go, and why.

    leadflow route inbound-lead leads.csv --dry-run
    leadflow route my-routing.yaml leads.jsonl --dry-run --db $LEADFLOW_DB --at 2026-03-02T15:00

The definition (a file or a shipped name) is the one being tried; its routing rules run against
the team state of ``--db`` (rotation positions, open leads, out-of-office periods, owed catch-up
turns), or an empty database without it. Nothing is written anywhere.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from leadflow.cli._common import console, fail, handled, open_engine, print_json
from leadflow.cli._report_options import parse_time
from leadflow.definitions import load_definition
from leadflow.engine import Engine
from leadflow.engine.routing import DryRoute, dry_run, read_leads

__all__ = ["route"]


def _why(route: DryRoute) -> str:
    skipped = ", ".join(f"{m} ({why})" for m, why in route.skipped)
    return f"{route.reason}; skipped {skipped}" if skipped else route.reason


def _table(title: str, routes: list[DryRoute], before: list[DryRoute] | None) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("lead", overflow="fold")
    table.add_column("rule", justify="right")
    table.add_column("team")
    table.add_column("owner")
    if before is not None:
        table.add_column("before")
    table.add_column("why", overflow="fold", ratio=1)
    for k, r in enumerate(routes):
        rule = "acct" if r.account is not None else str(r.rule) if r.rule is not None else "-"
        was = [] if before is None else [before[k].owner or "-"]
        table.add_row(r.lead_id, rule, r.team or "-", r.owner or "-", *was, _why(r))
    return table


def _totals(routes: list[DryRoute]) -> str:
    owners = Counter(r.owner or "nobody" for r in routes)
    return "by owner: " + ", ".join(f"{o} {n}" for o, n in sorted(owners.items()))


@handled
def route(
    definition: Annotated[
        Path, typer.Argument(help="The definition to try: a YAML/JSON file or a shipped name.")
    ],
    leads: Annotated[
        Path, typer.Argument(help="The leads: CSV with a header row, or JSON lines (.jsonl).")
    ],
    dry_run_flag: Annotated[
        bool, typer.Option("--dry-run", help="Show where each lead would go; change nothing.")
    ] = False,
    db: Annotated[
        str | None,
        typer.Option(
            "--db", metavar="URL", help="Read the team state (loads, away, rotation) from here."
        ),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", metavar="TIME", help="Route as of then (default: now).")
    ] = None,
    id_column: Annotated[
        str, typer.Option("--id-column", help="The column holding each lead's id.")
    ] = "lead_id",
    compare_with: Annotated[
        Path | None,
        typer.Option(
            "--compare",
            metavar="OTHER",
            help="Also route by this definition (the current one): show each lead's owner there.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Show where each lead of a file would be routed and why (rule, owner, members skipped)."""
    if not dry_run_flag:
        fail("route only runs as a dry run for now: add --dry-run", code=2)
    when = parse_time(at, "--at")
    process = load_definition(definition)
    other = load_definition(compare_with) if compare_with is not None else None
    rows = read_leads(leads, process, id_column=id_column)
    with Engine("sqlite://", create=True) if db is None else open_engine(db) as engine:
        at_ = when or engine.clock.now()
        routes = dry_run(engine.store, process, rows, at_)
        before = dry_run(engine.store, other, rows, at_) if other is not None else None
    if as_json:
        out = [r.as_dict() for r in routes]
        for k, item in enumerate(out):
            if before is not None:
                item["before"] = before[k].as_dict()
        print_json(out)
        return
    state = f"team state of {db}" if db else "no team state (an empty database)"
    title = f"{process.process} v{process.version}: {len(routes)} leads, dry run against {state}"
    console().print(_table(title, routes, before))
    changed = ""
    if before is not None and other is not None:
        moved = sum(a.owner != b.owner for a, b in zip(routes, before, strict=True))
        changed = f"; {moved} of {len(routes)} change owner against v{other.version} (before)"
    console().print(f"{_totals(routes)}{changed}. Nothing was written.")
