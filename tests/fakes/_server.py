"""A tiny threaded HTTP server on 127.0.0.1:0 that the CRM fakes build on.

It parses each request into a :class:`Request`, records it, applies scripted failures
(``fail_next``), stalls (``stall_next``, for client timeouts) and hands the rest to the fake's
``route``. Time comes from an injectable clock so rate-limit windows are deterministic.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    client_port: int = 0
    """The client's source port: requests on one kept-alive connection share it."""

    @property
    def form(self) -> dict[str, str]:
        """The body as an ``application/x-www-form-urlencoded`` form."""
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class Reply:
    """What the fake answers: status, JSON body (None: empty) and headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeServer:
    """Base of the fakes: ``with FakeX() as server: server.url``; ``server.requests``."""

    def __init__(self, clock: Any = None) -> None:
        self.clock = clock or _Clock()
        self.requests: list[Request] = []
        self.lock = threading.RLock()
        self._failures: list[Reply] = []
        self._stalls = 0
        self._released = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._released.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    # -- scripting -------------------------------------------------------------------------
    def fail_next(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None, times: int = 1
    ) -> None:
        """Answer the next ``times`` API requests with this reply instead of handling them."""
        with self.lock:
            self._failures.extend(Reply(status, body, dict(headers or {})) for _ in range(times))

    def stall_next(self, times: int = 1) -> None:
        """Hold the next requests without answering until the server closes (client timeouts)."""
        with self.lock:
            self._stalls += times

    def calls(self, method: str | None = None, prefix: str = "") -> list[Request]:
        """The recorded requests, optionally only of ``method`` under path ``prefix``."""
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and r.path.startswith(prefix)
            ]

    # -- to implement ------------------------------------------------------------------------
    def route(self, request: Request) -> Reply:  # pragma: no cover - overridden
        raise NotImplementedError

    def scripted(self, request: Request) -> bool:
        """Whether scripted failures and stalls apply to ``request`` (not to token calls)."""
        return True

    # -- plumbing ----------------------------------------------------------------------------
    def _dispatch(self, request: Request) -> Reply | None:
        with self.lock:
            self.requests.append(request)
            stall = failure = None
            if self.scripted(request):
                if self._stalls:
                    self._stalls -= 1
                    stall = True
                elif self._failures:
                    failure = self._failures.pop(0)
        if stall:
            self._released.wait(10)
            return None
        if failure is not None:
            return failure
        with self.lock:
            return self.route(request)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                parsed: Any = None
                if body and "json" in (self.headers.get("Content-Type") or ""):
                    try:
                        parsed = json.loads(body)
                    except ValueError:
                        parsed = _INVALID
                request = Request(
                    self.command,
                    parts.path,
                    {k: v[0] for k, v in parse_qs(parts.query).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    parsed,
                    self.client_address[1],
                )
                reply = server._dispatch(request)
                if reply is None:
                    self.close_connection = True
                    return
                data = b"" if reply.body is None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                if data:
                    self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        return Handler


_INVALID = object()
"""Marks a body that claimed to be JSON but did not parse."""


def invalid_json(request: Request) -> bool:
    """Whether the request's JSON body did not parse."""
    return request.json is _INVALID
