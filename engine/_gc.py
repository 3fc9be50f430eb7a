"""The cyclic garbage collector paused while a batch is planned and written.

A batch of 500-1,000 changes allocates tens of thousands of container objects that stay alive
until it commits; each allocation burst makes the collector scan them, and every tenth scan of
the middle generation scans the whole heap (compiled definitions, pydantic models, caches).
Measured with ``tests/benchmarks/bench_hotpath.py``'s sweep: 0.2 s of 1.4 s went to collections
inside ``decode_time``. Nothing a batch allocates is cyclic garbage before it ends (reference
counting frees what it drops), so the collector waits until the batch is over, as the Python
documentation suggests for allocation-heavy phases. Threads share one collector: the first
batch to start pauses it (if it was running), the last to finish starts it again.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]

_lock = threading.Lock()
_active = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block (re-entrant, thread-safe); left as it was."""
    global _active, _was_enabled
    with _lock:
        if _active == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _was_enabled:
                gc.enable()
