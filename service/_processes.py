"""``/api/v1/processes``: what is deployed, and deploying a new version (``ops``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from leadflow.definitions import ProcessDefinition, load_definition
from leadflow.engine.access import require
from leadflow.service._deps import Caller, EngineDep
from leadflow.service._problems import Problem
from leadflow.service._schemas import DeployIn, ProcessOut
from leadflow.service._scope import visible_owners

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/processes", tags=["processes"])


@router.get("", response_model=list[ProcessOut])
def list_processes(engine: EngineDep, actor: Caller) -> list[ProcessOut]:
    """Every deployed process with its versions and its latest version's shape."""
    return [_process(engine.definition(p), versions) for p, versions in engine.processes().items()]


@router.get("/{process}", response_model=ProcessOut)
def get_process(process: str, engine: EngineDep, actor: Caller) -> ProcessOut:
    """One process: versions, stages, triggers and SLAs of the latest version."""
    versions = engine.processes().get(process)
    definition = engine.definition(process)  # UnknownProcess (404) names what is deployed
    return _process(definition, versions or [definition.version])


YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
"""Content types of a raw definition body (``curl --data-binary @process.yaml``)."""


async def deploy_body(request: Request) -> DeployIn:
    """The definition to deploy: a JSON object ``{yaml, file?}``, or the YAML text itself under
    a YAML content type (``file`` then from the query, default ``request.yaml``)."""
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    raw = await request.body()
    if kind in YAML_TYPES:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            issue = {"type": "unicode", "loc": ("body",), "msg": f"not UTF-8 text ({exc.reason})"}
            raise RequestValidationError([issue]) from None
        file = request.query_params.get("file") or "request.yaml"
        values: object = {"yaml": text, "file": file}
    elif kind == "application/json" or kind.endswith("+json"):
        if not raw:
            raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "missing"}])
        try:
            values = json.loads(raw)
        except ValueError as exc:
            where = getattr(exc, "pos", 0)
            error = {
                "type": "json_invalid",
                "loc": ("body", where),
                "msg": "JSON decode error",
                "ctx": {"error": getattr(exc, "msg", str(exc))},
            }
            raise RequestValidationError([error]) from None
    else:
        allowed = ", ".join(["application/json", *sorted(YAML_TYPES)])
        raise Problem(415, "unsupported_media_type", f"send the definition as one of: {allowed}")
    try:
        return DeployIn.model_validate(values)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from None


_DEPLOY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": DeployIn.model_json_schema()},
            "application/yaml": {
                "schema": {"type": "string", "description": "The definition's YAML text."}
            },
        },
    },
    "parameters": [
        {
            "name": "file",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "default": "request.yaml"},
            "description": "With a YAML body: the name problems are reported against.",
        }
    ],
}


@router.post("", status_code=201, response_model=ProcessOut, openapi_extra=_DEPLOY_BODY)
def deploy(
    engine: EngineDep,
    actor: Caller,  # before the body: a caller without a valid token learns nothing of it
    body: Annotated[DeployIn, Depends(deploy_body)],
    response: Response,
) -> ProcessOut:
    """Deploy a definition version from its YAML text (``ops``): a JSON body ``{yaml, file?}``
    or the YAML itself (``Content-Type: application/yaml``); 422 lists every problem with its
    line and column; deploying the same text again is a no-op."""
    require(actor, "deploy")
    definition = engine.deploy(load_definition(body.yaml, file=body.file))
    response.headers["Location"] = f"/api/v1/processes/{definition.process}"
    return _process(definition, engine.processes()[definition.process])


def _process(definition: ProcessDefinition, versions: list[int]) -> ProcessOut:
    return ProcessOut(
        process=definition.process,
        versions=versions,
        latest=definition.version,
        stages=[
            {
                "name": name,
                "title": stage.title,
                "initial": stage.initial,
                "closed": stage.closed,
                "probability": stage.probability,
            }
            for name, stage in definition.stages.items()
        ],
        triggers=[_trigger(t.name, t.source, t.to, t.requires) for t in definition.transitions],
        slas=[
            {
                "id": sla_id,
                "stages": list(sla.stages),
                "target": sla.target_text,
                "calendar": sla.calendar,
            }
            for sla_id, sla in definition.slas.items()
        ],
    )


def _trigger(name: str, source: Any, to: str, requires: Any) -> dict[str, Any]:
    return {"name": name, "from": list(source), "to": to, "requires": list(requires)}


@router.get("/{process}/queue")
def sla_queue(
    process: str,
    engine: EngineDep,
    actor: Caller,
    owner: str | None = None,
    team: str | None = None,
    policy: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """The live queue: the active SLA clocks of the open leads the caller may read, the next
    breach first (``seconds_left`` negative when overdue); filters by owner, team, SLA."""
    definition = engine.definition(process)
    owners, unassigned = visible_owners(actor, definition, owner, team)
    try:
        items = engine.sla_queue(
            process, owners=owners, unassigned=unassigned, policy=policy, limit=limit
        )
    except ValueError as exc:
        raise Problem(422, "invalid_request", str(exc)) from exc
    return [item.as_dict() for item in items]
