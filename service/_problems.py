"""Errors as RFC 9457 problem details (``application/problem+json``), from one place.

Every :class:`~leadflow.definitions.LeadflowError` maps to a status by its kind; the body
carries ``type``, ``title``, ``status``, ``detail``, the leadflow error ``code`` (with
underscores: ``guard_failed``) and the error's structured fields (``unmet``, ``allowed``,
``issues``, ``problems``, ``rule``). Request validation errors are 422 naming the field; an
unexpected exception is a 500 whose body says only that (the trace goes to the log).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from leadflow.definitions import DefinitionError, LeadflowError
from leadflow.engine import (
    ConcurrentUpdate,
    DeployConflict,
    DuplicateLead,
    GuardFailed,
    InvalidData,
    InvalidTransition,
    SnoozeRefused,
    StorageError,
)
from leadflow.engine.access import AccessDenied

__all__ = [
    "PROBLEM",
    "ErrorPage",
    "Problem",
    "install_problem_handlers",
    "problem",
    "status_of",
]

PROBLEM = "application/problem+json"
log = logging.getLogger("leadflow.service")


class Problem(Exception):
    """An HTTP answer that is an error (raised by routes; rendered as problem details)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers
        self.extra = extra
        super().__init__(detail)


def problem(
    status: int,
    code: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem details response."""
    body = {
        "type": f"https://leadflow.dev/problems/{code.replace('_', '-')}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=dict(headers or {}))


def status_of(exc: LeadflowError, *, if_match: bool = False) -> int:
    """The HTTP status of a leadflow error (a stale ``If-Match`` version is 412)."""
    if isinstance(exc, AccessDenied):
        return 403
    if isinstance(exc, ConcurrentUpdate):
        return 412 if if_match else 409
    if isinstance(
        exc, GuardFailed | InvalidTransition | DuplicateLead | DeployConflict | SnoozeRefused
    ):
        return 409
    if isinstance(exc, StorageError):
        return 503
    if isinstance(exc, LookupError):
        return 404
    if isinstance(exc, DefinitionError | InvalidData | ValueError):
        return 422
    return 400


def fields_of(exc: LeadflowError) -> dict[str, Any]:
    """The structured fields of an error, as JSON."""
    if isinstance(exc, GuardFailed):
        return {
            "unmet": [{"id": r.id, "message": r.message, "seen": r.seen} for r in exc.unmet],
            "trigger": exc.trigger,
        }
    if isinstance(exc, InvalidTransition):
        return {"stage": exc.stage, "trigger": exc.trigger, "allowed": list(exc.allowed)}
    if isinstance(exc, InvalidData):
        return {"issues": [{"field": i.field, "message": i.message} for i in exc.issues]}
    if isinstance(exc, DefinitionError):
        return {
            "problems": [
                {"line": p.line, "column": p.column, "message": p.message, "code": p.code}
                for p in exc.problems
            ]
        }
    if isinstance(exc, AccessDenied):
        return {"rule": exc.rule, "verb": exc.verb, "role": exc.actor.role}
    if isinstance(exc, ConcurrentUpdate):
        return {"expected_version": exc.expected_version}
    return {}


def leadflow_problem(exc: LeadflowError, *, if_match: bool = False) -> JSONResponse:
    """The problem details of a leadflow error."""
    code = str(getattr(exc, "code", "leadflow-error")).replace("-", "_")
    status = status_of(exc, if_match=if_match)
    if status == 412:
        code = "precondition_failed"
    return problem(status, code, str(exc), **fields_of(exc))


ErrorPage = Callable[[Request, int, str], Response | None]
"""Renders an error as a page for requests that want one (the web app's), else None."""


def install_problem_handlers(app: FastAPI, page: ErrorPage | None = None) -> None:
    """Every error the app can raise, answered as problem details, or by ``page`` when it
    renders one for the request (the web pages under ``/app`` answer in HTML)."""

    def answer(request: Request, response: JSONResponse) -> Response:
        if page is None:
            return response
        status = response.status_code
        detail = json.loads(bytes(response.body)).get("detail", "")
        return page(request, status, str(detail)) or response

    async def on_leadflow(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LeadflowError)
        return answer(request, leadflow_problem(exc, if_match="if-match" in request.headers))

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return answer(request, problem(exc.status, exc.code, exc.detail, exc.headers, **exc.extra))

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        issues = [_issue(e) for e in exc.errors()]
        named = ", ".join(i["field"] or "body" for i in issues)
        response = problem(
            422, "invalid_request", f"the request is invalid: {named}", issues=issues
        )
        return answer(request, response)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = _CODES.get(exc.status_code, "http_error")
        return answer(request, problem(exc.status_code, code, str(exc.detail), headers=exc.headers))

    async def on_anything(request: Request, exc: Exception) -> Response:
        log.exception("%s %s failed", request.method, request.url.path)
        return answer(
            request, problem(500, "internal", "the server failed; the error is in its log")
        )

    app.add_exception_handler(LeadflowError, on_leadflow)
    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_anything)


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}


def _issue(error: Mapping[str, Any]) -> dict[str, str]:
    """One problem of a request FastAPI refused: the field (dotted path in the body; empty for
    the body itself) and what is wrong with it, in words a caller can act on."""
    loc = tuple(error.get("loc", ()))
    kind = error.get("type")
    if kind == "json_invalid":
        where = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
        why = (error.get("ctx") or {}).get("error", "")
        return {
            "field": "",
            "message": f"the body is not valid JSON{where}" + (f": {why}" if why else ""),
        }
    if kind == "missing" and loc == ("body",):
        return {
            "field": "",
            "message": "a JSON object body is required (Content-Type: application/json)",
        }
    return {"field": ".".join(str(p) for p in loc if p != "body"), "message": str(error["msg"])}
