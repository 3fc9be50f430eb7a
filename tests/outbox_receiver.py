"""A local webhook receiver for the outbox tests and benchmark: it dedupes by event id.

In process (``Receiver()``), it records every CloudEvent POSTed to it, in arrival order, and
can be scripted: ``down`` answers 503 (with ``Retry-After`` when ``retry_after`` is set),
``stop()``/``start()`` close and reopen the port (connection refused in between), ``poison``
picks events to refuse with 422 (a permanent error), and ``gate`` holds requests until set.

As a script (``python tests/outbox_receiver.py``) it serves until killed, prints its port on
the first line of stdout, and answers ``GET /count`` with the number of events received: a
receiver in its own process, so it does not share the GIL with the dispatcher.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Arrival:
    """One event as the receiver got it."""

    id: str
    lead: str
    seq: int
    type: str
    idempotency_key: str | None


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1 (port 0: a free one, kept across stop/start)."""

    port: int = 0
    down: bool = False
    retry_after: str | None = None
    poison: Callable[[dict[str, Any]], bool] = lambda event: False
    gate: threading.Event = field(default_factory=threading.Event)
    arrivals: list[Arrival] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    """Ids of events answered with 422."""
    failures: int = 0
    """Requests answered with 503."""
    hold_after: int | None = None
    """Once this many events arrived, hold further requests unanswered until ``release``."""
    held: int = 0
    """Requests being held right now."""
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.gate.set()
        self._server: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.gate.wait(30)
                receiver.hold()
                status, reply, headers = receiver.handle(body, self.headers.get("Idempotency-Key"))
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the sender died (the crash test kills it)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Close the port: connections are refused until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def hold(self) -> None:
        with self.lock:
            holding = self.hold_after is not None and len(self.arrivals) >= self.hold_after
            self.held += holding
        if holding:
            self.release.wait(60)
            with self.lock:
                self.held -= 1

    def handle(self, body: bytes, key: str | None) -> tuple[int, bytes, dict[str, str]]:
        if self.down:
            with self.lock:
                self.failures += 1
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return 503, b'{"error": "maintenance"}', headers
        parsed = json.loads(body)
        events = parsed if isinstance(parsed, list) else [parsed]  # batched or structured mode
        for event in events:
            if self.poison(event):
                with self.lock:
                    self.refused.append(event["id"])
                return 422, b'{"error": "lead rejected by the CRM"}', {}
        with self.lock:
            for event in events:
                data = event["data"]
                arrival = Arrival(event["id"], event["subject"], data["seq"], event["type"], key)
                self.arrivals.append(arrival)
        return 200, b'{"ok": true}', {}

    def unique(self) -> dict[str, Arrival]:
        """Arrivals deduplicated by event id (first arrival kept), as a receiver would."""
        with self.lock:
            out: dict[str, Arrival] = {}
            for a in self.arrivals:
                out.setdefault(a.id, a)
            return out

    def per_lead(self) -> dict[str, list[int]]:
        """Each lead's seqs in the order they first arrived."""
        out: dict[str, list[int]] = {}
        for a in self.unique().values():
            out.setdefault(a.lead, []).append(a.seq)
        return out

    def close(self) -> None:
        self.gate.set()
        self.release.set()
        self.stop()


class _Counting(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and Content-Length bodies, parsed by hand: answering must cost
    the benchmark's second core as little as possible, or it measures the receiver."""

    count = 0
    latency = 0.0
    """Seconds to wait before each answer (``--latency MS`` on the command line)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head)}
            size = end + 4 + int(fields.get("content-length", "0"))
            if len(self.buffer) < size:
                return
            body, self.buffer = self.buffer[end + 4 : size], self.buffer[size:]
            if head[0].startswith("GET"):
                text = str(_Counting.count).encode()
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(text), text)
                )
                continue
            batched = "batch" in fields.get("content-type", "")
            _Counting.count += len(json.loads(body)) if batched else 1
            reply = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
            if _Counting.latency:  # a remote API's round trip, without blocking other clients
                asyncio.get_running_loop().call_later(
                    _Counting.latency, self.transport.write, reply
                )
            else:
                self.transport.write(reply)


async def _serve() -> None:
    """The out-of-process receiver of the benchmark: count events, answer fast."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Counting, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    if "--latency" in sys.argv:
        _Counting.latency = float(sys.argv[sys.argv.index("--latency") + 1]) / 1000
    asyncio.run(_serve())
