"""``leadflow worker``: fire due SLA timers, run schedules, deliver the outbox; until SIGTERM.

    leadflow worker --db sqlite:///leadflow.db
    leadflow worker --db postgresql+psycopg://... --config leadflow.toml --log-level debug

Errors print one ``error:`` line (see :mod:`leadflow.cli._common`), never a traceback; a
second worker on a SQLite database is refused that way, naming the running one.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from leadflow.cli._common import CliError, Db, handled, open_engine
from leadflow.cli._log_format import LogFormat, formatter
from leadflow.definitions import parse_duration
from leadflow.engine import Engine
from leadflow.engine.worker import Pump, Worker, WorkerOptions, run_worker

__all__ = ["worker"]


class LogLevel(StrEnum):
    """How much the worker logs on stderr."""

    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


Config = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="LEADFLOW_CONFIG",
        show_envvar=True,
        metavar="FILE",
        help="Deployment configuration (TOML): also deliver the outbox to its adapters.",
    ),
]


@contextmanager
def _logging(level: LogLevel, kind: LogFormat = LogFormat.text) -> Iterator[None]:
    """Log ``leadflow.*`` at ``level`` to stderr for the command's duration."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(kind))
    loggers = {
        logging.getLogger("leadflow"): getattr(logging, level.value.upper()),
        # APScheduler logs every job run at info; its warnings and errors still show
        logging.getLogger("apscheduler"): (
            logging.DEBUG if level is LogLevel.debug else logging.WARNING
        ),
    }
    before = {lg: lg.level for lg in loggers}
    for lg, lvl in loggers.items():
        lg.setLevel(lvl)
        lg.addHandler(handler)
    try:
        yield
    finally:
        for lg, lvl in before.items():
            lg.removeHandler(handler)
            lg.setLevel(lvl)


@contextmanager
def _pumps(engine: Engine, config: Path | None) -> Iterator[list[Pump]]:
    """The outbox dispatcher of ``config`` (none without a config), closed afterwards."""
    if config is None:
        yield []
        return
    from leadflow import adapters

    dispatcher_cls: Any = getattr(adapters, "Dispatcher", None)
    options_cls: Any = getattr(adapters, "DispatchOptions", None)
    if dispatcher_cls is None or options_cls is None:
        raise CliError(
            "--config needs the outbox dispatcher, but leadflow.adapters does not export "
            "Dispatcher and DispatchOptions in this installation; run the worker without "
            "--config and `leadflow outbox run --config FILE` beside it"
        )
    try:
        deployment = adapters.load_config(config)
        options = options_cls.from_mapping(
            dict(deployment.dispatch), f"{deployment.source}: [dispatch]"
        )
        built = deployment.build_adapters()
    except adapters.AdapterConfigError as exc:
        raise CliError(str(exc)) from None
    try:
        try:
            dispatcher = dispatcher_cls(engine, built, options, **deployment.per_adapter)
        except adapters.AdapterConfigError as exc:
            raise CliError(str(exc)) from None
        try:
            yield [dispatcher]
        finally:
            dispatcher.close()
    finally:
        for adapter in built.values():
            adapter.close()


@contextmanager
def _metrics(
    engine: Engine, host: str, port: int | None
) -> Iterator[Callable[[Worker], object] | None]:
    """With a port: a function that serves the worker's metrics there (stopped afterwards)."""
    if port is None:
        yield None
        return
    try:
        from prometheus_client import CollectorRegistry, start_http_server

        from leadflow.engine.metrics import EngineMetrics, HealthCollector, WorkerCollector
    except ImportError:
        raise CliError(
            "--metrics-port needs prometheus-client: pip install 'leadflow[metrics]'"
        ) from None
    servers: list[Any] = []

    def export(worker: Worker) -> None:
        registry = CollectorRegistry()
        registry.register(HealthCollector(engine))
        registry.register(WorkerCollector(worker))
        EngineMetrics(engine, registry)  # marks' deadline-to-action, deliveries by outcome
        try:
            server, _ = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise CliError(
                f"--metrics-port {port}: cannot listen on {host}: {exc.strerror}"
            ) from None
        servers.append(server)

    try:
        yield export
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@handled
def worker(
    db: Db,
    config: Config = None,
    batch: Annotated[
        int,
        typer.Option("--batch", min=1, max=10_000, metavar="N", help="Due timers per transaction."),
    ] = 500,
    poll: Annotated[
        float,
        typer.Option(
            "--poll",
            min=0,
            max=3600,
            metavar="SECONDS",
            help="Idle re-check for timers written by other processes (0: every 30 s only).",
        ),
    ] = 0.5,
    keep_answers: Annotated[
        str,
        typer.Option(
            "--keep-answers",
            metavar="DURATION",
            help="How long an Idempotency-Key's first answer is kept (1m to 90d), e.g. 24h.",
        ),
    ] = "24h",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=1,
            max=65535,
            metavar="PORT",
            help="Prometheus metrics at http://HOST:PORT/metrics (needs leadflow\\[metrics]).",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", metavar="HOST", help="Address of --metrics-port.")
    ] = "127.0.0.1",
    log_level: Annotated[
        LogLevel, typer.Option("--log-level", help="Log detail on stderr.")
    ] = LogLevel.info,
    log_format: Annotated[
        LogFormat, typer.Option("--log-format", help="text, or json: one JSON object per line.")
    ] = LogFormat.text,
) -> None:
    """Fire due SLA timers, run schedules and (with --config) deliver the outbox.

    Runs until SIGTERM or Ctrl-C (the current batch is committed first)."""
    try:
        kept = parse_duration(keep_answers).total_seconds()
        if not 60 <= kept <= 90 * 86_400:
            raise ValueError(f"--keep-answers must be 1m to 90d, not {keep_answers}")
        options = WorkerOptions(batch=batch, poll=poll or None, keep_answers=kept)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    with (
        _logging(LogLevel(log_level), LogFormat(log_format)),
        open_engine(db) as engine,
        _pumps(engine, config) as pumps,
        _metrics(engine, metrics_host, metrics_port) as export,
    ):
        stats = run_worker(engine, options, pumps=pumps, made=export)
    typer.echo(
        f"worker stopped: {stats.timers} timers, {stats.schedules} schedules, "
        f"{stats.deliveries} deliveries",
        err=True,
    )
