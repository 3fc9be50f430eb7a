"""``leadflow schedules``: check a definition's schedules (batch releases, SLA digests).

    leadflow schedules next --db URL [--count N] [--json]
    leadflow schedules run --db URL --at TIME [--json]

``next`` lists every deployed schedule with its action, its last run and its next occurrences,
in UTC and in the schedule's own timezone, so "every Sunday 18:00 Amsterdam" can be read back.
``run --at`` runs what is due at TIME (ISO 8601, with a timezone) exactly as the worker would,
and says what ran: for a release, which lead went to whom. Each occurrence runs once, so running
it again does nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.table import Table

from leadflow.cli._common import AsJson, CliError, Db, console, handled, open_engine, print_json

__all__ = ["schedules_app"]

schedules_app = typer.Typer(
    help="Schedules: see when batch releases and digests run next, or run them at a time.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _when(value: datetime, zone: str) -> str:
    local = value.astimezone(ZoneInfo(zone))
    return f"{local:%a %Y-%m-%d %H:%M} {zone} ({value:%Y-%m-%d %H:%M} UTC)"


def _at(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(
            f"--at {text!r} is not a time; write ISO 8601 with a timezone, such as "
            "2026-03-01T18:00:00+01:00 or 2026-03-01T17:00:00Z"
        ) from None
    if at.tzinfo is None:
        raise CliError(f"--at {text!r} has no timezone; add one, such as Z or +01:00")
    return at


@schedules_app.command("next")
@handled
def schedules_next(
    db: Db,
    count: Annotated[
        int, typer.Option("--count", min=1, max=100, help="Occurrences to show per schedule.")
    ] = 3,
    as_json: AsJson = False,
) -> None:
    """Every deployed schedule: what it does, when it last ran, when it runs next."""
    with open_engine(db) as engine:
        infos = engine.schedules(count)
    if as_json:
        print_json([i.as_dict() for i in infos])
        return
    if not infos:
        console().print("no deployed definition declares schedules")
        return
    table = Table(box=box.SIMPLE_HEAD)
    for name in ("schedule", "action", "cron", "last run", "next"):
        table.add_column(name, overflow="fold")
    for i in infos:
        upcoming = "\n".join(_when(t, i.timezone) for t in i.next_due) or "never"
        table.add_row(
            f"{i.process}/{i.name}",
            i.action,
            f"{i.cron} ({i.timezone})",
            _when(i.last_due, i.timezone),
            upcoming,
        )
    console().print(table)


@schedules_app.command("run")
@handled
def schedules_run(
    db: Db,
    at: Annotated[
        str,
        typer.Option("--at", metavar="TIME", help="Run what is due at this time (ISO 8601)."),
    ],
    as_json: AsJson = False,
) -> None:
    """Run the schedules due at TIME, as the worker would, and say what ran."""
    when = _at(at)
    with open_engine(db) as engine:
        runs = engine.run_schedules_report(when)
    if as_json:
        print_json([r.as_dict() for r in runs])
        return
    if not runs:
        console().print(f"nothing due at {when.isoformat()} (see: leadflow schedules next)")
        return
    for r in runs:
        line = f"{r.process}/{r.name}: {r.action} due {r.due:%Y-%m-%d %H:%M} UTC"
        if r.action.startswith("release"):
            line += f", {len(r.released)} lead{'' if len(r.released) == 1 else 's'} released"
        console().print(line, markup=False, highlight=False)
        for lead, owner in r.released:
            console().print(f"  {lead} -> {owner}", markup=False, highlight=False)
