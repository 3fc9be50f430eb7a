"""leadflow as a service: the HTTP API (FastAPI) over the engine.

:func:`create_app` builds the ASGI application for an engine (``/api/v1``, ``/hooks``,
``/healthz``, ``/readyz``, OpenAPI); :func:`app_from_env` builds it from ``LEADFLOW_DB`` and
``LEADFLOW_CONFIG`` as ``leadflow serve`` and ``uvicorn --factory`` do. See docs/http-api.md.
"""

from leadflow.service._app import create_app
from leadflow.service._factory import app_from_env
from leadflow.service._inbound_app import create_inbound_app

__all__ = ["app_from_env", "create_app", "create_inbound_app"]
