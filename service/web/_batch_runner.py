"""The batch runner: one background thread per server process that works through batch runs
lead by lead (:class:`leadflow.engine.store.BatchRuns`).

Each lead is one engine call as the person who started the run (their role and team then),
so criteria and access rules apply per lead; its outcome is written at once, which is what the
batch page counts. Before each lead the runner checks that the token that started the run is
still live, as every request does (within the service's token cache time): once it is revoked,
the leads not done yet fail with that reason and the run ends. Runs left unfinished by a
stopped server are picked up when it starts again (:meth:`BatchRunner.resume`); a run another
server process holds (its lease runs) is left to it.
"""

from __future__ import annotations

import logging
import os
import queue
import secrets
import socket
import threading
from datetime import timedelta

from leadflow.engine import Engine
from leadflow.engine.store import BatchRun, BatchRuns, TokenStore
from leadflow.service._token_cache import TokenCache
from leadflow.service.web._apply import apply_one

__all__ = ["BatchRunner"]

_log = logging.getLogger(__name__)
_CHUNK = 100


class BatchRunner:
    """Runs batch runs of ``engine`` in a background thread."""

    def __init__(self, engine: Engine, tokens: TokenCache | None = None) -> None:
        self.engine = engine
        self.runs = BatchRuns(engine.store)
        self.tokens = tokens if tokens is not None else TokenCache(TokenStore(engine.store), 0)
        """Where the runner checks that a run's token is still live (the service's cache)."""
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.name = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"
        """This runner's lease owner name."""

    def submit(self, run_id: int) -> None:
        """Work through run ``run_id`` (after the runs submitted before it)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._work, name="leadflow-batches", daemon=True
                )
                self._thread.start()
        self._queue.put(run_id)

    def resume(self) -> None:
        """Submit every run a stopped server left unfinished."""
        for run_id in self.runs.unfinished():
            self.submit(run_id)

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the lead in hand and stop (unfinished runs resume at the next start)."""
        with self._lock:
            thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout)

    def run(self, run_id: int) -> None:
        """Work through one run now, in this thread."""
        run = self.runs.get(run_id)
        if run is None or not self._lease(run_id):
            return
        argument = run.argument
        token = self.tokens.tokens.get(run.created_by)
        token_id = token.id if token is not None and token.revoked_at is None else None
        while self._lease(run_id) and (leads := self.runs.pending(run_id, _CHUNK)):
            for lead_id in leads:
                revoked = self._revoked(run, token_id)
                if revoked is not None:
                    self.runs.fail_pending(run_id, revoked)
                    break
                why = apply_one(self.engine, run.process, run.action, argument, lead_id, run.actor)
                self.runs.settle(run_id, lead_id, why)
                if self._queue.qsize() and self._stopping():
                    now = self.engine.clock.now()
                    self.runs.lease(run_id, self.name, now, hold=timedelta(0))  # let go
                    return
        if not self.runs.pending(run_id, 1):
            self.runs.finish(run_id, self.engine.clock.now())

    def _revoked(self, run: BatchRun, token_id: int | None) -> str | None:
        """Why ``run`` may not go on: the token that started it (live with id ``token_id``
        when the run was taken up, else None) is revoked; None while it is live."""
        if token_id is not None and self.tokens.live(run.created_by, token_id) is not None:
            return None
        return f"not done: the token '{run.created_by}' that started this batch was revoked"

    def _lease(self, run_id: int) -> bool:
        return self.runs.lease(run_id, self.name, self.engine.clock.now())

    def _stopping(self) -> bool:
        with self._queue.mutex:
            return None in self._queue.queue

    def _work(self) -> None:
        while (run_id := self._queue.get()) is not None:
            try:
                self.run(run_id)
            except Exception:  # a database outage: the run stays unfinished and resumes later
                _log.exception("batch run %s stopped", run_id)
