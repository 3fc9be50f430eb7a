"""What the HubSpot, Salesforce and Pipedrive adapters share: option checks, the HTTP client,
throttling signals, redaction of secrets, and reading a lead's values out of an event.

Nothing here knows a particular CRM. Every text that can reach an operator (a ``Result.detail``,
an exception message) goes through a :class:`Redactor` that knows the adapter's secrets.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from leadflow.adapters._config import URL_HELP, url_problem
from leadflow.adapters.base import AdapterConfigError, Event, Result, SecretResolver

__all__ = [
    "SLA_FULFILLED",
    "SLA_PREFIX",
    "TASK_DUE",
    "Options",
    "Redactor",
    "build_client",
    "ignored",
    "is_sla_event",
    "lead_value",
    "mapped_changes",
    "retry_after_seconds",
    "seconds_to_midnight",
    "send",
    "sla_entry",
    "sla_summary",
    "transient_status",
]

SLA_PREFIX = "leadflow.lead.sla_"
"""SLA clock events (``leadflow.lead.sla_warned``, ``leadflow.lead.sla_breached``, ...)."""
SLA_FULFILLED = "leadflow.lead.sla_fulfilled"
TASK_DUE = "leadflow.lead.task_due"

_QUERY_SECRET = re.compile(
    r"(?i)\b(api_token|access_token|refresh_token|client_secret|token)=[^&\s\"']+"
)


class Options:
    """Reads one adapter's options; every error names ``adapters.<name>.<key>`` and what is
    allowed. Unknown keys are refused (a typo must not silently fall back to a default)."""

    def __init__(self, name: str, options: Mapping[str, Any], allowed: Iterable[str]) -> None:
        self.name = name
        self.options = options
        allowed_set = {*allowed, "type"}
        unknown = sorted(set(options) - allowed_set)
        if unknown:
            raise AdapterConfigError(
                f"adapters.{name}: unknown option {unknown[0]!r}; allowed: "
                + ", ".join(sorted(allowed_set - {"type"}))
            )

    def where(self, key: str) -> str:
        return f"adapters.{self.name}.{key}"

    def text(self, key: str, default: str | None = None) -> str:
        value = self.options.get(key, default)
        if value is None:
            raise AdapterConfigError(f"{self.where(key)} is required (a string)")
        if not isinstance(value, str) or not value:
            raise AdapterConfigError(f"{self.where(key)} must be a non-empty string")
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if key in self.options else None

    def choice(self, key: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.options.get(key, default)
        if value not in allowed:
            raise AdapterConfigError(
                f"{self.where(key)} is {value!r}; allowed: " + ", ".join(allowed)
            )
        return str(value)

    def number(self, key: str, default: float) -> float:
        value = self.options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise AdapterConfigError(f"{self.where(key)} must be a positive number of seconds")
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.options.get(key, default)
        if not isinstance(value, bool):
            raise AdapterConfigError(f"{self.where(key)} must be true or false")
        return value

    def mapping(self, key: str) -> dict[str, str]:
        value = self.options.get(key, {})
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str | int) and not isinstance(v, bool)
            for k, v in value.items()
        ):
            raise AdapterConfigError(
                f"{self.where(key)} must be a table of names to ids (strings or integers)"
            )
        return {k: str(v) for k, v in value.items()}

    def url(self, key: str, default: str) -> str:
        value = self.text(key, default)
        if (problem := url_problem(value)) is not None:
            raise AdapterConfigError(
                f"{self.where(key)} is not a usable URL ({problem}); allowed: {URL_HELP}"
            )
        return value.rstrip("/")

    def secret(self, key: str, resolve: SecretResolver) -> str:
        """The secret behind the reference in ``key`` (``env:NAME`` / ``file:PATH``)."""
        return resolve(self.text(key))

    def timezone(self, key: str, default: str) -> ZoneInfo:
        value = self.text(key, default)
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise AdapterConfigError(
                f"{self.where(key)} is {value!r}; allowed: an IANA time zone such as UTC"
            ) from exc


class Redactor:
    """Masks secrets (and ``api_token=...``-style query parameters) in operator-facing text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Also mask ``secret`` from now on (a refreshed access token)."""
        if secret:
            with self._lock:
                self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, "***")
        return _QUERY_SECRET.sub(r"\1=***", text)


class _QueryRedactingFilter(logging.Filter):
    """Masks ``api_token=...``-style query parameters in httpx's request log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                _QUERY_SECRET.sub(r"\1=***", str(a)) if isinstance(a, httpx.URL) else a
                for a in record.args
            )
        return True


_LOG_FILTER = _QueryRedactingFilter()


def build_client(
    base_url: str, connect: float, read: float, headers: Mapping[str, str] | None = None
) -> httpx.Client:
    """A keep-alive client (thread-safe, connection reuse) that never follows redirects.
    httpx logs every request URL at INFO: a filter on its logger masks token parameters."""
    httpx_logger = logging.getLogger("httpx")
    if _LOG_FILTER not in httpx_logger.filters:
        httpx_logger.addFilter(_LOG_FILTER)
    return httpx.Client(
        base_url=base_url,
        headers=dict(headers or {}),
        timeout=httpx.Timeout(read, connect=connect),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )


def send(
    client: httpx.Client, redact: Redactor, method: str, url: str, **kwargs: Any
) -> httpx.Response | Result:
    """The response, or a RETRY :class:`Result` naming the call for a timeout or network
    error (the URL's query, which may carry a token, is never shown)."""
    what = f"{method} {url.split('?', 1)[0]}"
    try:
        return client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        kind = type(exc).__name__.removesuffix("Timeout").lower() or "request"
        return Result.retry(f"{kind} timeout calling {what}")
    except httpx.HTTPError as exc:
        return Result.retry(redact(f"{type(exc).__name__} calling {what}: {exc}"))


def transient_status(status: int) -> bool:
    """Whether an HTTP status is worth retrying as such (408, 425, 429, 5xx)."""
    return status in (408, 425, 429) or status >= 500


def retry_after_seconds(response: httpx.Response, now: datetime) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or an HTTP-date, measured against the
    response's ``Date`` when present, else ``now``); None when absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        base = (
            parsedate_to_datetime(response.headers["date"]) if "date" in response.headers else now
        )
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, (when - base).total_seconds())


def seconds_to_midnight(now: datetime, zone: ZoneInfo) -> float:
    """Seconds until the next midnight in ``zone`` (when daily API budgets reset)."""
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), zone)
    return max(1.0, (midnight - local).total_seconds())


def json_body(response: httpx.Response) -> Any:
    """The response's JSON, or None when it has none (an HTML error page, an empty 204)."""
    try:
        return response.json()
    except ValueError:
        return None


def ignored(event: Event, why: str) -> Result:
    """DELIVERED without a call: the adapter does not act on this event."""
    return Result.delivered(f"ignored: {event.type} ({why})")


def lead_value(event: Event, field: str) -> tuple[bool, Any]:
    """(found, value) of lead field ``field``: its new value when the change set it, the lead's
    data at start, else the lead's data at delivery (``Event.lead``, which the dispatcher
    fills)."""
    data = event.data
    changes = data.get("changes") or {}
    if field in changes:
        return True, changes[field][1]
    for values in (data.get("lead"), data.get("data"), event.lead):
        if isinstance(values, Mapping) and field in values:
            return True, values[field]
    return False, None


def mapped_changes(event: Event, fields: Mapping[str, str]) -> dict[str, Any]:
    """CRM property -> new value for every mapped lead field the event changed (at start: every
    mapped field the lead has)."""
    out: dict[str, Any] = {}
    for lead_field, prop in fields.items():
        changes = event.data.get("changes") or {}
        start = event.data.get("data") if event.type == "leadflow.lead.started" else None
        if lead_field in changes:
            out[prop] = changes[lead_field][1]
        elif isinstance(start, Mapping) and lead_field in start:
            out[prop] = start[lead_field]
    return out


def sla_entry(event: Event) -> Mapping[str, Any]:
    """The SLA mark of an SLA event (``data.sla[0]``: policy, event, message, task, ...)."""
    sla = event.data.get("sla")
    if isinstance(sla, list) and sla and isinstance(sla[0], Mapping):
        return cast("Mapping[str, Any]", sla[0])
    return sla if isinstance(sla, Mapping) else {}


def is_sla_event(event: Event) -> bool:
    """An SLA mark someone must act on: warned, breached, escalated, or a planned task due.
    (``sla_fulfilled`` is not: nothing is left to do.)"""
    return event.type == TASK_DUE or (
        event.type.startswith(SLA_PREFIX) and event.type != SLA_FULFILLED
    )


def sla_summary(event: Event) -> str:
    """One line for an SLA event: the task's title or the mark's message when there is one,
    else what fell due, for which lead, where."""
    entry = sla_entry(event)
    task = entry.get("task")
    if isinstance(task, Mapping) and task.get("title"):
        return f"{task['title']} (lead {event.subject})"
    message = entry.get("message") or event.data.get("message")
    if isinstance(message, str) and message:
        return f"{message} (lead {event.subject})"
    kind = str(entry.get("event") or event.type.removeprefix(SLA_PREFIX)).replace("_", " ")
    policy = entry.get("policy") or "SLA"
    return f"{policy} {kind}: lead {event.subject} in stage {event.data.get('stage')}"
