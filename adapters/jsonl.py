"""The ``jsonl`` adapter: append each event's CloudEvents JSON as one line of a file.

Configuration::

    [adapters.archive]
    type = "jsonl"
    path = "/var/lib/leadflow/events.jsonl"

Each batch (up to 500 events) is appended, flushed and fsynced before it counts as delivered,
so a crash never loses a delivered event (a retried batch may repeat lines: readers dedupe on
the event ``id``). Parent directories are created; threads share one lock. Useful for data
pipelines (tail the file), audits and demos.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from leadflow.adapters._config import check_keys, option
from leadflow.adapters.base import AdapterConfigError, Delivery, Result, SecretResolver

__all__ = ["JsonlAdapter", "create"]


class JsonlAdapter:
    """Appends events to a JSON Lines file (thread-safe)."""

    max_batch = 500

    def __init__(self, name: str, path: str | os.PathLike[str]) -> None:
        self.name = name
        self.path = Path(path)
        self._lock = threading.Lock()
        self._file: io.FileIO | None = None

    def __repr__(self) -> str:
        return f"JsonlAdapter(name={self.name!r}, path={str(self.path)!r})"

    def _open(self) -> io.FileIO:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = io.FileIO(self.path, "ab")
        return self._file

    def deliver(self, deliveries: Sequence[Delivery]) -> list[Result]:
        """Append the batch and fsync it; all delivered, or all retried with the reason."""
        if not deliveries:
            return []
        chunk = "".join(d.event.raw + "\n" for d in deliveries).encode()
        with self._lock:
            start = None
            try:
                handle = self._open()
                start = handle.seek(0, os.SEEK_END)
                view = memoryview(chunk)
                while view:  # unbuffered: a short write is possible, write the rest
                    view = view[handle.write(view) or 0 :]
                os.fsync(handle.fileno())
            except OSError as exc:
                self._truncate(start)
                self._discard()
                reason = exc.strerror or type(exc).__name__
                return [Result.retry(f"cannot append to {self.path}: {reason}")] * len(deliveries)
        return [Result.delivered(f"appended to {self.path}")] * len(deliveries)

    def _truncate(self, start: int | None) -> None:
        """Cut a partly written batch off, so the file never holds half a line."""
        if self._file is None or start is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._file.fileno(), start)

    def _discard(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._discard()


def create(name: str, options: Mapping[str, Any], resolve_secret: SecretResolver) -> JsonlAdapter:
    """The ``jsonl`` adapter factory: one key, ``path``."""
    check_keys(options, ("path",))
    path = option(options, "path", str, what="a file path")
    if not path.strip():
        raise AdapterConfigError("key 'path' must not be empty")
    target = Path(path).expanduser()
    if target.is_dir():
        raise AdapterConfigError(f"key 'path': {target} is a directory; name a file in it")
    return JsonlAdapter(name, target)
