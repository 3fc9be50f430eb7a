"""The Pipedrive adapter: mirrors leads onto Pipedrive deals (API v2).

=====================================  ============================================================
event                                  what Pipedrive gets (``PATCH /api/v2/deals/{id}``)
=====================================  ============================================================
``started``                            ``stage_id``, ``owner_id`` and mapped fields (only when the
                                       lead already carries the deal id; otherwise ignored)
``stage_changed``                      ``stage_id`` (``stages`` map), ``status: open``, mapped
                                       fields
``closed_won``                         ``status: won`` (and ``stage_id`` when the stage is mapped)
``closed_lost``                        ``status: lost``, ``lost_reason`` (lead field
                                       ``lost_reason_field``), ``stage_id`` when mapped
``updated``                            mapped changed fields (ignored when none is mapped)
``assigned``                           ``owner_id`` (``owners`` option)
``activity_recorded``                  ``POST /api/v2/activities``: a done activity on the deal
``sla_*``                              an open ``task`` activity on the deal
=====================================  ============================================================

Pipedrive has no batch update for deals: ``max_batch`` is 1. Mapped fields that are not standard
deal fields go into ``custom_fields`` (their 40-character keys). A 429 waits ``Retry-After`` or
``x-ratelimit-reset`` seconds; an exhausted daily budget waits until midnight UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from leadflow.adapters.base import Adapter, AdapterConfigError, Delivery, Result, SecretResolver
from leadflow.engine import Clock, SystemClock

__all__ = ["PipedriveAdapter", "create"]

DEAL_FIELDS = frozenset(
    {
        "title",
        "value",
        "currency",
        "probability",
        "expected_close_date",
        "label_ids",
        "visible_to",
        "pipeline_id",
        "person_id",
        "org_id",
    }
)
"""Standard deal fields a subscription may map lead fields to; anything else is a custom field."""
_ALLOWED = (
    "api_token",
    "oauth_token",
    "token_in_query",
    "base_url",
    "connect_timeout",
    "read_timeout",
    "id_field",
    "deal_id_from",
    "owners",
    "lost_reason_field",
    "activity_types",
    "activities",
    "sla",
    "daily_reset_timezone",
)


class PipedriveAdapter:
    """Delivers leadflow events to Pipedrive; build it with :func:`create`."""

    max_batch = 1

    def __init__(
        self, name: str, options: Mapping[str, Any], resolve: SecretResolver, clock: Clock
    ) -> None:
        opts = Options(name, options, _ALLOWED)
        if ("api_token" in options) == ("oauth_token" in options):
            raise AdapterConfigError(
                f"adapters.{name}: set exactly one of api_token or oauth_token "
                "(a secret reference: env:NAME or file:PATH)"
            )
        self.name = name
        self.clock = clock
        self.id_field = opts.text("id_field", "pipedrive_deal_id")
        self.deal_id_from = opts.choice("deal_id_from", ("field", "lead_id"), "field")
        self.owners = opts.mapping("owners")
        self.lost_reason_field = opts.text("lost_reason_field", "lost_reason")
        self.activity_types = opts.mapping("activity_types")
        self.activities = opts.choice("activities", ("create", "ignore"), "create")
        self.sla = opts.choice("sla", ("create", "ignore"), "create")
        self.daily_zone: ZoneInfo = opts.timezone("daily_reset_timezone", "UTC")
        headers: dict[str, str] = {}
        self.params: dict[str, str] = {}
        if "api_token" in options:
            token = opts.secret("api_token", resolve)
            if opts.boolean("token_in_query", False):
                self.params["api_token"] = token
            else:
                headers["x-api-token"] = token
        else:
            token = opts.secret("oauth_token", resolve)
            headers["Authorization"] = f"Bearer {token}"
        self.redact = Redactor([token])
        self.client = build_client(
            opts.url("base_url", "https://api.pipedrive.com"),
            opts.number("connect_timeout", 5.0),
            opts.number("read_timeout", 30.0),
            headers,
        )

    def close(self) -> None:
        """Release the connections."""
        self.client.close()

    def deliver(self, deliveries: Sequence[Delivery]) -> list[Result]:
        """Deliver ``deliveries`` one by one (see the module docstring)."""
        results: list[Result] = []
        for delivery in deliveries:
            throttled = next((r for r in results if r.retry_after is not None), None)
            if throttled is not None:
                results.append(
                    Result.retry(
                        "not attempted: throttled earlier in this batch",
                        throttled.retry_after,
                        throttled.status,
                    )
                )
            else:
                results.append(self._deliver(delivery))
        return results

    def _deliver(self, delivery: Delivery) -> Result:
        event = delivery.event
        short = event.type.removeprefix("leadflow.lead.")
        if short == "activity_recorded" or is_sla_event(event):
            return self._deliver_activity(delivery)
        body = self._deal_body(delivery, short)
        if isinstance(body, Result):
            return body
        for key, value in mapped_changes(event, delivery.subscription.fields).items():
            if key in DEAL_FIELDS:
                body[key] = value
            else:
                body.setdefault("custom_fields", {})[key] = value
        if not body:
            return ignored(event, "no mapped field changed")
        return self._patch_deal(delivery, body)

    def _deliver_activity(self, delivery: Delivery) -> Result:
        """An activity or SLA event: a done activity or an open task on the deal, or ignored."""
        event = delivery.event
        sla = is_sla_event(event)
        if (self.sla if sla else self.activities) == "ignore":
            return ignored(event, f"adapters.{self.name} is set to ignore these")
        deal = self._deal_id(delivery)
        if isinstance(deal, Result):
            return deal
        return self._activity(delivery, deal, sla)

    def _deal_body(self, delivery: Delivery, short: str) -> dict[str, Any] | Result:
        """The deal fields the event sets (mapped ones aside), or the Result that ends delivery."""
        event = delivery.event
        body: dict[str, Any] = {}
        if short in ("started", "stage_changed", "closed_won", "closed_lost"):
            refused = self._lifecycle_fields(delivery, short, body)
            if refused is not None:
                return refused
        elif short == "assigned":
            if not self.owners:
                return ignored(event, f"adapters.{self.name}.owners is not configured")
            owner = self._owner(event.data.get("owner"))
            if isinstance(owner, Result):
                return owner
            body["owner_id"] = owner
        elif short != "updated":
            return ignored(event, "not an event this adapter acts on")
        return body

    def _lifecycle_fields(
        self, delivery: Delivery, short: str, body: dict[str, Any]
    ) -> Result | None:
        """Fill ``body`` for a stage event (stage_id, status, owner); a Result stops delivery."""
        event, sub = delivery.event, delivery.subscription
        stage = event.data.get("to_stage") or event.data.get("stage")
        if isinstance(stage, str) and stage in sub.stages:
            stage_id = _integer(sub.stages[stage])
            if stage_id is None:
                return Result.failed(
                    f"stage {stage!r} maps to {sub.stages[stage]!r}, which is not a "
                    "Pipedrive stage_id (an integer)"
                )
            body["stage_id"] = stage_id
        elif short in ("started", "stage_changed"):
            return Result.failed(
                f"stage {stage!r} has no Pipedrive stage_id in the subscription's stages "
                "(mapped: " + (", ".join(sorted(sub.stages)) or "none") + ")"
            )
        if short == "stage_changed":
            body["status"] = "open"
        elif short == "closed_won":
            body["status"] = "won"
        elif short == "closed_lost":
            body["status"] = "lost"
            found, reason = lead_value(event, self.lost_reason_field)
            if found and reason:
                body["lost_reason"] = str(reason)[:255]
        if short == "started":
            if not self._known_deal(delivery):
                return ignored(event, f"the lead has no {self.id_field} at start")
            owner = self._owner(event.data.get("owner")) if self.owners else None
            if isinstance(owner, Result):
                return owner
            if owner is not None:
                body["owner_id"] = owner
        return None

    def _patch_deal(self, delivery: Delivery, body: dict[str, Any]) -> Result:
        """PATCH ``body`` onto the lead's deal and classify the answer."""
        deal = self._deal_id(delivery)
        if isinstance(deal, Result):
            return deal
        path = f"/api/v2/deals/{deal}"
        response = send(
            self.client, self.redact, "PATCH", path, json=body, params=self.params or None
        )
        if isinstance(response, Result):
            return response
        if response.status_code == 200:
            return Result.delivered(f"HTTP 200 PATCH {path}", 200)
        return self._classify(response, f"PATCH {path}")

    def _known_deal(self, delivery: Delivery) -> bool:
        found, value = lead_value(delivery.event, self.id_field)
        return self.deal_id_from == "lead_id" or (found and value not in (None, ""))

    def _deal_id(self, delivery: Delivery) -> int | Result:
        event = delivery.event
        if self.deal_id_from == "lead_id":
            value: Any = event.subject
            where = "the lead id"
        else:
            found, value = lead_value(event, self.id_field)
            where = self.id_field
            if not found or value in (None, ""):
                return Result.failed(
                    f"lead {event.subject} has no {self.id_field} in this event, so the "
                    f"Pipedrive deal is unknown: set the field on the lead, or set "
                    f'adapters.{self.name}.deal_id_from = "lead_id" when lead ids are deal ids'
                )
        deal = _integer(value)
        if deal is None:
            return Result.failed(f"{where} {value!r} is not a Pipedrive deal id (an integer)")
        return deal

    def _owner(self, owner: Any) -> int | Result:
        mapped = self.owners.get(owner) if isinstance(owner, str) else None
        user = _integer(mapped) if mapped is not None else None
        if user is None:
            return Result.failed(
                f"owner {owner!r} has no Pipedrive user id (an integer) in "
                f"adapters.{self.name}.owners"
            )
        return user

    def _activity(self, delivery: Delivery, deal: int, sla: bool) -> Result:
        event = delivery.event
        activity = event.data.get("activity") or {}
        kind = str(activity.get("type", "activity"))
        when = event.time.astimezone(UTC)
        details = "; ".join(f"{k}: {v}" for k, v in (activity.get("data") or {}).items())
        body: dict[str, Any] = {
            "subject": (sla_summary(event) if sla else f"{kind} recorded on lead {event.subject}")[
                :255
            ],
            "type": "task"
            if sla
            else self.activity_types.get(kind, _DEFAULT_TYPES.get(kind, "task")),
            "deal_id": deal,
            "done": not sla,
            "due_date": when.date().isoformat(),
            "due_time": when.strftime("%H:%M"),
        }
        note = "\n".join(p for p in (details, f"by {event.data.get('actor')}") if p)
        if note:
            body["note"] = note
        owner = event.data.get("owner")
        if owner in self.owners and _integer(self.owners[owner]) is not None:
            body["owner_id"] = _integer(self.owners[owner])
        path = "/api/v2/activities"
        response = send(
            self.client, self.redact, "POST", path, json=body, params=self.params or None
        )
        if isinstance(response, Result):
            return response
        if response.status_code in (200, 201):
            data = (json_body(response) or {}).get("data") or {}
            return Result.delivered(
                f"HTTP {response.status_code} created activity {data.get('id')} on deal {deal}",
                response.status_code,
            )
        return self._classify(response, f"POST {path}")

    def _classify(self, response: httpx.Response, what: str) -> Result:
        status = response.status_code
        body = json_body(response)
        body = body if isinstance(body, dict) else {}
        detail = f"HTTP {status} from {what}: {body.get('error', '')}"
        if body.get("error_info") and status not in (401, 429):
            detail += f" ({body['error_info']})"
        detail = self.redact(detail)[:600]
        if status == 429:
            headers = response.headers
            daily = "0" in (
                headers.get("x-daily-requests-left"),
                headers.get("x-daily-ratelimit-token-remaining"),
            )
            if daily:
                midnight = seconds_to_midnight(self.clock.now(), self.daily_zone)
                return Result.retry(detail + " (daily budget used up)", midnight, status)
            wait = retry_after_seconds(response, self.clock.now())
            if wait is None:
                reset = _integer(headers.get("x-ratelimit-reset"))
                wait = float(reset) if reset is not None else 2.0
            return Result.retry(detail, wait, status)
        if transient_status(status):
            return Result.retry(detail, retry_after_seconds(response, self.clock.now()), status)
        if status == 401:
            detail += " (check the API token or OAuth token)"
        return Result.failed(detail, status)


_DEFAULT_TYPES = {"call": "call", "email": "email", "meeting": "meeting"}


def _integer(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def create(
    name: str,
    options: Mapping[str, Any],
    resolve_secret: SecretResolver,
    clock: Clock | None = None,
) -> Adapter:
    """A :class:`PipedriveAdapter` from its deployment options (``api_token =
    "env:PIPEDRIVE_TOKEN"`` or ``oauth_token``); :class:`AdapterConfigError` names a bad option."""
    return PipedriveAdapter(name, options, resolve_secret, clock or SystemClock())
