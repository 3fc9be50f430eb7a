"""``leadflow outbox``: look at the outbox, retry and purge deliveries, run the dispatcher.

    leadflow outbox status --db URL [--config leadflow.toml]
    leadflow outbox list --db URL --status dead --adapter hubspot --limit 20
    leadflow outbox retry --db URL --all-dead [--adapter hubspot] | --id 17 --id 18
    leadflow outbox purge --db URL --delivered-before 2026-01-01 [--dead]
    leadflow outbox run --db URL --config leadflow.toml [--until-idle]

Errors print one ``error:`` line (see :mod:`leadflow.cli._common`), never a traceback.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from leadflow.adapters import DeploymentConfig, load_config
from leadflow.adapters.base import Adapter, AdapterConfigError
from leadflow.adapters.outbox import DeliveryInfo, Dispatcher, DispatchOptions, Outbox, OutboxStatus
from leadflow.cli._common import (
    AsJson,
    CliError,
    Db,
    console,
    handled,
    open_engine,
    print_json,
    when,
)

__all__ = ["outbox_app"]

outbox_app = typer.Typer(
    help="The outbox: what waits for delivery, dead letters, retries, the dispatcher.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

Config = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="LEADFLOW_CONFIG",
        show_envvar=True,
        metavar="FILE",
        help="Deployment configuration (TOML): the adapters and the \\[dispatch] options.",
    ),
]
AdapterName = Annotated[
    str | None, typer.Option("--adapter", help="Only deliveries to this adapter.")
]


class StatusFilter(StrEnum):
    """The delivery states ``list`` can filter on."""

    pending = "pending"
    dead = "dead"
    delivered = "delivered"


def _config(path: Path | None) -> DeploymentConfig:
    try:
        return load_config(path)
    except AdapterConfigError as exc:
        raise CliError(str(exc)) from None


def _cutoff(text: str) -> datetime:
    """``--delivered-before``: a date (midnight UTC) or an ISO 8601 time (UTC if no zone)."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(
            f"--delivered-before {text!r} is not a date; write 2026-01-31 or "
            "2026-01-31T12:00:00+00:00"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# -- status and list ---------------------------------------------------------------------------


def _status_json(status: OutboxStatus) -> dict[str, Any]:
    return {
        "undispatched": status.undispatched,
        "pending": status.pending,
        "dead": status.dead,
        "adapters": [asdict(a) for a in status.adapters],
    }


def _status_table(status: OutboxStatus) -> Table:
    table = Table(title="Outbox deliveries by adapter", title_justify="left")
    table.add_column("adapter", no_wrap=True)
    for name in ("pending", "due", "leased", "dead", "delivered"):
        table.add_column(name, justify="right")
    table.add_column("oldest pending (UTC)", no_wrap=True)
    for a in status.adapters:
        name = a.adapter + (" (not configured)" if a.configured is False else "")
        oldest = when(a.oldest_pending) if a.oldest_pending else "-"
        counts = (a.pending, a.due, a.leased, a.dead, a.delivered)
        table.add_row(Text(name), *(str(n) for n in counts), oldest)
    return table


@outbox_app.command()
@handled
def status(db: Db, config: Config = None, as_json: AsJson = False) -> None:
    """Deliveries per adapter: pending, due, leased, dead, delivered; events not fanned out."""
    deployment = _config(config)  # None: $LEADFLOW_CONFIG, or LEADFLOW_ADAPTER_* only
    configured = list(deployment.adapters) if config is not None else None
    with open_engine(db) as engine:
        result = Outbox(engine).status(configured=configured)
    if as_json:
        print_json(_status_json(result))
    else:
        out = console()
        out.print(_status_table(result))
        out.print(f"events waiting to be fanned out: {result.undispatched}")
    waiting = result.undispatched + result.pending
    if not deployment.adapters and waiting:
        typer.echo(_NO_ADAPTER.format(waiting=waiting), err=True)


_NO_ADAPTER = (
    "warning: no adapter is configured, so nothing will deliver these {waiting} events: give "
    "--config FILE (or set LEADFLOW_CONFIG) naming a TOML file with an [adapters.<name>] table "
    "(type, url, secret: docs/adapters.md), then run leadflow worker --config FILE or leadflow "
    "outbox run --config FILE"
)


def _info_json(info: DeliveryInfo) -> dict[str, Any]:
    return asdict(info)


@outbox_app.command("list")
@handled
def list_(
    db: Db,
    status: Annotated[
        StatusFilter | None, typer.Option("--status", help="Only deliveries in this state.")
    ] = None,
    adapter: AdapterName = None,
    lead: Annotated[str | None, typer.Option("--lead", help="Only this lead's deliveries.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many rows.")] = 50,
    as_json: AsJson = False,
) -> None:
    """Deliveries, oldest first, with their last error."""
    with open_engine(db) as engine:
        rows = Outbox(engine).list(
            status=status.value if status else None, adapter=adapter, lead_id=lead, limit=limit
        )
    if as_json:
        print_json([_info_json(r) for r in rows])
        return
    table = Table(title="Outbox deliveries", title_justify="left")
    for name in ("id", "adapter", "lead", "seq", "event", "status", "tries", "next (UTC)"):
        table.add_column(name, justify="right" if name in ("id", "seq", "tries") else "left")
    table.add_column("last error", overflow="fold")
    for r in rows:
        error = r.last_error or "-"
        if r.last_status is not None and r.last_error:
            error = f"[{r.last_status}] {r.last_error}"
        table.add_row(
            str(r.id),
            Text(r.adapter),
            Text(r.lead_id),
            str(r.seq),
            r.event_type.removeprefix("leadflow.lead."),
            r.status,
            str(r.attempts),
            when(r.next_attempt_at) if r.status == "pending" else "-",
            Text(error),
        )
    out = console()
    out.print(table)
    if not rows:
        out.print("no deliveries match")


# -- repairs -----------------------------------------------------------------------------------


@outbox_app.command()
@handled
def retry(
    db: Db,
    ids: Annotated[
        list[int] | None, typer.Option("--id", help="A delivery id (repeat for several).")
    ] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Every dead letter.")] = False,
    adapter: AdapterName = None,
    as_json: AsJson = False,
) -> None:
    """Make deliveries due now: dead letters get a fresh retry budget."""
    if not ids and not all_dead:
        raise CliError("say what to retry: --id ID (repeatable) or --all-dead")
    if ids and all_dead:
        raise CliError("--id and --all-dead exclude each other")
    with open_engine(db) as engine:
        count = Outbox(engine).retry(ids, all_dead=all_dead, adapter=adapter)
    if as_json:
        print_json({"retried": count})
    else:
        typer.echo(f"{count} {'delivery' if count == 1 else 'deliveries'} due again now")


@outbox_app.command()
@handled
def purge(
    db: Db,
    delivered_before: Annotated[
        str | None,
        typer.Option(
            "--delivered-before",
            metavar="DATE",
            help="Delete deliveries delivered before this date or time (UTC unless given).",
        ),
    ] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Delete every dead letter.")] = False,
    as_json: AsJson = False,
) -> None:
    """Delete delivered (and dead) deliveries, and fanned-out events with none left."""
    if delivered_before is None and not dead:
        raise CliError("say what to purge: --delivered-before DATE and/or --dead")
    cutoff = _cutoff(delivered_before) if delivered_before is not None else None
    with open_engine(db) as engine:
        result = Outbox(engine).purge(delivered_before=cutoff, dead=dead)
    if as_json:
        print_json({"deliveries": result.deliveries, "events": result.events})
    else:
        typer.echo(f"purged {result.deliveries} deliveries and {result.events} events")


# -- the dispatcher ----------------------------------------------------------------------------


@contextmanager
def _adapters(config: DeploymentConfig, names: list[str] | None) -> Iterator[dict[str, Adapter]]:
    try:
        built = config.build_adapters(names)
    except AdapterConfigError as exc:
        raise CliError(str(exc)) from None
    if not built:
        raise CliError(
            f"{config.source}: no adapters configured; add an [adapters.NAME] table "
            "(see docs/adapters.md)"
        )
    try:
        yield built
    finally:
        for adapter in built.values():
            adapter.close()


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM and SIGINT (in the main thread), so a round ends cleanly."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@outbox_app.command()
@handled
def run(
    db: Db,
    config: Config = None,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Stop once nothing is due (else run forever).")
    ] = False,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, max=256, help="Delivery threads.")
    ] = None,
    adapter: Annotated[
        list[str] | None, typer.Option("--adapter", help="Only these configured adapters.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Deliver the outbox to the configured adapters (SIGTERM/Ctrl-C finish the round)."""
    deployment = _config(config)
    options_table = dict(deployment.dispatch)
    if concurrency is not None:
        options_table["concurrency"] = concurrency
    try:
        options = DispatchOptions.from_mapping(options_table, f"{deployment.source}: [dispatch]")
    except AdapterConfigError as exc:
        raise CliError(str(exc)) from None
    with (
        open_engine(db) as engine,
        _adapters(deployment, adapter) as adapters,
        Dispatcher(engine, adapters, options, **deployment.per_adapter) as dispatcher,
        _stop_on_signals() as stop,
    ):
        dispatcher.run(until_idle=until_idle, stop=stop)
        stats = dispatcher.stats
        left = Outbox(engine).status(configured=adapters)
    summary = asdict(stats) | {"pending": left.pending, "dead_total": left.dead}
    if as_json:
        print_json(summary)
    else:
        typer.echo(
            f"delivered {stats.delivered}, retried {stats.retried}, dead {stats.dead}; "
            f"{left.pending} pending, {left.dead} dead letters in total"
        )
