"""Unknown query parameters are refused (422), the way Stripe refuses them: a misspelt filter
(``?closed=true`` where the route takes ``?state=closed``) must not quietly answer as if no
filter had been given."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from leadflow.service._deps import Caller
from leadflow.service._problems import Problem

__all__ = ["known_query"]

_CACHED = "_leadflow_query_parameters"
"""The attribute a route keeps its query parameters in, worked out once (routes compare by
value, so they cannot be keys of a cache)."""


def _allowed(route: Any) -> frozenset[str]:
    """The query parameters ``route`` declares, its own and its dependencies' (and those its
    OpenAPI document adds by hand, such as deploy's ``file``)."""
    names: frozenset[str] | None = getattr(route, _CACHED, None)
    if names is None:
        declared: set[str] = set()
        todo = [route.dependant]
        while todo:  # the route's own parameters, then its dependencies' (FastAPI's Dependant)
            dependant = todo.pop()
            declared |= {field.alias for field in dependant.query_params}
            todo.extend(dependant.dependencies)
        extra = (getattr(route, "openapi_extra", None) or {}).get("parameters", ())
        declared |= {p["name"] for p in extra if p.get("in") == "query"}
        names = frozenset(declared)
        setattr(route, _CACHED, names)
    return names


async def known_query(request: Request, actor: Caller) -> None:
    """422 naming every query parameter the matched route does not take (after the token is
    checked: a caller without one learns nothing of the route)."""
    route = request.scope.get("route")
    if route is None or not request.query_params:
        return
    allowed = _allowed(route)
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in allowed]
    if not unknown:
        return
    takes = ", ".join(sorted(allowed)) if allowed else "none"
    named = ", ".join(f"'{name}'" for name in unknown)
    raise Problem(
        422,
        "invalid_request",
        f"unknown query parameter {named}; this route takes: {takes}",
        issues=[
            {"field": f"query.{name}", "message": "not a parameter of this route"}
            for name in unknown
        ],
    )
