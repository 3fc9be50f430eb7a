"""Inbound sources: their configuration, signature checks, and payload -> engine commands.

One ``[inbound.<name>]`` table per source; ``kind`` picks the verifier and the translator:

* ``standard-webhooks``: the payload is a leadflow command ``{"lead_id", "trigger", "data"}``
  signed per Standard Webhooks (``secret``, ``previous_secret``);
* ``hubspot``: a JSON array of webhook events signed with ``X-HubSpot-Signature-v3``
  (``client_secret``); a ``deal.propertyChange`` of ``property`` (``dealstage``) to a value in
  ``triggers`` fires that trigger; ``fields`` are read from the object through the CRM API
  (``token``) when configured;
* ``pipedrive``: a v1 or v2 webhook with Basic auth (``username``, ``password``); a deal whose
  ``status`` changes to a key of ``triggers`` (``won``, ``lost``) fires that trigger with
  ``fields`` read from the deal in the payload.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from leadflow.adapters._config import Secret, check_keys, option
from leadflow.adapters._signing import verify_basic_auth, verify_hubspot_v3, verify_standard_webhook
from leadflow.adapters.base import AdapterConfigError

__all__ = ["KINDS", "Command", "PayloadError", "Source", "parse_sources"]

KINDS = ("standard-webhooks", "hubspot", "pipedrive")
_COMMON = ("kind", "process", "lead_id")
_KEYS = {
    "standard-webhooks": (*_COMMON, "secret", "previous_secret"),
    "hubspot": (
        *_COMMON,
        *("client_secret", "public_url", "property", "triggers", "fields", "token"),
        *("api_base", "object_type", "echo_source_ids"),
    ),
    "pipedrive": (*_COMMON, "username", "password", "triggers", "fields", "echo_user_ids"),
}


class PayloadError(ValueError):
    """A verified request whose body is not what this source expects (HTTP 400/422/502)."""

    def __init__(self, message: str, status: int = 422) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Command:
    """One engine call an inbound request asks for (or why it asks for none)."""

    key: str
    """The delivery id (``webhook-id``, HubSpot ``eventId``, Pipedrive ``meta.id``), for dedupe."""
    lead_id: str | None
    trigger: str | None
    data: Mapping[str, Any] = field(default_factory=dict)
    ignored: str | None = None
    """Why nothing is fired (``echo``, ``not-mapped``); ``None`` when the trigger fires."""


@dataclass(frozen=True)
class Source:
    """A configured inbound source."""

    name: str
    kind: str
    process: str
    options: Mapping[str, Any]
    secrets: tuple[Secret, ...]
    password: Secret | None = None
    token: Secret | None = None

    @property
    def triggers(self) -> Mapping[str, str]:
        """CRM value (stage id, status) -> leadflow trigger."""
        triggers: Mapping[str, str] = self.options.get("triggers", {})
        return triggers

    @property
    def fields(self) -> Mapping[str, str]:
        """Lead field -> CRM property read when firing."""
        fields: Mapping[str, str] = self.options.get("fields", {})
        return fields

    def verify(
        self, method: str, uri: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> None:
        """Raise :class:`~leadflow.adapters.SignatureError` unless the request is authentic."""
        if self.kind == "standard-webhooks":
            verify_standard_webhook([s.reveal() for s in self.secrets], headers, body, now)
        elif self.kind == "hubspot":
            uri = self.options.get("public_url") or uri
            verify_hubspot_v3(self.secrets[0].reveal(), method, uri, body, headers, now)
        else:
            assert self.password is not None
            user = self.options.get("username", "")
            verify_basic_auth(headers.get("authorization"), user, self.password.reveal())

    def commands(
        self,
        headers: Mapping[str, str],
        body: bytes,
        fetch: Callable[[str, list[str]], Mapping[str, Any]],
    ) -> list[Command]:
        """Translate a verified request into commands. Raises :class:`PayloadError`."""
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise PayloadError("the body is not JSON", 400) from None
        if self.kind == "standard-webhooks":
            return [_standard_command(headers["webhook-id"], payload)]
        if self.kind == "hubspot":
            return _hubspot_commands(self, payload, fetch)
        return [_pipedrive_command(self, payload)]


def _standard_command(key: str, payload: Any) -> Command:
    if not isinstance(payload, dict):
        raise PayloadError('the payload must be an object {"lead_id", "trigger", "data"}')
    lead_id, trigger, data = payload.get("lead_id"), payload.get("trigger"), payload.get("data", {})
    if not isinstance(lead_id, str) or not lead_id or not isinstance(trigger, str) or not trigger:
        raise PayloadError("'lead_id' and 'trigger' must be non-empty strings")
    if not isinstance(data, dict):
        raise PayloadError("'data' must be an object of lead fields")
    return Command(key, lead_id, trigger, data)


def _hubspot_commands(
    source: Source, payload: Any, fetch: Callable[[str, list[str]], Mapping[str, Any]]
) -> list[Command]:
    if not isinstance(payload, list) or not all(isinstance(e, dict) for e in payload):
        raise PayloadError("a HubSpot webhook body is a JSON array of event objects")
    prop = source.options.get("property", "dealstage")
    lead_spec = source.options.get("lead_id", "object_id")
    echo_ids = {str(i) for i in source.options.get("echo_source_ids", [])}
    commands = []
    for event in payload:
        key = str(event.get("eventId", ""))
        object_id = str(event.get("objectId", ""))
        if not key or not object_id:
            raise PayloadError("every HubSpot event needs 'eventId' and 'objectId'")
        trigger = source.triggers.get(str(event.get("propertyValue")))
        if not str(event.get("subscriptionType", "")).endswith(".propertyChange") or (
            event.get("propertyName") != prop or trigger is None
        ):
            commands.append(Command(key, None, None, ignored="not-mapped"))
            continue
        if str(event.get("sourceId", "")) in echo_ids:
            commands.append(Command(key, None, trigger, ignored="echo"))
            continue
        wanted = list(source.fields.values())
        if lead_spec != "object_id":
            wanted.append(lead_spec.removeprefix("property:"))
        props = fetch(object_id, wanted) if wanted else {}
        lead_id = object_id if lead_spec == "object_id" else props.get(wanted[-1])
        if not lead_id:
            raise PayloadError(f"HubSpot object {object_id} has no value in '{wanted[-1]}'")
        commands.append(Command(key, str(lead_id), trigger, _pick(source.fields, props)))
    return commands


def _pick(fields: Mapping[str, str], props: Mapping[str, Any]) -> dict[str, Any]:
    return {f: props[p] for f, p in fields.items() if props.get(p) not in (None, "")}


def _pipedrive_command(source: Source, payload: Any) -> Command:
    if not isinstance(payload, dict) or not isinstance(payload.get("meta"), dict):
        raise PayloadError("a Pipedrive webhook body is an object with 'meta'")
    meta = payload["meta"]
    deal = payload.get("data") or payload.get("current") or {}
    previous = payload.get("previous") or {}
    entity = meta.get("entity") or meta.get("object")
    key = str(meta.get("id") if meta.get("version") == "2.0" else "")
    if not key:  # v1: meta.id is the object's id; the delivery is that plus its timestamp
        key = f"{meta.get('id')}:{meta.get('timestamp')}:{payload.get('event')}"
    status = deal.get("status") if isinstance(deal, dict) else None
    trigger = source.triggers.get(str(status))
    changed = previous.get("status", None) != status if isinstance(previous, dict) else True
    if entity != "deal" or meta.get("action") not in ("updated", "change") or not trigger:
        return Command(key, None, None, ignored="not-mapped")
    if not changed:
        return Command(key, None, trigger, ignored="not-mapped")
    if str(meta.get("user_id")) in {str(i) for i in source.options.get("echo_user_ids", [])}:
        return Command(key, None, trigger, ignored="echo")
    lead_spec = source.options.get("lead_id", "object_id")
    if lead_spec == "object_id":
        lead_id = deal.get("id", meta.get("entity_id"))
    else:
        name = lead_spec.removeprefix("property:")
        custom = deal.get("custom_fields") or {}
        lead_id = deal.get(name) or (custom.get(name) if isinstance(custom, dict) else None)
    if lead_id in (None, ""):
        raise PayloadError(f"the Pipedrive deal has no lead id in '{lead_spec}'")
    return Command(key, str(lead_id), trigger, _pick(source.fields, deal))


def parse_sources(
    inbound: Mapping[str, Any], where: str, secret: Callable[[str], Secret]
) -> dict[str, Source]:
    """The sources of an ``[inbound]`` table; errors name ``where`` (the file) and the table."""
    sources = {}
    for name, table in inbound.items():
        try:
            sources[name] = _parse(name, table, secret)
        except AdapterConfigError as exc:
            raise AdapterConfigError(f"{where}: [inbound.{name}]: {exc}") from exc
    return sources


def _parse(name: str, table: Any, secret: Callable[[str], Secret]) -> Source:
    if not isinstance(table, Mapping):
        raise AdapterConfigError("must be a table")
    kind = option(table, "kind", str, what=f"one of {', '.join(KINDS)}")
    if kind not in KINDS:
        raise AdapterConfigError(f"kind '{kind}' is not one of {', '.join(KINDS)}")
    check_keys(table, _KEYS[kind])
    process = option(table, "process", str, what="the process name to fire triggers in")
    lead_spec = option(table, "lead_id", str, "object_id", "object_id or property:<name>")
    if lead_spec != "object_id" and not lead_spec.startswith("property:"):
        raise AdapterConfigError("key 'lead_id' must be object_id or property:<name>")
    for key in ("triggers", "fields"):
        mapping = option(table, key, dict, {}, "a table of names")
        if not all(isinstance(v, str) for v in mapping.values()):
            raise AdapterConfigError(f"every value of '{key}' must be a string")
    ref = "secret" if kind == "standard-webhooks" else "client_secret"
    if kind == "pipedrive":
        option(table, "username", str, what="the Basic auth user set on the Pipedrive webhook")
        password = secret(option(table, "password", str, what="a secret reference"))
        return Source(name, kind, process, dict(table), (), password=password)
    if kind != "standard-webhooks" and not table.get("triggers"):
        raise AdapterConfigError("key 'triggers' must map CRM values to triggers (closedwon = ...)")
    secrets = [secret(option(table, ref, str, what="a secret reference (env:NAME)"))]
    if table.get("previous_secret"):
        secrets.append(secret(option(table, "previous_secret", str)))
    token = None
    if kind == "hubspot" and (table.get("fields") or lead_spec != "object_id"):
        token = secret(option(table, "token", str, what="a secret reference, to read properties"))
    return Source(name, kind, process, dict(table), tuple(secrets), token=token)


def hubspot_fetcher(
    source: Source, client: httpx.Client
) -> Callable[[str, list[str]], Mapping[str, Any]]:
    """Reads properties of one HubSpot object (``GET /crm/v3/objects/{type}/{id}``)."""

    def fetch(object_id: str, properties: list[str]) -> Mapping[str, Any]:
        assert source.token is not None
        base = str(source.options.get("api_base", "https://api.hubapi.com")).rstrip("/")
        kind = source.options.get("object_type", "deals")
        try:
            response = client.get(
                f"{base}/crm/v3/objects/{kind}/{object_id}",
                params={"properties": ",".join(properties)},
                headers={"Authorization": f"Bearer {source.token.reveal()}"},
            )
        except httpx.HTTPError as exc:
            raise PayloadError(
                f"reading HubSpot object {object_id} failed: {type(exc).__name__}", 502
            ) from None
        if response.status_code != 200:
            raise PayloadError(
                f"reading HubSpot object {object_id} failed: HTTP {response.status_code}", 502
            )
        props: Mapping[str, Any] = response.json().get("properties", {})
        return props

    return fetch
