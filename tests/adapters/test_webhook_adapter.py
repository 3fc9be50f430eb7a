"""The webhook adapter against a local receiver that verifies Standard Webhooks signatures."""

from __future__ import annotations

import json
import logging
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from leadflow.adapters import (
    AdapterConfigError,
    Delivery,
    Event,
    Outcome,
    Result,
    Secret,
    SignatureError,
    Subscription,
    verify_standard_webhook,
)
from leadflow.adapters.webhook import WebhookAdapter, create, parse_retry_after
from leadflow.engine.testing import ManualClock

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_QkFTRTY0LW9mLTMyLWJ5dGVzLW9sZC1zZWNyZXQh"
ENV = {"WH_SECRET": SECRET, "WH_OLD": OLD_SECRET}


class Receiver:
    """A webhook endpoint: verifies signatures with its secrets, answers as told."""

    def __init__(self, secrets: list[str], clock: ManualClock) -> None:
        self.secrets = secrets
        self.clock = clock
        self.replies: list[tuple[int, dict[str, str], str]] = []
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        self.slow = False
        self.release = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if receiver.slow:
                    receiver.release.wait(5)
                try:
                    verify_standard_webhook(receiver.secrets, headers, body, receiver.clock.now())
                except SignatureError as exc:
                    reply = (401, {}, json.dumps({"error": exc.check}))
                else:
                    with receiver.lock:
                        receiver.received.append((headers, body, self.client_address[1]))
                        reply = receiver.replies.pop(0) if receiver.replies else (204, {}, "")
                status, extra, text = reply
                payload = text.encode()
                try:
                    self.send_response(status)
                    for key, value in extra.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client timed out and left (a test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/leadflow"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def receiver(clock: ManualClock) -> Iterator[Receiver]:
    server = Receiver([SECRET], clock)
    yield server
    server.close()


def make_adapter(url: str, clock: ManualClock, **options: Any) -> WebhookAdapter:
    """The adapter as its factory builds it, on the test's clock."""
    built = create("crm_webhook", {"url": url, "secret": "env:WH_SECRET", **options}, resolve)
    built.close()
    refs = [
        "env:WH_SECRET",
        *([options["previous_secret"]] if "previous_secret" in options else []),
    ]
    secrets = [Secret(resolve(ref), ref) for ref in refs]
    return WebhookAdapter(
        "crm_webhook",
        url,
        secrets,
        timeout=options.get("timeout", 10.0),
        batch=options.get("batch", 1),
        clock=clock,
    )


def resolve(ref: str) -> str:
    return ENV[ref[4:]]


@pytest.fixture
def adapter(receiver: Receiver, clock: ManualClock) -> Iterator[WebhookAdapter]:
    built = make_adapter(receiver.url, clock)
    yield built
    built.close()


def event(n: int = 0) -> Delivery:
    raw = json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/leadflow/inbound-lead",
            "type": "leadflow.lead.stage_changed",
            "subject": f"lead-{n}",
            "time": "2026-01-05T09:00:00+00:00",
            "datacontenttype": "application/json",
            "data": {"n": n, "stage": "contacted"},
        },
        separators=(",", ":"),
    )
    return Delivery(Event.from_json(raw, seq=n + 1), Subscription(adapter="crm_webhook"))


def test_delivers_signed_cloudevents(adapter: WebhookAdapter, receiver: Receiver) -> None:
    """A 2xx answer is DELIVERED; the receiver got the raw envelope, signed, with its id."""
    delivery = event()
    [result] = adapter.deliver([delivery])
    assert result == Result.delivered("HTTP 204", 204)
    [(headers, body, _)] = receiver.received
    assert body == delivery.event.raw.encode()
    assert headers["content-type"].startswith("application/cloudevents+json")
    assert headers["webhook-id"] == headers["idempotency-key"] == delivery.event.id
    assert headers["webhook-timestamp"] == str(int(receiver.clock.now().timestamp()))


def test_previous_secret_adds_a_second_signature(receiver: Receiver, clock: ManualClock) -> None:
    """With previous_secret, a receiver that still knows only the old secret verifies."""
    receiver.secrets = [OLD_SECRET]
    adapter = make_adapter(receiver.url, clock, previous_secret="env:WH_OLD")
    try:
        [result] = adapter.deliver([event()])
    finally:
        adapter.close()
    assert result.outcome is Outcome.DELIVERED
    assert len(receiver.received[0][0]["webhook-signature"].split()) == 2


def test_receiver_refusing_the_signature_is_a_failure(
    receiver: Receiver, clock: ManualClock
) -> None:
    """A receiver with another secret answers 401: a permanent failure, its body in detail."""
    receiver.secrets = [OLD_SECRET]
    adapter = make_adapter(receiver.url, clock)
    try:
        [result] = adapter.deliver([event()])
    finally:
        adapter.close()
    assert result.outcome is Outcome.FAILED
    assert result.status == 401
    assert "bad-signature" in result.detail


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [
        (408, {}, None),
        (425, {}, None),
        (429, {"Retry-After": "7"}, 7.0),
        (500, {}, None),
        (502, {"Retry-After": "1.5"}, 1.5),
        (503, {"Retry-After": "HTTPDATE"}, 120.0),
    ],
)
def test_transient_statuses_retry_honouring_retry_after(
    adapter: WebhookAdapter,
    receiver: Receiver,
    status: int,
    headers: dict[str, str],
    retry_after: float | None,
) -> None:
    """408/425/429/5xx are RETRY; Retry-After in seconds or as an HTTP date becomes retry_after."""
    if headers.get("Retry-After") == "HTTPDATE":
        when = receiver.clock.now() + timedelta(minutes=2)
        headers = {"Retry-After": format_datetime(when, usegmt=True)}
    receiver.replies.append((status, headers, '{"error":"busy"}'))
    [result] = adapter.deliver([event()])
    assert result.outcome is Outcome.RETRY
    assert result.status == status
    assert result.retry_after == retry_after
    assert f"HTTP {status}" in result.detail


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (410, "HTTP 410 Gone: the receiver asks to stop sending"),
        (400, 'HTTP 400: {"error":"no such stage"}'),
        (404, "HTTP 404"),
        (302, "HTTP 302: redirects are not followed"),
    ],
)
def test_permanent_statuses_fail(
    adapter: WebhookAdapter, receiver: Receiver, status: int, expected: str
) -> None:
    """410 Gone, other 4xx and redirects are FAILED with the status and what the receiver said."""
    receiver.replies.append(
        (status, {"Location": "http://elsewhere/"}, '{"error":"no such stage"}')
    )
    [result] = adapter.deliver([event()])
    assert result.outcome is Outcome.FAILED
    assert result.status == status
    assert result.detail.startswith(expected)


def test_slow_receiver_times_out_as_retry(receiver: Receiver, clock: ManualClock) -> None:
    """A receiver slower than the timeout gives RETRY (timed out), not an exception."""
    receiver.slow = True
    adapter = make_adapter(receiver.url, clock, timeout=0.3)
    try:
        [result] = adapter.deliver([event()])
    finally:
        receiver.release.set()
        adapter.close()
    assert result.outcome is Outcome.RETRY
    assert result.detail.startswith("timed out")
    assert result.status is None


def test_receiver_down_is_retry(clock: ManualClock) -> None:
    """A closed port gives RETRY (connection failed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = make_adapter(f"http://127.0.0.1:{port}/x", clock)
    try:
        [result] = adapter.deliver([event()])
    finally:
        adapter.close()
    assert result.outcome is Outcome.RETRY
    assert result.detail.startswith("connection failed")


def test_connections_are_kept_alive(adapter: WebhookAdapter, receiver: Receiver) -> None:
    """Sequential deliveries reuse one connection (one client port)."""
    for n in range(5):
        assert adapter.deliver([event(n)])[0].outcome is Outcome.DELIVERED
    assert len({port for _, _, port in receiver.received}) == 1


def test_concurrent_deliveries_from_threads(adapter: WebhookAdapter, receiver: Receiver) -> None:
    """Eight threads delivering at once through one adapter all succeed, each event once."""
    deliveries = [event(n) for n in range(80)]
    results: list[Result] = []
    lock = threading.Lock()

    def work(chunk: list[Delivery]) -> None:
        for d in chunk:
            got = adapter.deliver([d])
            with lock:
                results.extend(got)

    threads = [threading.Thread(target=work, args=(deliveries[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.outcome for r in results] == [Outcome.DELIVERED] * 80
    ids = sorted(h["webhook-id"] for h, _, _ in receiver.received)
    assert ids == sorted(d.event.id for d in deliveries)


def test_no_secret_in_results_logs_or_repr(
    receiver: Receiver, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Across outcomes, no secret shows in a Result.detail, a log record or the adapter repr."""
    caplog.set_level(logging.DEBUG)
    adapter = make_adapter(receiver.url, clock, previous_secret="env:WH_OLD")
    receiver.replies += [(500, {}, "oops"), (400, {}, "bad"), (410, {}, "")]
    try:
        results = adapter.deliver([event(n) for n in range(4)])
        text = " ".join([r.detail for r in results] + [caplog.text, repr(adapter)])
    finally:
        adapter.close()
    for secret in (SECRET, OLD_SECRET, SECRET[6:], OLD_SECRET[6:]):
        assert secret not in text


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"secret": "env:WH_SECRET"}, "missing key 'url'"),
        ({"url": "http://x"}, "missing key 'secret'"),
        ({"url": "mailto:a@b", "secret": "env:WH_SECRET"}, "key 'url' is not a usable URL"),
        ({"url": "http://[::1", "secret": "env:WH_SECRET"}, "'url' is not a usable URL (Invalid"),
        ({"url": "http://h:99999/", "secret": "env:WH_SECRET"}, "(Port out of range 0-65535)"),
        ({"url": "http://h:port/", "secret": "env:WH_SECRET"}, "(Port could not be cast"),
        ({"url": "https://a b.com", "secret": "env:WH_SECRET"}, "(it contains whitespace)"),
        ({"url": "http://u:p@/x", "secret": "env:WH_SECRET"}, "(it has no host)"),
        ({"url": "http://x", "secret": "env:WH_SECRET", "timeout": 0}, "between 0 and 300"),
        ({"url": "http://x", "secret": "env:WH_SECRET", "timeout": "5"}, "key 'timeout' must be"),
        ({"url": "http://x", "secret": "env:WH_SECRET", "timout": 5}, "did you mean 'timeout'"),
        ({"url": "http://x", "secret": "env:BAD"}, "not base64"),
    ],
)
def test_factory_refuses_bad_options(options: dict[str, Any], expected: str) -> None:
    """Each bad option is an AdapterConfigError naming the key; secrets are never echoed."""
    env = {**ENV, "BAD": "whsec_***notbase64***"}
    with pytest.raises(AdapterConfigError) as info:
        create("crm_webhook", options, lambda ref: env[ref[4:]])
    assert expected in str(info.value)
    assert "notbase64" not in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("12", 12.0),
        ("-3", 0.0),
        ("Mon, 05 Jan 2026 09:01:00 GMT", 60.0),
        ("Mon, 05 Jan 2026 08:00:00 GMT", 0.0),
        ("soon", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None, clock: ManualClock) -> None:
    """Retry-After is seconds or an HTTP date (relative to now, never negative); junk is None."""
    assert parse_retry_after(value, clock.now().timestamp()) == expected


def test_batched_mode_posts_signed_arrays_of_events(receiver: Receiver, clock: ManualClock) -> None:
    """With batch = 3, five events go out as two signed CloudEvents batches (3 + 2); each
    event keeps its id, the batch is named by its first event id and size."""
    adapter = make_adapter(receiver.url, clock, batch=3)
    try:
        deliveries = [event(n) for n in range(5)]
        results = adapter.deliver(deliveries)
    finally:
        adapter.close()
    assert [r.outcome for r in results] == [Outcome.DELIVERED] * 5
    assert len(receiver.received) == 2
    (h1, b1, _), (h2, b2, _) = receiver.received
    assert h1["content-type"].startswith("application/cloudevents-batch+json")
    sent = [e["id"] for e in json.loads(b1)] + [e["id"] for e in json.loads(b2)]
    assert sent == [d.event.id for d in deliveries]
    assert h1["webhook-id"] == h1["idempotency-key"] == f"{deliveries[0].event.id}+3"
    assert h2["webhook-id"] == f"{deliveries[3].event.id}+2"


def test_a_refused_batch_fails_every_event_in_it(receiver: Receiver, clock: ManualClock) -> None:
    """The receiver answers for the batch as a whole: a 503 retries all of its events."""
    receiver.replies = [(503, {"Retry-After": "7"}, "busy")]
    adapter = make_adapter(receiver.url, clock, batch=10)
    try:
        results = adapter.deliver([event(n) for n in range(4)])
    finally:
        adapter.close()
    assert [(r.outcome, r.retry_after) for r in results] == [(Outcome.RETRY, 7.0)] * 4


@pytest.mark.parametrize("batch", [0, 501, "10"])
def test_batch_size_is_checked(batch: object) -> None:
    """batch must be a whole number of events from 1 to 500."""
    with pytest.raises(AdapterConfigError, match="batch"):
        create(
            "w", {"url": "https://x.example/h", "secret": "env:WH_SECRET", "batch": batch}, resolve
        )
