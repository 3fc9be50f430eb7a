"""The HubSpot adapter: mirrors leads onto HubSpot deals (or contacts) through the CRM v3 API.

=====================================  ============================================================
event                                  what HubSpot gets
=====================================  ============================================================
``started``                            stage, owner and mapped fields (only when the lead already
                                       carries the record id; otherwise ignored)
``stage_changed`` / ``closed_*``       ``dealstage`` (``stages`` map) and mapped changed fields
``updated``                            mapped changed fields (ignored when none is mapped)
``assigned``                           ``hubspot_owner_id`` (``owners`` option)
``activity_recorded``                  a note (or task) associated with the record
``sla_*``                              a HIGH priority task associated with the record
=====================================  ============================================================

Property updates of one batch go out as one ``batch/update`` call (at most 100 inputs); a batch
that HubSpot refuses as a whole (400) is retried record by record so only the bad one fails.
See ``docs/crm-adapters.md`` for the options.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from leadflow.adapters._http import (
    Options,
    Redactor,
    build_client,
    ignored,
    is_sla_event,
    json_body,
    lead_value,
    mapped_changes,
    retry_after_seconds,
    seconds_to_midnight,
    send,
    sla_summary,
    transient_status,
)
from leadflow.adapters.base import (
    Adapter,
    AdapterConfigError,
    Delivery,
    Outcome,
    Result,
    SecretResolver,
)
from leadflow.engine import Clock, SystemClock

__all__ = ["HubSpotAdapter", "create"]

OBJECTS = ("deals", "contacts")
ASSOCIATION_TYPES = {
    ("notes", "deals"): 214,
    ("notes", "contacts"): 202,
    ("tasks", "deals"): 216,
    ("tasks", "contacts"): 204,
}
"""HubSpot-defined association type ids from an engagement to its record."""
_TASK_TYPES = {"call": "CALL", "email": "EMAIL"}


@dataclass(frozen=True, slots=True)
class _Write:
    """One planned call: a property update, or a note/task to create and associate."""

    index: int
    kind: str
    key: str
    id_property: str | None
    properties: dict[str, Any]
    engagement: str | None = None


class HubSpotAdapter:
    """Delivers leadflow events to HubSpot; build it with :func:`create`."""

    max_batch = 100

    def __init__(self, name: str, options: Mapping[str, Any], token: str, clock: Clock) -> None:
        opts = Options(name, options, _ALLOWED)
        self.name = name
        self.object = opts.choice("object", OBJECTS, "deals")
        self.id_field = opts.text("id_field", f"hubspot_{self.object[:-1]}_id")
        self.id_property = opts.optional_text("id_property")
        self.owners = opts.mapping("owners")
        self.stage_property = opts.optional_text("stage_property")
        self.pipeline = opts.optional_text("pipeline")
        self.activities = opts.choice("activities", ("notes", "tasks", "ignore"), "notes")
        self.sla = opts.choice("sla", ("tasks", "notes", "ignore"), "tasks")
        self.objects_path = "/" + opts.text("objects_path", "/crm/v3/objects").strip("/")
        self.daily_zone: ZoneInfo = opts.timezone("daily_reset_timezone", "UTC")
        self.clock = clock
        self.redact = Redactor([token])
        self.client = build_client(
            opts.url("base_url", "https://api.hubapi.com"),
            opts.number("connect_timeout", 5.0),
            opts.number("read_timeout", 30.0),
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )

    def close(self) -> None:
        """Release the connections."""
        self.client.close()

    # -- planning --------------------------------------------------------------------------
    def deliver(self, deliveries: Sequence[Delivery]) -> list[Result]:
        """Deliver ``deliveries`` (see the module docstring); one result each, in order."""
        results: list[Result | None] = [None] * len(deliveries)
        writes: list[_Write] = []
        for index, delivery in enumerate(deliveries):
            planned = self._plan(index, delivery)
            if isinstance(planned, Result):
                results[index] = planned
            else:
                writes.append(planned)
        updates = [w for w in writes if w.engagement is None]
        for chunk in _chunks(updates, self.max_batch):
            self._update(chunk, results)
        for write in writes:
            if write.engagement is not None:
                results[write.index] = self._throttled(results) or self._engage(write)
        return [r or Result.retry("not attempted") for r in results]

    def _plan(self, index: int, delivery: Delivery) -> _Write | Result:
        event, sub = delivery.event, delivery.subscription
        kind = sub.options.get("object", self.object)
        if kind not in OBJECTS:
            return Result.failed(
                f"subscription option object is {kind!r}; allowed: " + ", ".join(OBJECTS)
            )
        short = event.type.removeprefix("leadflow.lead.")
        props: dict[str, Any] = {}
        engagement = None
        if short in ("started", "stage_changed", "closed_won", "closed_lost"):
            stage = event.data.get("to_stage") or event.data.get("stage")
            if not isinstance(stage, str) or stage not in sub.stages:
                return Result.failed(
                    f"stage {stage!r} has no HubSpot {self._stage_property(kind)} in the "
                    "subscription's "
                    "stages (mapped: " + (", ".join(sorted(sub.stages)) or "none") + ")"
                )
            props[self._stage_property(kind)] = sub.stages[stage]
            if self.pipeline and kind == "deals":
                props["pipeline"] = self.pipeline
            if short == "started":
                id_field = sub.options.get("id_field", self.id_field)
                found, value = lead_value(event, id_field)
                if not (found and value):
                    return ignored(event, f"the lead has no {id_field} at start")
                owner = self._owner(event.data.get("owner"))
                if isinstance(owner, Result):
                    return owner
                if owner:
                    props["hubspot_owner_id"] = owner
        elif short == "assigned":
            if not self.owners:
                return ignored(event, f"adapters.{self.name}.owners is not configured")
            owner = self._owner(event.data.get("owner"))
            if isinstance(owner, Result):
                return owner
            props["hubspot_owner_id"] = owner or ""
        elif short == "activity_recorded" or is_sla_event(event):
            engagement = self.sla if is_sla_event(event) else self.activities
            if engagement == "ignore":
                return ignored(event, f"adapters.{self.name} is set to ignore these")
            built = self._engagement_properties(delivery, engagement)
            if isinstance(built, Result):
                return built
            props = built
        elif short != "updated":
            return ignored(event, "not an event this adapter acts on")
        if engagement is None:
            props.update({k: _value(v) for k, v in mapped_changes(event, sub.fields).items()})
            if not props:
                return ignored(event, "no mapped field changed")
        record = self._record(delivery)
        if isinstance(record, Result):
            return record
        return _Write(index, kind, record[0], record[1], props, engagement)

    def _stage_property(self, kind: str) -> str:
        if self.stage_property:
            return self.stage_property
        return "dealstage" if kind == "deals" else "lifecyclestage"

    def _record(self, delivery: Delivery) -> tuple[str, str | None] | Result:
        event, options = delivery.event, delivery.subscription.options
        id_field = str(options.get("id_field", self.id_field))
        id_property = options.get("id_property", self.id_property)
        found, value = lead_value(event, id_field)
        if found and value not in (None, ""):
            return str(value), None
        if id_property:
            return event.subject, str(id_property)
        return Result.failed(
            f"lead {event.subject} has no {id_field} in this event, so the HubSpot record "
            f"is unknown: set the field on the lead, or configure adapters.{self.name}.id_property "
            "(a unique HubSpot property holding leadflow lead ids)"
        )

    def _owner(self, owner: Any) -> str | Result | None:
        if owner is None or not self.owners:
            return None
        if owner not in self.owners:
            return Result.failed(
                f"owner {owner!r} has no HubSpot owner id in adapters.{self.name}.owners"
            )
        return self.owners[owner]

    def _engagement_properties(self, delivery: Delivery, kind: str) -> dict[str, Any] | Result:
        event = delivery.event
        stamp = event.time.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        sla = is_sla_event(event)
        activity = event.data.get("activity") or {}
        activity_type = str(activity.get("type", "activity"))
        summary = sla_summary(event) if sla else f"{activity_type} recorded on lead {event.subject}"
        details = "; ".join(f"{k}: {v}" for k, v in (activity.get("data") or {}).items())
        by = event.data.get("actor")
        body = summary + (f"\n{details}" if details else "") + (f"\nby {by}" if by else "")
        owner = self._owner(event.data.get("owner"))
        if isinstance(owner, Result):
            return owner
        props: dict[str, Any] = {"hs_timestamp": stamp}
        if kind == "notes":
            props["hs_note_body"] = body
        else:
            props.update(
                hs_task_subject=summary[:255],
                hs_task_body=body,
                hs_task_status="NOT_STARTED" if sla else "COMPLETED",
                hs_task_priority="HIGH" if sla else "NONE",
                hs_task_type="TODO" if sla else _TASK_TYPES.get(activity_type, "TODO"),
            )
        if owner:
            props["hubspot_owner_id"] = owner
        return props

    # -- calls -----------------------------------------------------------------------------
    def _update(self, chunk: list[_Write], results: list[Result | None]) -> None:
        throttled = self._throttled(results)
        if throttled is not None or len(chunk) == 1:
            for write in chunk:
                results[write.index] = throttled or self._patch(write)
            return
        kind = chunk[0].kind
        path = f"{self.objects_path}/{kind}/batch/update"
        inputs = []
        for write in chunk:
            item: dict[str, Any] = {"id": write.key, "properties": write.properties}
            if write.id_property:
                item["idProperty"] = write.id_property
            inputs.append(item)
        response = send(self.client, self.redact, "POST", path, json={"inputs": inputs})
        if isinstance(response, Result):
            for write in chunk:
                results[write.index] = response
            return
        status = response.status_code
        if status == 200:
            for write in chunk:
                results[write.index] = Result.delivered(f"HTTP 200 batch update of {kind}", status)
            return
        if status == 207:
            self._multi_status(chunk, response, path, results)
            return
        outcome = self._classify(response, f"POST {path}")
        if outcome.outcome is Outcome.FAILED and status != 401:
            for write in chunk:  # refused as a whole: find the bad one(s) record by record
                results[write.index] = self._throttled(results) or self._patch(write)
            return
        for write in chunk:
            results[write.index] = outcome

    def _multi_status(
        self, chunk: list[_Write], response: httpx.Response, path: str, results: list[Result | None]
    ) -> None:
        body = json_body(response)
        errors = body.get("errors", []) if isinstance(body, dict) else []
        blamed: dict[str, dict[str, Any]] = {}
        for err in errors if isinstance(errors, list) else []:
            context = err.get("context") or {} if isinstance(err, dict) else {}
            for key in context.get("ids", []) + context.get("objectWriteTraceId", []):
                blamed[str(key)] = err
        for write in chunk:
            err = blamed.get(write.key)
            if err is None:
                results[write.index] = Result.delivered("HTTP 207 batch update: this input ok", 207)
            else:
                detail = f"HTTP 207 {err.get('category', '')} from POST {path} for {write.key}: "
                retry = str(err.get("status", "")).startswith("5")
                detail += str(err.get("message", ""))
                if retry:
                    results[write.index] = Result.retry(self._clip(detail), status=207)
                else:
                    results[write.index] = Result.failed(self._clip(detail), 207)

    def _patch(self, write: _Write) -> Result:
        path = f"{self.objects_path}/{write.kind}/{write.key}"
        params = {"idProperty": write.id_property} if write.id_property else None
        response = send(
            self.client,
            self.redact,
            "PATCH",
            path,
            json={"properties": write.properties},
            params=params,
        )
        if isinstance(response, Result):
            return response
        if response.status_code == 200:
            return Result.delivered(f"HTTP 200 PATCH {path}", 200)
        return self._classify(response, f"PATCH {path}")

    def _engage(self, write: _Write) -> Result:
        assert write.engagement is not None
        record_id = write.key
        if write.id_property:
            path = f"{self.objects_path}/{write.kind}/{write.key}"
            params = {"idProperty": write.id_property, "properties": "hs_object_id"}
            found = send(self.client, self.redact, "GET", path, params=params)
            if isinstance(found, Result):
                return found
            if found.status_code != 200:
                return self._classify(found, f"GET {path}")
            record_id = str((json_body(found) or {}).get("id", ""))
        association = {
            "to": {"id": record_id},
            "types": [
                {
                    "associationCategory": "HUBSPOT_DEFINED",
                    "associationTypeId": ASSOCIATION_TYPES[(write.engagement, write.kind)],
                }
            ],
        }
        path = f"{self.objects_path}/{write.engagement}"
        body = {"properties": write.properties, "associations": [association]}
        response = send(self.client, self.redact, "POST", path, json=body)
        if isinstance(response, Result):
            return response
        if response.status_code in (200, 201):
            created = (json_body(response) or {}).get("id")
            return Result.delivered(
                f"HTTP {response.status_code} created {write.engagement[:-1]} {created} on "
                f"{write.kind[:-1]} {record_id}",
                response.status_code,
            )
        return self._classify(response, f"POST {path}")

    # -- outcomes --------------------------------------------------------------------------
    def _classify(self, response: httpx.Response, what: str) -> Result:
        """RETRY or FAILED for a non-2xx response, with HubSpot's category and message."""
        status = response.status_code
        body = json_body(response)
        body = body if isinstance(body, dict) else {}
        category = body.get("category") or body.get("errorType") or ""
        detail = f"HTTP {status} {category} from {what}".replace("  ", " ")
        message = body.get("message")
        if message:
            detail += f": {message}"
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            detail += " [" + "; ".join(_error_text(e) for e in errors[:5]) + "]"
        detail = self._clip(detail)
        if status == 429:
            policy = str(body.get("policyName") or "")
            wait = retry_after_seconds(response, self.clock.now())
            if wait is None:
                daily = policy == "DAILY"
                wait = seconds_to_midnight(self.clock.now(), self.daily_zone) if daily else 1.0
            return Result.retry(detail, wait, status)
        if transient_status(status):
            return Result.retry(detail, retry_after_seconds(response, self.clock.now()), status)
        if status == 401:
            detail += " (check the private app token or OAuth access token)"
        return Result.failed(detail, status)

    def _clip(self, text: str) -> str:
        text = self.redact(text)
        return text if len(text) <= 600 else text[:597] + "..."

    @staticmethod
    def _throttled(results: list[Result | None]) -> Result | None:
        """A RETRY carrying a throttling wait seen earlier in this batch (stop calling)."""
        for result in results:
            if result is not None and result.status == 429:
                return Result.retry(
                    "not attempted: throttled earlier in this batch", result.retry_after, 429
                )
        return None


def _chunks(writes: list[_Write], size: int) -> list[list[_Write]]:
    """Writes grouped by object type, at most ``size`` each; a record written twice goes in a
    later chunk than its earlier write, so each record's writes keep their order."""
    chunks: list[list[_Write]] = []
    for write in writes:
        after = max(
            (i + 1 for i, c in enumerate(chunks) if any(w.key == write.key for w in c)),
            default=0,
        )
        for chunk in chunks[after:]:
            if chunk[0].kind == write.kind and len(chunk) < size:
                chunk.append(write)
                break
        else:
            chunks.append([write])
    return chunks


def _value(value: Any) -> Any:
    """A lead value as HubSpot takes it: None clears, lists join with ``;``, bools in lower case."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, dict):
        return str(value)
    return value


def _error_text(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)
    where = f" in {error['in']}" if error.get("in") else ""
    return f"{error.get('code', '')}{where}: {error.get('message', '')}".strip()


_ALLOWED = (
    "token",
    "base_url",
    "objects_path",
    "connect_timeout",
    "read_timeout",
    "object",
    "id_field",
    "id_property",
    "owners",
    "stage_property",
    "pipeline",
    "activities",
    "sla",
    "daily_reset_timezone",
)


def create(
    name: str,
    options: Mapping[str, Any],
    resolve_secret: SecretResolver,
    clock: Clock | None = None,
) -> Adapter:
    """A :class:`HubSpotAdapter` from its deployment options (``token = "env:HUBSPOT_TOKEN"``);
    :class:`AdapterConfigError` names a missing or invalid option."""
    opts = Options(name, options, _ALLOWED)
    if "token" not in options:
        raise AdapterConfigError(
            f"adapters.{name}.token is required (a secret reference: env:NAME or file:PATH)"
        )
    token = opts.secret("token", resolve_secret)
    return HubSpotAdapter(name, options, token, clock or SystemClock())
