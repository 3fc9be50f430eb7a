"""The inbound-only app: ``POST /hooks/{source}`` and ``GET /healthz``, nothing else.

``leadflow serve-inbound`` runs it with uvicorn; a host may mount it in its own ASGI server. Its
own error answers keep the inbound shape: an unknown path is 404 ``{"error": "not-found"}``, a
wrong method 405 ``{"error": "method-not-allowed", "allow": ...}`` with an ``Allow`` header.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from leadflow.adapters import DeploymentConfig
from leadflow.adapters.inbound import method_not_allowed
from leadflow.engine import Engine
from leadflow.service._hooks import hooks_router

__all__ = ["create_inbound_app"]


def create_inbound_app(engine: Engine, config: DeploymentConfig) -> FastAPI:
    """The app serving the ``[inbound.*]`` sources of ``config`` against ``engine``.

    Raises :class:`~leadflow.adapters.AdapterConfigError` naming the file and table of a bad
    source, or a secret reference that does not resolve.
    """
    app = FastAPI(
        title="leadflow inbound webhooks",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.include_router(hooks_router(engine, config))

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_exception_handler(HTTPException, _http_error)
    return app


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own 404 and 405 (no route, wrong method) in the inbound answers' shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        status, body = method_not_allowed(allowed)
        return JSONResponse(body, status_code=status, headers={"Allow": allowed})
    if exc.status_code == 404:
        body = {"error": "not-found", "message": f"no route {request.url.path}"}
        return JSONResponse(body, status_code=404)
    body = {"error": "http-error", "message": str(exc.detail)}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
