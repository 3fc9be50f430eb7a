"""An ASGI app served by uvicorn on 127.0.0.1 in a thread, for tests that call it over sockets."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn


class Served:
    """``app`` served on a free port of 127.0.0.1 until :meth:`close`; ``url`` is its base."""

    def __init__(self, app: Any, **options: Any) -> None:
        self.app = app
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", **options
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)  # waiting for a real server socket
        assert self.server.started, "uvicorn did not start"
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive()

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
