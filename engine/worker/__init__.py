"""The worker: fires due SLA timers, runs definition schedules and pumps the outbox.

    from leadflow.engine import Engine
    from leadflow.engine.worker import Worker, WorkerOptions, run_worker

    run_worker("sqlite:///leadflow.db")  # until SIGTERM or SIGINT (``leadflow worker --db URL``)

    with Worker(engine, WorkerOptions(batch=500)) as worker:  # in a thread of a host process
        ...

An APScheduler ``BackgroundScheduler`` decides *when* the worker works; the durable per-lead
deadlines stay in ``lf_timers`` (never one APScheduler job per lead). It runs one job, the round
(:mod:`leadflow.engine.worker._round`), whose next run time is moved after every round to the
earliest due work: the next timer, the next schedule occurrence, a pump's next work, or at once
while a backlog is left. Timers written by other processes are noticed by the idle poll (a
``SELECT min(due_at)`` every ``poll`` seconds, 0.5 s by default) and at the latest by the safety
re-check (``recheck``, 30 s). Two more jobs write the heartbeat and log a summary.

Every timer is deleted in the transaction that writes its effects, so a worker killed at any
point leaves unfired timers due and fires them, once, after restart; marks missed while no worker
ran are recorded at their due time. On PostgreSQL any number of workers share the load (timers
are claimed with ``FOR UPDATE SKIP LOCKED``); on SQLite a second worker is refused
(:class:`WorkerRefused`). :meth:`Worker.stop` (and SIGTERM/SIGINT in :func:`run_worker`) lets
the current batch commit and ends the worker.
"""

from leadflow.engine.worker._registry import WorkerInfo, WorkerRefused
from leadflow.engine.worker._round import Pump
from leadflow.engine.worker._wakeups import Wakeups
from leadflow.engine.worker._worker import Worker, WorkerOptions, WorkerStats, run_worker

__all__ = [
    "Pump",
    "Wakeups",
    "Worker",
    "WorkerInfo",
    "WorkerOptions",
    "WorkerRefused",
    "WorkerStats",
    "run_worker",
]
