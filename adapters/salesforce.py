"""The Salesforce adapter: upserts leads into Salesforce Leads (or Opportunities) by external id.

=====================================  ============================================================
event                                  what Salesforce gets
=====================================  ============================================================
``started``                            upsert: the stage field, owner and mapped fields (creates
                                       the record when the external id is new)
``stage_changed`` / ``closed_*``       upsert: the stage field (``stages`` map), mapped changes
``updated``                            upsert: mapped changed fields (ignored when none is mapped)
``assigned``                           upsert: ``OwnerId`` (``owners`` option)
``activity_recorded``                  a completed Task linked to the record by its external id
``sla_*``                              an open High priority Task linked the same way
every event (``platform_event`` set)   a Platform Event carrying the CloudEvents envelope
=====================================  ============================================================

Upserts of one batch go out as one sObject Collections call (``PATCH
/composite/sobjects/{object}/{field}``, ``allOrNone: false``, at most 200 records) with a result
per record. The access token comes from the OAuth token URL (client credentials or refresh
token); a 401 ``INVALID_SESSION_ID`` refreshes it once and repeats the call.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from leadflow.adapters._http import (
    Options,
    Redactor,
    build_client,
    ignored,
    is_sla_event,
    json_body,
    mapped_changes,
    retry_after_seconds,
    send,
    sla_summary,
    transient_status,
)
from leadflow.adapters.base import Adapter, Delivery, Outcome, Result, SecretResolver
from leadflow.engine import Clock, SystemClock

__all__ = ["SalesforceAdapter", "create"]

OBJECTS = ("Lead", "Opportunity")
STAGE_FIELDS = {"Lead": "Status", "Opportunity": "StageName"}
_RETRY_CODES = {"REQUEST_LIMIT_EXCEEDED", "UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"}
_ALLOWED = (
    "auth",
    "token_url",
    "client_id",
    "client_secret",
    "refresh_token",
    "instance_url",
    "api_version",
    "object",
    "external_id_field",
    "stage_field",
    "owners",
    "activities",
    "sla",
    "platform_event",
    "request_limit_backoff",
    "connect_timeout",
    "read_timeout",
)


@dataclass(frozen=True, slots=True)
class _Upsert:
    index: int
    key: str
    fields: dict[str, Any]


class SalesforceAdapter:
    """Delivers leadflow events to Salesforce; build it with :func:`create`."""

    max_batch = 200

    def __init__(
        self, name: str, options: Mapping[str, Any], resolve: SecretResolver, clock: Clock
    ) -> None:
        opts = Options(name, options, _ALLOWED)
        self.name = name
        self.clock = clock
        self.auth = opts.choice(
            "auth", ("client_credentials", "refresh_token"), "client_credentials"
        )
        self.token_url = opts.url("token_url", "https://login.salesforce.com/services/oauth2/token")
        self.client_id = opts.text("client_id")
        self.client_secret = (
            opts.secret("client_secret", resolve)
            if ("client_secret" in options or self.auth == "client_credentials")
            else None
        )
        self.refresh_token = (
            opts.secret("refresh_token", resolve) if self.auth == "refresh_token" else None
        )
        self.instance_url = (
            opts.url("instance_url", "https://x") if "instance_url" in options else None
        )
        self.api_version = opts.text("api_version", "59.0").removeprefix("v")
        self.object = opts.choice("object", OBJECTS, "Lead")
        self.external_id_field = opts.text("external_id_field", "Leadflow_Id__c")
        self.stage_field = opts.text("stage_field", STAGE_FIELDS[self.object])
        self.owners = opts.mapping("owners")
        self.activities = opts.choice("activities", ("task", "ignore"), "task")
        self.sla = opts.choice("sla", ("task", "ignore"), "task")
        self.platform_event = opts.optional_text("platform_event")
        self.limit_backoff = opts.number("request_limit_backoff", 60.0)
        self.redact = Redactor([self.client_secret or "", self.refresh_token or ""])
        self.client = build_client(
            "", opts.number("connect_timeout", 5.0), opts.number("read_timeout", 30.0)
        )
        self._lock = threading.Lock()
        self._token: str | None = None
        self._base: str | None = None

    def close(self) -> None:
        """Release the connections."""
        self.client.close()

    # -- planning --------------------------------------------------------------------------
    def deliver(self, deliveries: Sequence[Delivery]) -> list[Result]:
        """Deliver ``deliveries`` (see the module docstring); one result each, in order."""
        results: list[Result | None] = [None] * len(deliveries)
        upserts: list[_Upsert] = []
        tasks: list[tuple[int, dict[str, Any]]] = []
        for index, delivery in enumerate(deliveries):
            planned = self._plan(delivery)
            if isinstance(planned, Result):
                results[index] = planned
            elif planned[0] == "upsert":
                upserts.append(_Upsert(index, delivery.event.subject, planned[1]))
            else:
                tasks.append((index, planned[1]))
        for chunk in _chunks(upserts, self.max_batch):
            self._upsert(chunk, results)
        for index, task in tasks:
            results[index] = self._stopped(results) or self._post("Task", task, "created Task")
        if self.platform_event:
            for index, delivery in enumerate(deliveries):
                result = results[index]
                if result is None or result.outcome is Outcome.DELIVERED:
                    results[index] = self._stopped(results) or self._publish(delivery, result)
        return [r or Result.retry("not attempted") for r in results]

    def _plan(self, delivery: Delivery) -> tuple[str, dict[str, Any]] | Result:
        event, sub = delivery.event, delivery.subscription
        short = event.type.removeprefix("leadflow.lead.")
        fields: dict[str, Any] = {}
        if short in ("started", "stage_changed", "closed_won", "closed_lost"):
            stage = event.data.get("to_stage") or event.data.get("stage")
            if not isinstance(stage, str) or stage not in sub.stages:
                return Result.failed(
                    f"stage {stage!r} has no Salesforce {self.stage_field} value in the "
                    "subscription's stages (mapped: "
                    + (", ".join(sorted(sub.stages)) or "none")
                    + ")"
                )
            fields[self.stage_field] = sub.stages[stage]
            if short == "started" and self.owners and event.data.get("owner"):
                owner = self._owner(event.data["owner"])
                if isinstance(owner, Result):
                    return owner
                fields["OwnerId"] = owner
        elif short == "assigned":
            if not self.owners:
                return self._ignored(delivery, f"adapters.{self.name}.owners is not configured")
            owner = self._owner(event.data.get("owner"))
            if isinstance(owner, Result):
                return owner
            fields["OwnerId"] = owner
        elif short == "activity_recorded" or is_sla_event(event):
            sla = is_sla_event(event)
            if (self.sla if sla else self.activities) == "ignore":
                return self._ignored(delivery, f"adapters.{self.name} is set to ignore these")
            return "task", self._task(delivery, sla)
        elif short != "updated":
            return self._ignored(delivery, "not an event this adapter acts on")
        fields.update(mapped_changes(event, sub.fields))
        if not fields:
            return self._ignored(delivery, "no mapped field changed")
        return "upsert", fields

    def _ignored(self, delivery: Delivery, why: str) -> Result:
        return ignored(delivery.event, why)

    def _owner(self, owner: Any) -> str | Result:
        if owner is None:
            return Result.failed("the lead has no owner; Salesforce records always have one")
        if owner not in self.owners:
            return Result.failed(
                f"owner {owner!r} has no Salesforce user id in adapters.{self.name}.owners"
            )
        return self.owners[owner]

    def _task(self, delivery: Delivery, sla: bool) -> dict[str, Any]:
        event = delivery.event
        activity = event.data.get("activity") or {}
        kind = str(activity.get("type", "activity"))
        subject = sla_summary(event) if sla else f"{kind} recorded on lead {event.subject}"
        details = "; ".join(f"{k}: {v}" for k, v in (activity.get("data") or {}).items())
        task: dict[str, Any] = {
            "Subject": subject[:255],
            "Description": "\n".join(p for p in (details, f"by {event.data.get('actor')}") if p),
            "Status": "Not Started" if sla else "Completed",
            "Priority": "High" if sla else "Normal",
            "ActivityDate": event.time.date().isoformat(),
            "Who" if self.object == "Lead" else "What": {
                "attributes": {"type": self.object},
                self.external_id_field: event.subject,
            },
        }
        if kind in ("call", "email") and not sla:
            task["TaskSubtype"] = kind.capitalize()
        owner = event.data.get("owner")
        if owner in self.owners:
            task["OwnerId"] = self.owners[owner]
        return task

    # -- calls -----------------------------------------------------------------------------
    def _api(self, path: str) -> str:
        return f"{self._base}/services/data/v{self.api_version}{path}"

    def _session(self, stale: str | None = None) -> str | Result:
        """The access token: fetched on first use, refreshed when ``stale`` was refused."""
        with self._lock:
            if self._token is not None and self._token != stale:
                return self._token
            form = {"grant_type": self.auth, "client_id": self.client_id}
            if self.client_secret:
                form["client_secret"] = self.client_secret
            if self.refresh_token:
                form["refresh_token"] = self.refresh_token
            response = send(self.client, self.redact, "POST", self.token_url, data=form)
            if isinstance(response, Result):
                return response
            body = json_body(response)
            body = body if isinstance(body, dict) else {}
            if response.status_code != 200 or "access_token" not in body:
                detail = self.redact(
                    f"HTTP {response.status_code} from the token URL {self.token_url}: "
                    f"{body.get('error', '')}: {body.get('error_description', '')}"
                )
                if transient_status(response.status_code):
                    return Result.retry(detail, status=response.status_code)
                return Result.failed(
                    detail + " (check client_id and the secrets)", response.status_code
                )
            self._token = str(body["access_token"])
            self.redact.add(self._token)
            self._base = (self.instance_url or str(body.get("instance_url", ""))).rstrip("/")
            return self._token

    def _call(self, method: str, path: str, body: Any) -> httpx.Response | Result:
        """One API call with a fresh token; refreshes once on 401 ``INVALID_SESSION_ID``."""
        token = self._session()
        for attempt in (1, 2):
            if isinstance(token, Result):
                return token
            headers = {"Authorization": f"Bearer {token}"}
            response = send(
                self.client, self.redact, method, self._api(path), json=body, headers=headers
            )
            if isinstance(response, Result) or response.status_code != 401 or attempt == 2:
                return response
            token = self._session(stale=token)
        raise AssertionError("unreachable")  # pragma: no cover

    def _upsert(self, chunk: list[_Upsert], results: list[Result | None]) -> None:
        stopped = self._stopped(results)
        if stopped is not None:
            for item in chunk:
                results[item.index] = stopped
            return
        field = self.external_id_field
        if len(chunk) == 1:
            [item] = chunk
            path = f"/sobjects/{self.object}/{field}/{item.key}"
            response = self._call("PATCH", path, item.fields)
            if isinstance(response, Result):
                results[item.index] = response
            elif response.status_code in (200, 201, 204):
                created = response.status_code == 201
                results[item.index] = Result.delivered(
                    f"HTTP {response.status_code} {'created' if created else 'updated'} "
                    f"{self.object} {field}={item.key}",
                    response.status_code,
                )
            else:
                results[item.index] = self._classify(response, f"PATCH {path}")
            return
        path = f"/composite/sobjects/{self.object}/{field}"
        records = [
            {"attributes": {"type": self.object}, field: item.key, **item.fields} for item in chunk
        ]
        response = self._call("PATCH", path, {"allOrNone": False, "records": records})
        if isinstance(response, Result) or response.status_code != 200:
            outcome = response if isinstance(response, Result) else self._classify(response, path)
            for item in chunk:
                results[item.index] = outcome
            return
        body = json_body(response)
        rows = body if isinstance(body, list) and len(body) == len(chunk) else None
        for n, item in enumerate(chunk):
            row = rows[n] if rows is not None else None
            if not isinstance(row, dict):
                results[item.index] = Result.retry(f"HTTP 200 from PATCH {path} without a result")
            elif row.get("success"):
                verb = "created" if row.get("created") else "updated"
                results[item.index] = Result.delivered(
                    f"HTTP 200 {verb} {self.object} {field}={item.key}", 200
                )
            else:
                results[item.index] = self._record_error(row.get("errors"), item.key, path)

    def _post(self, sobject: str, body: dict[str, Any], done: str) -> Result:
        path = f"/sobjects/{sobject}"
        response = self._call("POST", path, body)
        if isinstance(response, Result):
            return response
        if response.status_code in (200, 201):
            ident = (json_body(response) or {}).get("id")
            return Result.delivered(f"HTTP {response.status_code} {done} {ident}", 201)
        return self._classify(response, f"POST {path}")

    def _publish(self, delivery: Delivery, before: Result | None) -> Result:
        assert self.platform_event is not None
        event = delivery.event
        body = {
            "Event_Id__c": event.id,
            "Event_Type__c": event.type,
            "Lead_Id__c": event.subject,
            "Payload__c": event.raw,
        }
        published = self._post(self.platform_event, body, f"published {self.platform_event}")
        if before is None or published.outcome is not Outcome.DELIVERED:
            return published
        if before.detail.startswith("ignored:"):
            return published
        return Result.delivered(f"{before.detail}; {published.detail}".strip("; "), before.status)

    # -- outcomes --------------------------------------------------------------------------
    def _classify(self, response: httpx.Response, what: str) -> Result:
        status = response.status_code
        body = json_body(response)
        first = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}
        code = str(first.get("errorCode", ""))
        detail = self.redact(f"HTTP {status} {code} from {what}: {first.get('message', '')}")
        if status == 300:
            return Result.failed(
                f"HTTP 300 from {what}: the external id matches several records", status
            )
        if status == 401:
            return Result.failed(detail + " (again after a token refresh)", status)
        if code in _RETRY_CODES:
            limits = response.headers.get("sforce-limit-info")
            wait = self.limit_backoff if code == "REQUEST_LIMIT_EXCEEDED" else None
            return Result.retry(detail + (f" ({limits})" if limits else ""), wait, status)
        if transient_status(status):
            return Result.retry(detail, retry_after_seconds(response, self.clock.now()), status)
        return Result.failed(detail, status)

    def _record_error(self, errors: Any, key: str, what: str) -> Result:
        first = errors[0] if isinstance(errors, list) and errors else {}
        code = str(first.get("statusCode", "")) if isinstance(first, dict) else ""
        message = first.get("message", "") if isinstance(first, dict) else ""
        detail = self.redact(
            f"{code} for {self.external_id_field}={key} in PATCH {what}: {message}"
        )
        if code in _RETRY_CODES:
            wait = self.limit_backoff if code == "REQUEST_LIMIT_EXCEEDED" else None
            return Result.retry(detail, wait, 200)
        return Result.failed(detail, 200)

    @staticmethod
    def _stopped(results: list[Result | None]) -> Result | None:
        """A result that makes further calls in this batch pointless (throttled, auth)."""
        for result in results:
            if result is None:
                continue
            if result.retry_after is not None:
                return Result.retry(
                    "not attempted: throttled earlier in this batch",
                    result.retry_after,
                    result.status,
                )
            if "token URL" in result.detail or result.status == 401:
                return Result(
                    result.outcome, "not attempted: " + result.detail, None, result.status
                )
        return None


def _chunks(items: list[_Upsert], size: int) -> list[list[_Upsert]]:
    """At most ``size`` each; a record written twice goes in a later chunk (order kept)."""
    chunks: list[list[_Upsert]] = []
    for item in items:
        after = max(
            (i + 1 for i, c in enumerate(chunks) if any(u.key == item.key for u in c)), default=0
        )
        for chunk in chunks[after:]:
            if len(chunk) < size:
                chunk.append(item)
                break
        else:
            chunks.append([item])
    return chunks


def create(
    name: str,
    options: Mapping[str, Any],
    resolve_secret: SecretResolver,
    clock: Clock | None = None,
) -> Adapter:
    """A :class:`SalesforceAdapter` from its deployment options (``client_id``,
    ``client_secret = "env:SF_SECRET"``, ...); :class:`AdapterConfigError` names a bad option.
    No call is made until the first delivery."""
    return SalesforceAdapter(name, options, resolve_secret, clock or SystemClock())
