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
        help="Deployment configuration (TOML); its [inbound.<name>] sources are served at "
        "/hooks/<name>.",
    ),
]


def start_service(
    db: str,
    config: Path | None,
    host: str,
    port: int,
    workers: int,
    log_format: LogFormat = LogFormat.text,
) -> None:
    """Check what the service needs, then run it until SIGINT/SIGTERM."""
    try:
        import fastapi  # noqa: F401 - only checked for here: the service imports it
        import uvicorn
        from uvicorn.config import LOGGING_CONFIG
    except ImportError:
        raise CliError("serving needs uvicorn and fastapi: pip install 'leadflow[serve]'") from None
    if config is not None:
        from leadflow.adapters import load_config

        load_config(config)  # a bad file is one error line here, not a traceback per worker
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
        uvicorn.run(
            APP,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            log_config=JSON_LOGGING if log_format is LogFormat.json else LOGGING_CONFIG,
        )
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
    """Serve the web app (/app), the HTTP API (/api/v1, /docs), the inbound CRM webhooks
    (/hooks/<source>), /healthz and /readyz with uvicorn. Needs `pip install 'leadflow[serve]'`."""
    start_service(db, config, host, port, workers, LogFormat(log_format))
