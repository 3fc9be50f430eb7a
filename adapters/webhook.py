"""The ``webhook`` adapter: POST each event as CloudEvents JSON, signed per Standard Webhooks.

Configuration::

    [adapters.crm_webhook]
    type = "webhook"
    url = "https://example.com/hooks/leadflow"
    secret = "env:LEADFLOW_WEBHOOK_SECRET"              # whsec_<base64>
    previous_secret = "env:LEADFLOW_WEBHOOK_SECRET_OLD" # optional: a second signature in rotation
    timeout = 10                                        # seconds, optional
    batch = 1                                           # events per request, optional

The request: ``Content-Type: application/cloudevents+json`` with the stored envelope as the body
(structured mode), ``webhook-id`` = ``Idempotency-Key`` = the event id, ``webhook-timestamp`` =
the attempt time, ``webhook-signature`` = ``v1,<sig>`` per secret. Outcomes: 2xx delivered;
408, 425, 429, 5xx, timeouts and connection errors retry (``Retry-After`` in seconds or as an
HTTP date is honoured); 410 Gone fails permanently (the receiver asks us to stop); redirects and
other 4xx fail. One event per request by default (``max_batch = 1``).

With ``batch = N`` (2 to 500) the adapter uses CloudEvents' batched content mode instead: one
POST of ``Content-Type: application/cloudevents-batch+json`` whose body is a JSON array of up
to N events (the dispatcher never puts two events of one lead in a batch, so per-lead order
holds). ``webhook-id`` and ``Idempotency-Key`` name the batch (its first event id and size);
each event keeps its own ``id`` for deduplication. The receiver accepts or refuses the batch as a
whole: one outcome for every event in it. Use it for receivers that take batches (pipelines,
queues): it delivers several times more events per second than one request per event.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from leadflow.adapters._config import URL_HELP, Secret, check_keys, option, url_problem
from leadflow.adapters._signing import standard_webhook_headers
from leadflow.adapters.base import AdapterConfigError, Delivery, Result, SecretResolver
from leadflow.engine import Clock, SystemClock

__all__ = ["MAX_BATCH", "WebhookAdapter", "create", "parse_retry_after"]

_RETRY_STATUSES = frozenset({408, 425, 429})
_KEYS = ("url", "secret", "previous_secret", "timeout", "batch")
_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
_BATCH_TYPE = "application/cloudevents-batch+json; charset=utf-8"
MAX_BATCH = 500


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


class WebhookAdapter:
    """Delivers events to one HTTPS endpoint (thread-safe; connections are kept alive)."""

    def __init__(
        self,
        name: str,
        url: str,
        secrets: Sequence[Secret],
        *,
        timeout: float = 10.0,
        batch: int = 1,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not secrets:
            raise AdapterConfigError("missing key 'secret' (a secret reference: env:NAME)")
        if not 1 <= batch <= MAX_BATCH:
            raise AdapterConfigError(f"key 'batch' must be between 1 and {MAX_BATCH} events")
        self.name = name
        self.url = url
        self.max_batch = batch
        """Events per request: 1 is structured mode, more is batched mode."""
        self._secrets = tuple(secrets)
        self._clock: Clock = clock or SystemClock()
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": "leadflow-webhook"},
        )
        # Sign something once so a malformed secret fails at configuration time.
        standard_webhook_headers([s.reveal() for s in self._secrets], "check", 0, b"")

    def __repr__(self) -> str:
        return f"WebhookAdapter(name={self.name!r}, secrets={list(self._secrets)!r})"

    def deliver(self, deliveries: Sequence[Delivery]) -> list[Result]:
        """POST the events (one per request, or batches of ``max_batch``); one
        :class:`Result` per delivery (never raises for remote failures)."""
        if self.max_batch == 1:
            return [self._post(d.event.id, d.event.raw.encode(), _CONTENT_TYPE) for d in deliveries]
        results: list[Result] = []
        for i in range(0, len(deliveries), self.max_batch):
            chunk = deliveries[i : i + self.max_batch]
            body = ("[" + ",".join(d.event.raw for d in chunk) + "]").encode()
            result = self._post(f"{chunk[0].event.id}+{len(chunk)}", body, _BATCH_TYPE)
            results.extend([result] * len(chunk))
        return results

    def _post(self, ident: str, body: bytes, content_type: str) -> Result:
        now = self._clock.now().timestamp()
        headers = standard_webhook_headers(
            [s.reveal() for s in self._secrets], ident, int(now), body
        )
        headers["Content-Type"] = content_type
        headers["Idempotency-Key"] = ident
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            return Result.retry(f"timed out ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return Result.retry(f"connection failed ({type(exc).__name__})")
        return self._classify(response, now)

    def _classify(self, response: httpx.Response, now: float) -> Result:
        status = response.status_code
        said = _snippet(response)
        if 200 <= status < 300:
            return Result.delivered(f"HTTP {status}", status)
        if status in _RETRY_STATUSES or status >= 500:
            wait = parse_retry_after(response.headers.get("Retry-After"), now)
            return Result.retry(f"HTTP {status}{said}", wait, status)
        if status == 410:
            return Result.failed(f"HTTP 410 Gone: the receiver asks to stop sending{said}", status)
        if 300 <= status < 400:
            return Result.failed(
                f"HTTP {status}: redirects are not followed; configure the final URL", status
            )
        return Result.failed(f"HTTP {status}{said}", status)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def _snippet(response: httpx.Response, limit: int = 200) -> str:
    text = response.text.strip().replace("\n", " ")
    if not text:
        return ""
    return ": " + (text[:limit] + "..." if len(text) > limit else text)


def create(name: str, options: Mapping[str, Any], resolve_secret: SecretResolver) -> WebhookAdapter:
    """The ``webhook`` adapter factory (see the module docstring for the options)."""
    check_keys(options, _KEYS)
    url = option(options, "url", str, what="an http(s) URL")
    if (problem := url_problem(url)) is not None:
        raise AdapterConfigError(f"key 'url' is not a usable URL ({problem}); allowed: {URL_HELP}")
    timeout = option(options, "timeout", (int, float), 10.0, "a number of seconds")
    if not 0 < timeout <= 300:
        raise AdapterConfigError("key 'timeout' must be between 0 and 300 seconds")
    refs = [option(options, "secret", str, what="a secret reference (env:NAME or file:PATH)")]
    previous = option(options, "previous_secret", str, None, "a secret reference")
    refs += [previous] if previous is not None else []
    batch = option(options, "batch", int, 1, f"a number of events (1 to {MAX_BATCH})")
    secrets = [Secret(resolve_secret(ref), ref) for ref in refs]
    return WebhookAdapter(name, url, secrets, timeout=float(timeout), batch=batch)
