"""``leadflow serve``: the HTTP service (the API, the inbound CRM webhooks) under uvicorn.

The CLI does not import the service (the two are separate composition roots): it checks the
database and the configuration, then has uvicorn build the app by its import path,
``leadflow.service:app_from_env``, in each worker process.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

from leadflow.cli._common import CliError, Db, handled, open_engine
from leadflow.cli._log_format import JSON_LOGGING, LogFormat

__all__ = ["APP", "Config", "serve", "start_service"]

APP = "leadflow.service:app_from_env"
"""The app factory uvicorn imports in each worker."""

Config = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        envvar="LEADFLOW_CONFIG",
        show_envvar=True,
        help="Deployment configuration (TOML); its \\[inbound.<name>] sources are served at "
        "/hooks/<name>.",
    ),
]


_NO_INBOUND = (
    "{level}: no inbound sources are configured, so POST /hooks/<source> answers 404 for every "
    "CRM: to take CRM webhooks in, add an [inbound.<name>] table (kind = hubspot, pipedrive or "
    "standard; docs/adapters.md) to a TOML file and pass --config FILE (or set LEADFLOW_CONFIG)"
)


def start_service(
    db: str,
    config: Path | None,
    host: str,
    port: int,
    workers: int,
    log_format: LogFormat = LogFormat.text,
    *,
    inbound: bool = False,
) -> None:
    """Check what the service needs, say what is missing, then run it until SIGINT/SIGTERM.

    ``inbound``: the caller serves for the webhooks (``serve-inbound``), so serving none of
    them is a warning rather than a note.
    """
    try:
        import fastapi  # noqa: F401 - only checked for here: the service imports it
        import uvicorn
    except ImportError:
        raise CliError("serving needs uvicorn and fastapi: pip install 'leadflow[serve]'") from None
    sources: object = None
    if config is not None:
        from leadflow.adapters import load_config

        # a bad file is one error line here, not a traceback per worker
        sources = load_config(config).inbound
    if not sources:
        typer.echo(_NO_INBOUND.format(level="warning" if inbound else "note"), err=True)
    with open_engine(db, may_create=True):
        pass  # the database answers and its schema is current
    # uvicorn's workers (and its factory) read the database and configuration from the
    # environment; it is restored afterwards, so a caller's environment is left as it was
    names = ("LEADFLOW_DB", "LEADFLOW_CONFIG", "LEADFLOW_SESSION_KEY")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["LEADFLOW_DB"] = db
    if not os.environ.get("LEADFLOW_SESSION_KEY"):
        # the web app's sessions must verify on every worker: one key for this run
        os.environ["LEADFLOW_SESSION_KEY"] = secrets.token_urlsafe(32)
    if config is not None:
        os.environ["LEADFLOW_CONFIG"] = str(config.resolve())
    else:
        os.environ.pop("LEADFLOW_CONFIG", None)
    try:
        if log_format is LogFormat.json:
            uvicorn.run(
                APP,
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level="info",
                log_config=JSON_LOGGING,
            )
        else:
            uvicorn.run(APP, factory=True, host=host, port=port, workers=workers, log_level="info")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@handled
def serve(
    db: Db,
    config: Config = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8080,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Worker processes (stateless).")
    ] = 1,
    log_format: Annotated[
        LogFormat, typer.Option("--log-format", help="text, or json: one JSON object per line.")
    ] = LogFormat.text,
) -> None:
    """Serve the web app, the HTTP API, the inbound CRM webhooks, /healthz and /readyz.

    The web app is under /app, the API under /api/v1 (interactive reference at /docs), the
    webhooks at /hooks/<source>; uvicorn serves them. Needs `pip install 'leadflow\\[serve]'`."""
    start_service(db, config, host, port, workers, LogFormat(log_format))
