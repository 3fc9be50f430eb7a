"""``leadflow doctor``: is work getting done? Timer lag, outbox lag per adapter, dead letters,
expired claims and live workers, with a verdict.

    leadflow doctor --db URL [--max-timer-lag 60s] [--max-delivery-lag 5m] [--json]

Exit status: 0 when healthy (warnings included), 2 on trouble (a limit passed), 1 when it could
not check (a bad --db, say). Suits a cron job or a container health check.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.table import Table

from leadflow.cli._common import AsJson, CliError, Db, console, handled, open_engine, print_json
from leadflow.definitions import parse_duration
from leadflow.engine import Health, Limits

__all__ = ["doctor"]

TROUBLE = 2
"""The exit status when a limit is passed."""


def _seconds(option: str, text: str) -> float:
    try:
        return parse_duration(text).total_seconds()
    except ValueError as exc:
        raise CliError(f"{option}: {exc}") from None


def _table(h: Health) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title=f"leadflow doctor: {h.verdict}", title_justify="left")
    table.add_column("what")
    table.add_column("now", justify="right")
    table.add_row("SLA marks waiting", f"{h.timers:,}")
    table.add_row("  due and not fired", f"{h.timers_due:,}")
    table.add_row("  oldest due for", f"{h.timer_lag_seconds:,.0f} s")
    table.add_row("events not fanned out", f"{h.undispatched:,}")
    table.add_row("  oldest for", f"{h.fanout_lag_seconds:,.0f} s")
    for a in h.adapters:
        table.add_row(f"adapter {a.adapter}: pending", f"{a.pending:,}")
        table.add_row("  oldest pending for", f"{a.lag_seconds:,.0f} s")
        table.add_row("  dead letters", f"{a.dead:,}")
    table.add_row("claims past their lease", f"{h.expired_claims:,}")
    table.add_row("workers alive", f"{h.workers_alive}")
    table.add_row("workers silent", f"{h.workers_stale}")
    return table


@handled
def doctor(
    db: Db,
    max_timer_lag: Annotated[
        str,
        typer.Option(
            "--max-timer-lag",
            metavar="DURATION",
            help="Trouble when a due SLA mark waits longer (default 60s).",
        ),
    ] = "60s",
    max_delivery_lag: Annotated[
        str,
        typer.Option(
            "--max-delivery-lag",
            metavar="DURATION",
            help="Trouble when a delivery waits longer (default 5m).",
        ),
    ] = "5m",
    as_json: AsJson = False,
) -> None:
    """Check that timers fire and the outbox delivers: figures, a verdict, and exit status 2 on
    trouble (0 when healthy or only warnings)."""
    limits = Limits(
        timer_lag=_seconds("--max-timer-lag", max_timer_lag),
        delivery_lag=_seconds("--max-delivery-lag", max_delivery_lag),
    )
    with open_engine(db) as engine:
        h = engine.health(limits)
    if as_json:
        print_json(h.as_dict())
    else:
        out = console()
        out.print(_table(h))
        for line in h.problems:
            out.print(f"trouble: {line}", markup=False, highlight=False)
        for line in h.warnings:
            out.print(f"warning: {line}", markup=False, highlight=False)
        if h.verdict == "ok":
            out.print("ok: timers fire and the outbox delivers", markup=False, highlight=False)
    if h.problems:
        raise typer.Exit(TROUBLE)
