"""The worker process: :class:`Worker` and :func:`run_worker` (see the package docstring)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from leadflow.definitions import LeadflowError
from leadflow.engine._engine import Engine
from leadflow.engine.store import purge_answers
from leadflow.engine.worker._registry import Registry, WorkerInfo, WorkerRefused
from leadflow.engine.worker._round import Pump, Round
from leadflow.engine.worker._wakeups import Wakeups

__all__ = [
    "Pump",
    "Worker",
    "WorkerInfo",
    "WorkerOptions",
    "WorkerRefused",
    "WorkerStats",
    "run_worker",
]

log = logging.getLogger("leadflow.worker")

ROUND_JOB = "leadflow-worker-round"
HEARTBEAT_JOB = "leadflow-worker-heartbeat"
SUMMARY_JOB = "leadflow-worker-summary"
HOUSEKEEPING_JOB = "leadflow-worker-housekeeping"


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How a worker paces itself. Times are in seconds."""

    batch: int = 500
    """Timers per transaction (1 to 10,000)."""
    poll: float | None = 0.5
    """Idle re-check for work written by other processes; None: only ``recheck``."""
    recheck: float = 30.0
    """The longest a worker sleeps, whatever it knows about due work."""
    budget: float = 1.0
    """Seconds of timer batches per round before schedules and pumps get their turn."""
    heartbeat: float = 5.0
    """Seconds between heartbeats in ``lf_workers``."""
    stale_after: float = 30.0
    """A SQLite worker whose heartbeat is older than this may be taken over."""
    summary_every: float = 60.0
    """Seconds between the info-level summary lines."""
    retry: float = 5.0
    """Seconds to wait after a round failed (the database was unreachable, say)."""
    housekeeping: float = 3600.0
    """Seconds between housekeeping runs (the first runs when the worker starts)."""
    listen: bool = True
    """On PostgreSQL, wake at once when a commit writes new work (LISTEN/NOTIFY); the poll
    stays as the fallback."""
    keep_answers: float = 86_400.0
    """Seconds an ``Idempotency-Key``'s first answer is kept (60 s to 90 days); housekeeping
    deletes older ones, and a retry later than that does the write again."""

    def __post_init__(self) -> None:
        if not 1 <= self.batch <= 10_000:
            raise ValueError(f"WorkerOptions.batch must be 1 to 10000 timers, not {self.batch}")
        if not 60 <= self.keep_answers <= 90 * 86_400:
            raise ValueError(
                "WorkerOptions.keep_answers must be 60 to 7776000 seconds (90 days), "
                f"not {self.keep_answers!r}"
            )
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("batch", "keep_answers", "listen") or (
                f.name == "poll" and value is None
            ):
                continue
            if not 0.01 <= value <= 86_400:
                raise ValueError(
                    f"WorkerOptions.{f.name} must be 0.01 to 86400 seconds, not {value!r}"
                )
        if self.stale_after < 2 * self.heartbeat:
            raise ValueError(
                f"WorkerOptions.stale_after ({self.stale_after} s) must be at least twice the "
                f"heartbeat ({self.heartbeat} s), or a live worker could be taken over"
            )


@dataclass(slots=True)
class WorkerStats:
    """What a worker did since it started."""

    timers: int = 0
    """Timers processed (fired, or found stale and dropped)."""
    schedules: int = 0
    """Schedule occurrences run."""
    deliveries: int = 0
    """Work items the pumps reported (outbox deliveries attempted)."""
    rounds: int = 0
    """Rounds run."""
    errors: int = 0
    """Rounds that failed (and were retried)."""
    answers_purged: int = 0
    """Idempotency answers older than ``WorkerOptions.keep_answers`` that housekeeping deleted."""
    taken_over: list[WorkerInfo] = field(default_factory=list)
    """Gone workers whose registration this one removed on start."""


class Worker:
    """Runs rounds for ``engine`` in a background scheduler thread (see the module docstring).

    ``pumps`` are driven too (an outbox ``Dispatcher``). :meth:`start` registers the worker
    (raising :class:`WorkerRefused` on a SQLite database that already has a live worker) and
    returns; :meth:`stop` finishes the current batch and unregisters. Time is the engine's.
    """

    def __init__(
        self,
        engine: Engine,
        options: WorkerOptions | None = None,
        *,
        pumps: Sequence[Pump] = (),
    ) -> None:
        self.engine = engine
        self.options = options = options or WorkerOptions()
        self.pumps = list(pumps)
        self.stats = WorkerStats()
        self._registry = Registry(engine.store, timedelta(seconds=options.stale_after))
        self._stopping = threading.Event()
        self._done = threading.Event()
        self._round = Round(
            engine,
            self.pumps,
            batch=options.batch,
            budget=options.budget,
            poll=options.poll,
            recheck=options.recheck,
            stopping=self._stopping,
        )
        self._round_lock = threading.Lock()
        self._woken = threading.Event()
        self.wakeups = Wakeups(engine.store, self._wake, self._stopping)
        """The LISTEN thread (PostgreSQL; ``WorkerOptions.listen``)."""
        self._scheduler: BackgroundScheduler | None = None
        self._lock = threading.Lock()
        self._last = WorkerStats()
        self.next_work: datetime | None = None
        """The earliest due work the last round knew of (engine time)."""

    @property
    def id(self) -> str:
        """This worker's id in ``lf_workers``."""
        return self._registry.id

    @property
    def running(self) -> bool:
        """Whether the worker was started and not stopped."""
        return self._scheduler is not None and not self._done.is_set()

    def workers(self) -> list[WorkerInfo]:
        """Every worker registered on this database (this one included)."""
        return self._registry.workers()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Register and start the scheduler thread; the first round runs at once (catch-up)."""
        with self._lock:
            if self._scheduler is not None:
                raise RuntimeError("this worker was already started; make a new Worker")
            gone = self._registry.register(self.engine.clock.now())
            for info in gone:
                log.warning(
                    "took over from worker %s (host %s, pid %d, last seen %s)",
                    info.id,
                    info.host,
                    info.pid,
                    info.heartbeat_at.isoformat(timespec="seconds"),
                )
            self.stats.taken_over = gone
            opts = self.options
            scheduler = BackgroundScheduler(
                timezone=UTC,
                executors={"default": ThreadPoolExecutor(2)},
                # a late run is still needed (never skipped: the default 1 s grace would drop
                # it), and runs that piled up are one run (a round does everything due anyway)
                job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            )
            wall = _scheduler_now()
            jobs: list[tuple[str, Any, float]] = [
                (ROUND_JOB, self._run_round, opts.recheck),
                (HEARTBEAT_JOB, self._heartbeat, opts.heartbeat),
                (SUMMARY_JOB, self._summary, opts.summary_every),
                (HOUSEKEEPING_JOB, self.housekeep, opts.housekeeping),
            ]
            for job_id, func, every in jobs:
                scheduler.add_job(
                    func,
                    IntervalTrigger(seconds=every, timezone=UTC),
                    id=job_id,
                    replace_existing=True,
                    max_instances=2 if job_id == ROUND_JOB else 1,
                    next_run_time=(
                        wall
                        if job_id in (ROUND_JOB, HOUSEKEEPING_JOB)
                        else wall + timedelta(seconds=every)
                    ),
                )
            self._scheduler = scheduler
            scheduler.start()
            listening = opts.listen and self.wakeups.start()
        log.info(
            "worker %s started (host %s, pid %d): batch %d, poll %s%s, database %s",
            self.id,
            self._registry.host,
            self._registry.pid,
            opts.batch,
            "off" if opts.poll is None else f"{opts.poll:g} s",
            ", woken by notifications" if listening else "",
            self.engine.store.sa.url.render_as_string(hide_password=True),
        )

    def request_stop(self) -> None:
        """Ask the worker to stop after the current batch (safe from a signal handler)."""
        self._stopping.set()
        self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker is asked to stop (True) or ``timeout`` passes (False)."""
        return self._done.wait(timeout)

    def stop(self) -> WorkerStats:
        """Stop after the current batch commits, unregister, and return the stats."""
        self.request_stop()
        with self._lock:
            scheduler = self._scheduler
            if scheduler is None or not scheduler.running:
                return self.stats
            # Wait for the round in progress (its batch commits), then shut the scheduler down
            # without waiting on its threads: APScheduler 3's shutdown(wait=True) holds the job
            # store lock while it joins them, and a round that is just rescheduling itself
            # needs that lock (a deadlock seen in CI). Rounds queued meanwhile see the stop
            # flag and return at once.
            with self._round_lock:
                scheduler.shutdown(wait=False)
        self.wakeups.join()
        try:
            self._registry.unregister()
        except LeadflowError as exc:
            log.warning("could not unregister worker %s: %s", self.id, exc)
        s = self.stats
        log.info(
            "worker %s stopped: %d timers, %d schedules, %d deliveries in %d rounds",
            self.id,
            s.timers,
            s.schedules,
            s.deliveries,
            s.rounds,
        )
        return s

    def run(self) -> WorkerStats:
        """Start, work until :meth:`request_stop` (or a lost registration), stop; the stats."""
        self.start()
        try:
            while not self._done.wait(1.0):
                pass
        finally:
            self.stop()
        return self.stats

    def __enter__(self) -> Worker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the jobs ------------------------------------------------------------------------------

    def _run_round(self) -> None:
        # A round that asks for the next one at once may see it submitted before it returned
        # (max_instances=2 lets it queue instead of being skipped); the lock runs them in turn.
        with self._round_lock:
            if self._stopping.is_set():
                return
            self._woken.clear()
            delay = self._one_round()
            # work notified while the round ran may be newer than what it read: look again
            self._reschedule(0.0 if self._woken.is_set() else delay)

    def _wake(self) -> None:
        """A notification: new work was committed; run a round now (once: more notifications
        before that round starts ask for nothing more, instead of piling up rounds that
        APScheduler then skips with a warning each)."""
        if self._woken.is_set():
            return
        self._woken.set()
        self._reschedule(0.0)

    def _one_round(self) -> float:
        """Run one round; the delay until the next."""
        try:
            result = self._round.run()
        except LeadflowError as exc:
            log.error("worker round failed: %s; retrying in %g s", exc, self.options.retry)
            self.stats.errors += 1
            return self.options.retry
        except Exception:
            log.exception("worker round failed; retrying in %g s", self.options.retry)
            self.stats.errors += 1
            return self.options.retry
        s = self.stats
        s.rounds += 1
        s.timers += result.timers
        s.schedules += result.schedules
        s.deliveries += result.deliveries
        self.next_work = result.next_work
        return result.delay

    def _reschedule(self, delay: float) -> None:
        """Move the round job to ``delay`` seconds from now (called by the round itself: the
        scheduler has already set the job's next interval run, so this one wins)."""
        scheduler = self._scheduler
        if scheduler is None or self._stopping.is_set():
            return
        with suppress(JobLookupError):  # the scheduler is shutting down
            scheduler.modify_job(
                ROUND_JOB, next_run_time=_scheduler_now() + timedelta(seconds=delay)
            )

    def _heartbeat(self) -> None:
        try:
            kept = self._registry.heartbeat(self.engine.clock.now())
        except LeadflowError as exc:
            log.warning("worker heartbeat failed: %s", exc)
            return
        if not kept:
            log.error(
                "worker %s was taken over by another worker (its heartbeat was older than "
                "%g s); stopping, as SQLite allows one worker at a time",
                self.id,
                self.options.stale_after,
            )
            self.request_stop()

    def housekeep(self) -> int:
        """Delete idempotency answers older than ``keep_answers`` (engine time); how many went.

        The worker runs it every ``housekeeping`` seconds; a failure is logged and retried then.
        Several workers on one database may run it at once: the deletes do not conflict.
        """
        before = self.engine.clock.now() - timedelta(seconds=self.options.keep_answers)
        try:
            gone = purge_answers(self.engine.store, before)
        except LeadflowError as exc:
            log.warning("worker housekeeping failed: %s", exc)
            return 0
        self.stats.answers_purged += gone
        if gone:
            log.info("housekeeping: deleted %d idempotency answers older than %s", gone, before)
        return gone

    def _summary(self) -> None:
        s, last = self.stats, self._last
        log.info(
            "last %g s: %d timers, %d schedules, %d deliveries, %d errors; next work %s",
            self.options.summary_every,
            s.timers - last.timers,
            s.schedules - last.schedules,
            s.deliveries - last.deliveries,
            s.errors - last.errors,
            "none known" if self.next_work is None else self.next_work.isoformat(),
        )
        self._last = WorkerStats(s.timers, s.schedules, s.deliveries, s.rounds, s.errors)


def _scheduler_now() -> datetime:
    """APScheduler's own time base (the wall clock): job run times are set in it, as delays
    computed on the engine's clock."""
    return datetime.now(UTC)


@contextmanager
def _stop_on_signals(worker: Worker) -> Iterator[None]:
    """SIGTERM and SIGINT ask ``worker`` to stop (only in the main thread, where Python can)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda *_: worker.request_stop())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_worker(
    db: Engine | str,
    options: WorkerOptions | None = None,
    *,
    pumps: Sequence[Pump] = (),
    made: Callable[[Worker], object] | None = None,
) -> WorkerStats:
    """Run a worker on ``db`` (an :class:`Engine` or a database URL) until SIGTERM or SIGINT.

    Signals are handled when called from the main thread; elsewhere call
    :meth:`Worker.request_stop`. An engine made here from a URL is closed at the end. Raises
    :class:`WorkerRefused` when SQLite already has a live worker. ``made`` is called with the
    worker before it starts (to export its metrics, say).
    """
    engine = Engine(db) if isinstance(db, str) else db
    try:
        worker = Worker(engine, options, pumps=pumps)
        if made is not None:
            made(worker)
        with _stop_on_signals(worker):
            return worker.run()
    finally:
        if engine is not db:
            engine.close()
