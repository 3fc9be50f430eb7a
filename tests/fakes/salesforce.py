"""A local Salesforce org (REST API v59.0 and the OAuth token endpoint).

OAuth client-credentials and refresh-token grants issue access tokens; ``expire_tokens()``
invalidates them so the next call answers 401 ``INVALID_SESSION_ID``. Leads, Opportunities and
Tasks with known fields, restricted picklists and required fields; upsert by external id (201
created, 200 or 204 updated, 300 when several records match); sObject Collections upsert with
per-record results (``statusCode``); Task lookups by external id; Platform Events (201 with
``OPERATION_ENQUEUED``); the API request limit as 403 ``REQUEST_LIMIT_EXCEEDED`` (never 429) and
``Sforce-Limit-Info`` on every response.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from ._server import FakeServer, Reply, Request, invalid_json

VERSION = "v59.0"
API = f"/services/data/{VERSION}"
OWNERS = {"005000000000001AAA", "005000000000002AAA"}
FIELDS = {
    "Lead": {
        "FirstName",
        "LastName",
        "Company",
        "Email",
        "Status",
        "OwnerId",
        "LeadSource",
        "Rating",
        "Leadflow_Id__c",
        "Score__c",
        "Lost_Reason__c",
    },
    "Opportunity": {
        "Name",
        "StageName",
        "CloseDate",
        "Amount",
        "OwnerId",
        "Leadflow_Id__c",
        "Loss_Reason__c",
    },
    "Task": {
        "Subject",
        "Description",
        "Status",
        "Priority",
        "ActivityDate",
        "TaskSubtype",
        "WhoId",
        "WhatId",
        "OwnerId",
        "Who",
        "What",
    },
}
EXTERNAL_IDS = {"Leadflow_Id__c"}
REQUIRED = {"Lead": ("LastName", "Company"), "Opportunity": ("Name", "StageName", "CloseDate")}
PICKLISTS = {
    ("Lead", "Status"): {
        "Open - Not Contacted",
        "Working - Contacted",
        "Closed - Converted",
        "Closed - Not Converted",
    },
    ("Opportunity", "StageName"): {
        "Prospecting",
        "Qualification",
        "Needs Analysis",
        "Proposal/Price Quote",
        "Closed Won",
        "Closed Lost",
    },
    ("Task", "Status"): {"Not Started", "In Progress", "Completed"},
    ("Task", "Priority"): {"High", "Normal", "Low"},
}
PREFIX = {"Lead": "00Q", "Opportunity": "006", "Task": "00T"}


def sf_error(status: int, code: str, message: str, fields: list[str] | None = None) -> Reply:
    """The REST API's error array."""
    return Reply(status, [{"message": message, "errorCode": code, "fields": fields or []}])


class FakeSalesforce(FakeServer):
    """``with FakeSalesforce() as sf: sf.add("Lead", LastName="Doe", Leadflow_Id__c="L-1")``."""

    def __init__(
        self,
        client_id: str = "3MVG9-fake-client",
        client_secret: str = "sf-client-secret-0123456789",
        refresh_token: str = "5Aep-fake-refresh-token",
        clock: Any = None,
    ) -> None:
        super().__init__(clock)
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.tokens: set[str] = set()
        self.records: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in FIELDS}
        self.events: list[dict[str, Any]] = []
        self.upsert_update_status = 200
        self.script_tokens = False
        """Whether fail_next/stall_next also apply to token requests."""
        self.api_limit = 15000
        self._ids = itertools.count(1)
        self._tokens = itertools.count(1)
        self._limit: int | None = None
        self._hits: list[Any] = []

    # -- fixtures and scripting ------------------------------------------------------------
    def add(self, sobject: str, **fields: Any) -> str:
        """A record of ``sobject`` with ``fields`` (no validation); returns its Id."""
        with self.lock:
            ident = f"{PREFIX[sobject]}{next(self._ids):012d}AAA"
            self.records[sobject][ident] = dict(fields)
            return ident

    def by_external_id(self, sobject: str, value: str) -> dict[str, Any] | None:
        """The one record whose Leadflow_Id__c is ``value``."""
        found = self._match(sobject, "Leadflow_Id__c", value)
        return self.records[sobject][found[0]] if len(found) == 1 else None

    def expire_tokens(self) -> None:
        """Invalidate every issued access token (the next API call answers 401)."""
        with self.lock:
            self.tokens.clear()

    def rate_limit(self, calls: int) -> None:
        """Allow ``calls`` API requests per rolling 24 h of the clock, then 403."""
        with self.lock:
            self._limit = calls
            self._hits = []

    def scripted(self, request: Request) -> bool:
        return self.script_tokens or not request.path.startswith("/services/oauth2/")

    # -- routing ---------------------------------------------------------------------------
    def route(self, request: Request) -> Reply:
        if request.path == "/services/oauth2/token":
            return self._token(request)
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if self._limit is not None:
            now = self.clock.now()
            self._hits = [t for t in self._hits if now - t < timedelta(hours=24)]
            if len(self._hits) >= self._limit:
                reply = sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
                reply.headers["Sforce-Limit-Info"] = f"api-usage={self._limit}/{self._limit}"
                return reply
            self._hits.append(now)
        reply = self._route(request)
        reply.headers.setdefault("Sforce-Limit-Info", f"api-usage={len(self._hits)}/15000")
        return reply

    def _token(self, request: Request) -> Reply:
        form = request.form
        grant = form.get("grant_type")
        if form.get("client_id") != self.client_id:
            return Reply(
                400,
                {"error": "invalid_client_id", "error_description": "client identifier invalid"},
            )
        if grant == "client_credentials":
            if form.get("client_secret") != self.client_secret:
                return Reply(
                    400,
                    {"error": "invalid_client", "error_description": "invalid client credentials"},
                )
        elif grant == "refresh_token":
            if form.get("refresh_token") != self.refresh_token:
                return Reply(
                    400,
                    {"error": "invalid_grant", "error_description": "expired access/refresh token"},
                )
        else:
            return Reply(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
            )
        token = f"00Dfake!AQ{next(self._tokens):04d}.token-value"
        self.tokens.add(token)
        return Reply(
            200,
            {
                "access_token": token,
                "instance_url": self.url,
                "token_type": "Bearer",
                "issued_at": "1767603600000",
                "signature": "c2lnbmF0dXJl",
            },
        )

    def _route(self, request: Request) -> Reply:
        if not request.path.startswith(API + "/"):
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if request.method in ("POST", "PATCH") and (
            invalid_json(request) or not isinstance(request.json, dict | list)
        ):
            return sf_error(400, "JSON_PARSER_ERROR", "Unexpected character at [line:1]")
        parts = request.path[len(API) + 1 :].strip("/").split("/")
        if parts[:2] == ["composite", "sobjects"] and len(parts) == 4 and request.method == "PATCH":
            return self._collection_upsert(parts[2], parts[3], request.json)
        if parts[0] != "sobjects" or len(parts) < 2:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        sobject = parts[1]
        if sobject.endswith("__e") and len(parts) == 2 and request.method == "POST":
            return self._publish(sobject, request.json)
        if sobject not in FIELDS:
            return sf_error(404, "NOT_FOUND", f"The requested resource does not exist: {sobject}")
        if len(parts) == 2 and request.method == "POST":
            return self._insert(sobject, request.json)
        if len(parts) == 4 and request.method == "PATCH":
            return self._upsert(sobject, parts[2], parts[3], request.json)
        if len(parts) == 3 and request.method == "PATCH":
            if parts[2] not in self.records[sobject]:
                return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
            problems = self._check(sobject, request.json)
            if problems:
                return problems
            self.records[sobject][parts[2]].update(request.json)
            return Reply(204)
        return sf_error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed")

    def _match(self, sobject: str, field: str, value: str) -> list[str]:
        return [i for i, r in self.records[sobject].items() if str(r.get(field)) == value]

    def _check(self, sobject: str, body: dict[str, Any], insert: bool = False) -> Reply | None:
        for name, value in body.items():
            if name == "attributes":
                continue
            if name not in FIELDS[sobject]:
                return sf_error(
                    400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}"
                )
            allowed = PICKLISTS.get((sobject, name))
            if allowed is not None and value not in allowed:
                return sf_error(
                    400,
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{name}: bad value for restricted picklist field: {value}",
                    [name],
                )
            if name == "OwnerId" and value not in OWNERS:
                return sf_error(
                    400, "INVALID_CROSS_REFERENCE_KEY", "Owner ID: owner cannot be blank", [name]
                )
        if insert:
            missing = [f for f in REQUIRED.get(sobject, ()) if not body.get(f)]
            if missing:
                return sf_error(
                    400,
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(missing)}]",
                    missing,
                )
        return None

    def _upsert_one(self, sobject: str, field: str, value: str, body: dict[str, Any]) -> Reply:
        if field not in EXTERNAL_IDS:
            return sf_error(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {field}",
            )
        found = self._match(sobject, field, value)
        if len(found) > 1:
            return Reply(300, [f"{API}/sobjects/{sobject}/{i}" for i in found])
        problems = self._check(sobject, body, insert=not found)
        if problems:
            return problems
        fields = {k: v for k, v in body.items() if k != "attributes"}
        if found:
            self.records[sobject][found[0]].update(fields)
            return Reply(200, {"id": found[0], "success": True, "errors": [], "created": False})
        ident = self.add(sobject, **fields, **{field: value})
        return Reply(201, {"id": ident, "success": True, "errors": [], "created": True})

    def _upsert(self, sobject: str, field: str, value: str, body: dict[str, Any]) -> Reply:
        if field in body:
            return sf_error(400, "INVALID_FIELD", f"{field} is in the URL; remove it from the body")
        reply = self._upsert_one(sobject, field, value, body)
        if reply.status == 200 and self.upsert_update_status == 204:
            return Reply(204)
        return reply

    def _collection_upsert(self, sobject: str, field: str, body: Any) -> Reply:
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list) or not records:
            return sf_error(400, "INVALID_FIELD", "records is required")
        if len(records) > 200:
            return sf_error(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        if body.get("allOrNone") is not False:
            return sf_error(400, "INVALID_FIELD", "this fake expects allOrNone=false")
        if sobject not in FIELDS:
            return sf_error(404, "NOT_FOUND", f"The requested resource does not exist: {sobject}")
        results = []
        for record in records:
            if record.get("attributes", {}).get("type") != sobject:
                results.append(self._result(sf_error(400, "INVALID_TYPE", "wrong attributes.type")))
                continue
            value = record.get(field)
            fields = {k: v for k, v in record.items() if k != field}
            results.append(self._result(self._upsert_one(sobject, field, str(value), fields)))
        return Reply(200, results)

    @staticmethod
    def _result(reply: Reply) -> dict[str, Any]:
        if reply.status in (200, 201):
            return dict(reply.body)
        if reply.status == 300:
            errors = [
                {
                    "statusCode": "DUPLICATE_EXTERNAL_ID",
                    "message": "Duplicate external id specified",
                    "fields": [],
                }
            ]
        else:
            errors = [
                {"statusCode": e["errorCode"], "message": e["message"], "fields": e["fields"]}
                for e in reply.body
            ]
        return {"id": None, "success": False, "errors": errors}

    def _insert(self, sobject: str, body: dict[str, Any]) -> Reply:
        problems = self._check(sobject, body, insert=True)
        if problems:
            return problems
        fields = dict(body)
        for rel, target in (("Who", "WhoId"), ("What", "WhatId")):
            ref = fields.pop(rel, None)
            if ref is None:
                continue
            kind = ref.get("attributes", {}).get("type")
            [(ext_field, value)] = [(k, v) for k, v in ref.items() if k != "attributes"]
            found = self._match(kind, ext_field, str(value)) if kind in FIELDS else []
            if len(found) != 1:
                return sf_error(
                    400,
                    "INVALID_FIELD",
                    f"Foreign key external ID: {value} not "
                    f"found for field {ext_field} in entity {kind}",
                )
            fields[target] = found[0]
        ident = self.add(sobject, **fields)
        return Reply(201, {"id": ident, "success": True, "errors": []})

    def _publish(self, name: str, body: dict[str, Any]) -> Reply:
        if name != "Leadflow_Event__e":
            return sf_error(404, "NOT_FOUND", f"The requested resource does not exist: {name}")
        known = {"Event_Id__c", "Event_Type__c", "Lead_Id__c", "Payload__c"}
        unknown = sorted(set(body) - known)
        if unknown:
            return sf_error(
                400, "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type {name}"
            )
        self.events.append(dict(body))
        return Reply(
            201,
            {
                "id": "e00xx0000000001AAA",
                "success": True,
                "errors": [
                    {
                        "statusCode": "OPERATION_ENQUEUED",
                        "message": "6a1c1f5e-fake-uuid",
                        "fields": [],
                    }
                ],
            },
        )
