"""The app as ``leadflow serve`` (and ``uvicorn --factory``) builds it: from the environment.

``LEADFLOW_DB`` is the database URL; ``LEADFLOW_CONFIG``, when set, a deployment configuration
whose ``[inbound.<name>]`` sources are served at ``/hooks/<name>``; ``LEADFLOW_SESSION_KEY``
signs the web app's session cookies (every worker and replica needs the same one);
``LEADFLOW_MAX_VALUE_BYTES`` bounds each value of lead data (64 KiB by default). Each
uvicorn worker process builds its own app (and its own connection pool) this way::

    LEADFLOW_DB=postgresql+psycopg://... uvicorn --factory leadflow.service:app_from_env
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from leadflow.adapters import load_config
from leadflow.engine import Engine, max_value_bytes_from_env
from leadflow.service._app import create_app

__all__ = ["app_from_env"]


def app_from_env() -> FastAPI:
    """The service over ``$LEADFLOW_DB`` (and ``$LEADFLOW_CONFIG``)."""
    db = os.environ.get("LEADFLOW_DB")
    if not db:
        raise RuntimeError("set LEADFLOW_DB to the database URL (leadflow serve --db URL)")
    config = os.environ.get("LEADFLOW_CONFIG")
    settings = load_config(Path(config)) if config else None
    key = os.environ.get("LEADFLOW_SESSION_KEY")
    limit = max_value_bytes_from_env(os.environ)  # ValueError: the service does not start
    return create_app(
        Engine(db, max_value_bytes=limit),
        config=settings,
        owns_engine=True,
        session_key=key.encode() if key else None,
    )
