"""A local HubSpot CRM (v3 objects) that behaves like the real API for what leadflow calls.

Deals and contacts with known properties, ``dealstage`` options and owners; PATCH by id or by a
unique ``idProperty``; batch update (at most 100 inputs, 207 Multi-Status when some records are
missing, 400 for the whole batch when a value is invalid); notes and tasks with associations;
Bearer auth; rate limits (429 with ``policyName``) on an injectable clock.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

from ._server import FakeServer, Reply, Request, invalid_json

DEAL_PROPERTIES = {
    "dealname",
    "dealstage",
    "pipeline",
    "amount",
    "closedate",
    "closed_lost_reason",
    "hubspot_owner_id",
    "leadflow_lead_id",
    "lead_score",
}
CONTACT_PROPERTIES = {
    "email",
    "firstname",
    "lastname",
    "lifecyclestage",
    "hubspot_owner_id",
    "leadflow_lead_id",
}
STAGES = {
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "closedwon",
    "closedlost",
}
LIFECYCLE = {"subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "customer"}
ASSOCIATIONS = {
    ("notes", 214): "deals",
    ("notes", 202): "contacts",
    ("tasks", 216): "deals",
    ("tasks", 204): "contacts",
}
ENGAGEMENT_PROPERTIES = {
    "notes": {"hs_timestamp", "hs_note_body", "hubspot_owner_id"},
    "tasks": {
        "hs_timestamp",
        "hs_task_subject",
        "hs_task_body",
        "hs_task_status",
        "hs_task_priority",
        "hs_task_type",
        "hubspot_owner_id",
    },
}
OPTIONS = {
    "hs_task_status": {"NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"},
    "hs_task_priority": {"NONE", "LOW", "MEDIUM", "HIGH"},
    "hs_task_type": {"CALL", "EMAIL", "TODO"},
}


def error(status: int, category: str, message: str, **extra: Any) -> Reply:
    """HubSpot's error body."""
    body = {
        "status": "error",
        "message": message,
        "correlationId": "0f6f7c4e-fake",
        "category": category,
    }
    return Reply(status, {**body, **extra})


class FakeHubSpot(FakeServer):
    """``with FakeHubSpot(token="pat-test") as hs: hs.add_deal(dealstage="qualifiedtobuy")``."""

    def __init__(self, token: str = "pat-na1-test-token", clock: Any = None) -> None:
        super().__init__(clock)
        self.token = token
        self.objects: dict[str, dict[str, dict[str, Any]]] = {
            "deals": {},
            "contacts": {},
            "notes": {},
            "tasks": {},
        }
        self.associations: dict[str, list[dict[str, Any]]] = {}
        self.owners = {"101", "102", "103"}
        self._ids = itertools.count(9001)
        self._limit: tuple[int, float, str, str | None] | None = None
        self._hits: list[Any] = []

    # -- fixtures ----------------------------------------------------------------------------
    def add_deal(self, **properties: Any) -> str:
        """A new deal with ``properties``; returns its id."""
        return self._add("deals", properties)

    def add_contact(self, **properties: Any) -> str:
        """A new contact with ``properties``; returns its id."""
        return self._add("contacts", properties)

    def _add(self, kind: str, properties: dict[str, Any]) -> str:
        with self.lock:
            ident = str(next(self._ids))
            self.objects[kind][ident] = {k: str(v) for k, v in properties.items()}
            return ident

    def rate_limit(
        self,
        calls: int,
        window: float = 10.0,
        policy: str = "TEN_SECONDLY_ROLLING",
        retry_after: str | None = None,
    ) -> None:
        """Allow ``calls`` API requests per ``window`` seconds of the clock, then answer 429."""
        with self.lock:
            self._limit = (calls, window, policy, retry_after)
            self._hits = []

    # -- routing -----------------------------------------------------------------------------
    def route(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at https://developers.hubspot.com",
            )
        throttled = self._throttle()
        if throttled is not None:
            return throttled
        reply = self._route(request)
        reply.headers.setdefault("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
        return reply

    def _throttle(self) -> Reply | None:
        if self._limit is None:
            return None
        calls, window, policy, retry_after = self._limit
        now = self.clock.now()
        self._hits = [t for t in self._hits if now - t < timedelta(seconds=window)]
        if len(self._hits) >= calls:
            kind = "daily" if policy == "DAILY" else "ten_secondly_rolling"
            reply = error(
                429, "RATE_LIMITS", f"You have reached your {kind} limit.", policyName=policy
            )
            reply.body["errorType"] = "RATE_LIMIT"
            if retry_after is not None:
                reply.headers["Retry-After"] = retry_after
            return reply
        self._hits.append(now)
        return None

    def _route(self, request: Request) -> Reply:
        parts = request.path.strip("/").split("/")
        if parts[:3] != ["crm", "v3", "objects"] or len(parts) < 4:
            return error(404, "OBJECT_NOT_FOUND", f"No route for {request.path}")
        kind = parts[3]
        if kind not in self.objects:
            return error(400, "VALIDATION_ERROR", f"Unable to infer object type from: {kind}")
        if request.method in ("POST", "PATCH"):
            if "application/json" not in request.headers.get("content-type", ""):
                return error(415, "VALIDATION_ERROR", "Unsupported Media Type")
            if invalid_json(request) or not isinstance(request.json, dict):
                return error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1")
        if len(parts) == 6 and parts[4] == "batch" and parts[5] == "update":
            return self._batch_update(kind, request.json)
        if len(parts) == 5 and request.method in ("GET", "PATCH"):
            ident = self._find(kind, parts[4], request.query.get("idProperty"))
            if ident is None:
                return error(
                    404,
                    "OBJECT_NOT_FOUND",
                    "resource not found",
                    context={"id": [parts[4]]},
                )
            if request.method == "GET":
                return Reply(200, self._public(kind, ident))
            return self._patch(kind, ident, request.json)
        if len(parts) == 4 and request.method == "POST" and kind in ("notes", "tasks"):
            return self._create_engagement(kind, request.json)
        return error(405, "VALIDATION_ERROR", f"{request.method} not allowed on {request.path}")

    def _find(self, kind: str, key: str, id_property: str | None) -> str | None:
        if id_property is None:
            return key if key in self.objects[kind] else None
        for ident, props in self.objects[kind].items():
            if props.get(id_property) == key:
                return ident
        return None

    def _public(self, kind: str, ident: str) -> dict[str, Any]:
        return {
            "id": ident,
            "properties": dict(self.objects[kind][ident]),
            "createdAt": "2026-01-05T09:00:00.000Z",
            "updatedAt": "2026-01-05T09:00:00.000Z",
            "archived": False,
        }

    def _invalid(self, kind: str, properties: Any) -> list[dict[str, Any]]:
        """HubSpot's per-property problems for a properties map."""
        if not isinstance(properties, dict):
            return [
                {
                    "isValid": False,
                    "message": "properties is required",
                    "error": "REQUIRED",
                    "name": "properties",
                }
            ]
        known = DEAL_PROPERTIES if kind == "deals" else CONTACT_PROPERTIES
        if kind in ENGAGEMENT_PROPERTIES:
            known = ENGAGEMENT_PROPERTIES[kind]
        allowed = {"dealstage": STAGES, "lifecyclestage": LIFECYCLE, **OPTIONS}
        problems = []
        for name, value in properties.items():
            if name not in known:
                problems.append(
                    {
                        "isValid": False,
                        "message": f'Property "{name}" does not exist',
                        "error": "PROPERTY_DOESNT_EXIST",
                        "name": name,
                    }
                )
            elif name in allowed and value not in allowed[name] and value != "":
                problems.append(
                    {
                        "isValid": False,
                        "error": "INVALID_OPTION",
                        "name": name,
                        "message": f"{value} was not one of the allowed options: "
                        f"{sorted(allowed[name])}",
                    }
                )
            elif name == "hubspot_owner_id" and value not in self.owners and value != "":
                problems.append(
                    {
                        "isValid": False,
                        "error": "INVALID_OWNER_ID",
                        "name": name,
                        "message": f"{value} is not a valid owner id",
                    }
                )
            elif not isinstance(value, str | int | float | bool) and value is not None:
                problems.append(
                    {
                        "isValid": False,
                        "error": "INVALID_TYPE",
                        "name": name,
                        "message": f"{value!r} is not a valid value",
                    }
                )
        return problems

    @staticmethod
    def _validation(problems: list[dict[str, Any]]) -> Reply:
        return error(
            400,
            "VALIDATION_ERROR",
            f"Property values were not valid: {json.dumps(problems)}",
            errors=[
                {"message": p["message"], "code": p["error"], "in": p["name"]} for p in problems
            ],
        )

    def _patch(self, kind: str, ident: str, body: dict[str, Any]) -> Reply:
        problems = self._invalid(kind, body.get("properties"))
        if problems:
            return self._validation(problems)
        for name, value in body["properties"].items():
            self.objects[kind][ident][name] = "" if value is None else str(value)
        return Reply(200, self._public(kind, ident))

    def _batch_update(self, kind: str, body: dict[str, Any]) -> Reply:
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            return error(400, "VALIDATION_ERROR", "inputs must be a non-empty array")
        if len(inputs) > 100:
            return error(400, "VALIDATION_ERROR", "Batch input cannot exceed 100 inputs")
        keys = [str(item.get("id")) for item in inputs]
        if len(set(keys)) != len(keys):
            return error(400, "VALIDATION_ERROR", f"Duplicate IDs found in batch input: {keys}")
        problems = [p for item in inputs for p in self._invalid(kind, item.get("properties"))]
        if problems:
            return self._validation(problems)
        results, missing = [], []
        for item in inputs:
            ident = self._find(kind, str(item["id"]), item.get("idProperty"))
            if ident is None:
                missing.append(str(item["id"]))
                continue
            self._patch(kind, ident, item)
            results.append(self._public(kind, ident))
        body = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": "2026-01-05T09:00:00.000Z",
            "completedAt": "2026-01-05T09:00:00.100Z",
        }
        if not missing:
            return Reply(200, body)
        body["numErrors"] = 1
        body["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {kind.upper()[:-1]} objects, they may be deleted "
                "or not exist. Check that ids are valid.",
                "context": {"ids": missing},
            }
        ]
        return Reply(207, body)

    def _create_engagement(self, kind: str, body: dict[str, Any]) -> Reply:
        props = body.get("properties")
        problems = self._invalid(kind, props)
        if not problems and "hs_timestamp" not in props:
            problems = [
                {
                    "isValid": False,
                    "error": "REQUIRED",
                    "name": "hs_timestamp",
                    "message": "hs_timestamp is required",
                }
            ]
        if problems:
            return self._validation(problems)
        links = []
        for assoc in body.get("associations", []):
            to = str(assoc.get("to", {}).get("id"))
            for t in assoc.get("types", []):
                target = ASSOCIATIONS.get((kind, t.get("associationTypeId")))
                if t.get("associationCategory") != "HUBSPOT_DEFINED" or target is None:
                    return error(400, "VALIDATION_ERROR", f"invalid association type {t}")
                if to not in self.objects[target]:
                    return error(
                        400,
                        "VALIDATION_ERROR",
                        f"One or more associations are invalid: {target} {to} does not exist",
                    )
                links.append({"to": target, "id": to, "type": t["associationTypeId"]})
        ident = self._add(kind, props)
        self.associations[ident] = links
        return Reply(201, self._public(kind, ident))
