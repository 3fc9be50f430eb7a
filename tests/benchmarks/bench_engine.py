"""leadflow engine benchmark: one command, one table, ratios measured in the same run.

Run from the repository root (leadflow importable, e.g. installed or via PYTHONPATH)::

    python tests/benchmarks/bench_engine.py            # full run, at most ~3-4 minutes
    python tests/benchmarks/bench_engine.py --quick    # smaller counts, under 30 seconds
    python tests/benchmarks/bench_engine.py --profile  # then cProfile fire, fire_many, decide()

What is measured (each timed part is repeated 3 times, interleaved, and the best run is kept):

1. ``Engine.start`` and ``Engine.fire`` on a file SQLite database (WAL, synchronous=NORMAL, as
   the engine configures it), one transaction per call. The fire is the reference definition's
   ``lose`` from ``new`` with ``{"lost_reason": "bad_data"}``: its guard needs no activities, so
   every fire is one SELECT, one UPDATE, two INSERTs and a commit.
2. The stdlib ``sqlite3`` floor writing the same rows into the same schema (created by the
   engine) with the same pragmas and JSON documents of the same shape, and the engine/raw ratio.
3. ``start_many`` / ``fire_many`` (one transaction per 1,000 items), with the same raw rows
   written 1,000 per transaction as an informational floor.
4. Bare ``transitions`` dispatch on a shared machine versus ``CompiledProcess.decide``.
5. Process RSS after a small and a large number of leads started with ``start_many``.

It is a benchmark, not a test: the exit code is 0 whatever the figures are.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import json
import os
import platform
import pstats
import re
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

try:
    import transitions
    from transitions import Machine

    import leadflow.definitions
    import leadflow.engine
    from leadflow.definitions import ProcessDefinition, load_definition
    from leadflow.engine import Engine
    from leadflow.engine._compiler import CompiledProcess
    from leadflow.engine._criteria import Activity, EvalContext
except ImportError as exc:  # pragma: no cover - a usage error, not a benchmark result
    sys.exit(f"cannot import leadflow ({exc}); install it or set PYTHONPATH (see README.md)")

REFERENCE = Path(__file__).resolve().parents[1] / "definitions" / "reference.yaml"
PROCESS = "inbound-lead"
REPEATS = 3
MIB = 1024 * 1024
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # how the engine stores times in SQLite
LOSE_DATA: dict[str, Any] = {"lost_reason": "bad_data"}
BATCH = 1_000  # items per transaction in start_many/fire_many (the engine's _BATCH)


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much work each part does."""

    per_call: int
    """Leads started (and then fired) per repetition, one transaction per call."""
    batch: int
    """Leads started with start_many (and then fired with fire_many) per repetition."""
    dispatch: int
    """Dispatches per repetition, without the database."""
    rss_small: int
    rss_large: int
    profile: int
    """Fires run under cProfile with --profile (4x that for fire_many, 10x for decide)."""


QUICK = Sizes(
    per_call=800, batch=4_000, dispatch=20_000, rss_small=2_000, rss_large=20_000, profile=1_500
)
FULL = Sizes(
    per_call=10_000,
    batch=50_000,
    dispatch=300_000,
    rss_small=10_000,
    rss_large=200_000,
    profile=5_000,
)


# -- helpers -----------------------------------------------------------------------------------


def lead_data(n: int) -> dict[str, Any]:
    """The data every benchmark lead starts with (valid for the reference definition)."""
    return {"email": f"lead{n}@example.com", "score": 75, "segment": "smb"}


def dumps(value: Any) -> str:
    """Compact JSON, like the engine writes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def rss_mib() -> float:
    """Current resident set size (VmRSS) in MiB; falls back to the peak RSS off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024 / MIB
    except OSError:
        pass
    import resource  # POSIX only, and only needed off Linux

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (MIB if sys.platform == "darwin" else 1024)


def timed(fn: Callable[..., object], *args: Any) -> float:
    """Seconds ``fn(*args)`` takes (after a garbage collection, so earlier parts do not leak in)."""
    gc.collect()
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


@dataclass(slots=True)
class Best:
    """Best-of-N bookkeeping for one timed part: operations per repetition and the run times."""

    ops: int
    seconds: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        self.seconds.append(seconds)

    @property
    def rate(self) -> float:
        """Operations per second of the fastest repetition."""
        return self.ops / min(self.seconds)

    @property
    def spread(self) -> float:
        """Slowest over fastest repetition: how noisy the machine was."""
        return max(self.seconds) / min(self.seconds)


# -- 1. the engine, one transaction per call ---------------------------------------------------


def open_engine(path: Path) -> Engine:
    engine = Engine(f"sqlite:///{path}")
    engine.deploy(REFERENCE)
    return engine


def engine_start(engine: Engine, ids: list[str], first: int) -> None:
    for n, lead_id in enumerate(ids, first):
        engine.start(PROCESS, lead_id, lead_data(n), owner="ann", actor="bench")


def engine_fire(engine: Engine, ids: list[str]) -> None:
    for lead_id in ids:
        engine.fire(PROCESS, lead_id, "lose", LOSE_DATA, actor="bench")


# -- 2. the raw sqlite3 floor ------------------------------------------------------------------

_COLS = (
    "id, process, lead_id, definition_version, stage, owner, data, closed, version, "
    "created_at, updated_at, stage_entered_at, stage_seq"
)
SQL_LOAD = f"SELECT {_COLS} FROM lf_instances WHERE process = ? AND lead_id = ?"
SQL_INSERT = (
    "INSERT INTO lf_instances (process, lead_id, definition_version, stage, owner, data, closed, "
    "version, created_at, updated_at, stage_entered_at, stage_seq) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SQL_UPDATE = (
    "UPDATE lf_instances SET definition_version = ?, stage = ?, owner = ?, data = ?, closed = ?, "
    "version = ?, updated_at = ?, stage_entered_at = ?, stage_seq = ? WHERE id = ? AND version = ?"
)
SQL_HISTORY = (
    "INSERT INTO lf_history (instance_id, seq, at, kind, trigger, from_stage, to_stage, actor, "
    "details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SQL_OUTBOX = (
    "INSERT INTO lf_outbox (event_id, instance_id, seq, type, at, payload) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
LOSE_CRITERIA = [
    {
        "id": "requires_lost_reason",
        "message": "Provide 'lost_reason' with 'lose'",
        "met": True,
        "kind": "requires",
        "source": "guard:lose",
        "seen": {"lost_reason": "bad_data"},
    }
]


def raw_connect(path: Path) -> sqlite3.Connection:
    """The stdlib connection with the engine's pragmas (and the driver's default transactions)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def envelope(event_type: str, lead_id: str, now: datetime, data: dict[str, Any]) -> tuple[str, str]:
    """(event id, the CloudEvents JSON text) shaped like the engine's outbox payload."""
    event_id = str(uuid.uuid4())
    return event_id, dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": f"/leadflow/{PROCESS}",
            "type": event_type,
            "subject": lead_id,
            "time": now.isoformat(),
            "datacontenttype": "application/json",
            "data": data,
        }
    )


def started_docs(lead_id: str, data: dict[str, Any], now: datetime) -> tuple[str, str, str]:
    """(history details JSON, event id, outbox payload JSON) of a started lead."""
    event_id, payload = envelope(
        "leadflow.lead.started",
        lead_id,
        now,
        {
            "process": PROCESS,
            "definition_version": 1,
            "lead_id": lead_id,
            "seq": 1,
            "stage": "new",
            "owner": "ann",
            "actor": "bench",
            "data": data,
        },
    )
    return dumps({"data": data}), event_id, payload


def lost_docs(
    lead_id: str, stage: str, owner: str | None, seq: int, now: datetime
) -> tuple[str, str, str]:
    """(history details JSON, event id, outbox payload JSON) of a ``lose`` fire."""
    details = {
        "criteria": LOSE_CRITERIA,
        "changes": {"lost_reason": [None, "bad_data"]},
        "closed": "lost",
    }
    event_id, payload = envelope(
        "leadflow.lead.closed_lost",
        lead_id,
        now,
        {
            "process": PROCESS,
            "definition_version": 1,
            "lead_id": lead_id,
            "seq": seq,
            "stage": "lost",
            "owner": owner,
            "actor": "bench",
            "trigger": "lose",
            "from_stage": stage,
            "to_stage": "lost",
            **details,
        },
    )
    return dumps(details), event_id, payload


Params = tuple[Any, ...]


def raw_insert_lead(cur: sqlite3.Cursor, lead_id: str, n: int) -> tuple[Params, Params]:
    """INSERT one instance row; the (history, outbox) parameters that go with it."""
    now = datetime.now(UTC)
    at = now.strftime(TIME_FORMAT)
    data = lead_data(n)
    cur.execute(
        SQL_INSERT, (PROCESS, lead_id, 1, "new", "ann", dumps(data), None, 1, at, at, at, 1)
    )
    iid = cur.lastrowid
    details, event_id, payload = started_docs(lead_id, data, now)
    return (
        (iid, 1, at, "started", None, None, "new", "bench", details),
        (event_id, iid, 1, "leadflow.lead.started", at, payload),
    )


def raw_plan_lose(row: Params) -> tuple[Params, Params, Params]:
    """(UPDATE, history, outbox) parameters of a ``lose`` fire on a selected instance row."""
    now = datetime.now(UTC)
    at = now.strftime(TIME_FORMAT)
    iid, lead_id, stage, owner, version = row[0], row[2], row[4], row[5], row[8]
    data = json.loads(row[6])
    data["lost_reason"] = "bad_data"
    seq = version + 1
    details, event_id, payload = lost_docs(lead_id, stage, owner, seq, now)
    return (
        (1, "lost", owner, dumps(data), "lost", seq, at, at, seq, iid, version),
        (iid, seq, at, "transition", "lose", stage, "lost", "bench", details),
        (event_id, iid, seq, "leadflow.lead.closed_lost", at, payload),
    )


def raw_start(conn: sqlite3.Connection, ids: list[str], first: int) -> None:
    """Per lead: INSERT instance, INSERT history, INSERT outbox, commit."""
    cur = conn.cursor()
    for n, lead_id in enumerate(ids, first):
        history, event = raw_insert_lead(cur, lead_id, n)
        cur.execute(SQL_HISTORY, history)
        cur.execute(SQL_OUTBOX, event)
        conn.commit()
    cur.close()


def raw_fire(conn: sqlite3.Connection, ids: list[str]) -> None:
    """Per lead: SELECT, version-checked UPDATE, INSERT history, INSERT outbox, commit."""
    cur = conn.cursor()
    for lead_id in ids:
        cur.execute(SQL_LOAD, (PROCESS, lead_id))
        update, history, event = raw_plan_lose(cur.fetchone())
        cur.execute(SQL_UPDATE, update)
        if cur.rowcount != 1:
            raise RuntimeError(f"raw fire lost a race on {lead_id}")
        cur.execute(SQL_HISTORY, history)
        cur.execute(SQL_OUTBOX, event)
        conn.commit()
    cur.close()


def raw_start_many(conn: sqlite3.Connection, ids: list[str], first: int) -> None:
    """Per 1,000 leads: an INSERT per instance, executemany history and outbox, one commit."""
    cur = conn.cursor()
    for start in range(0, len(ids), BATCH):
        history, events = [], []
        for n, lead_id in enumerate(ids[start : start + BATCH], first + start):
            h, e = raw_insert_lead(cur, lead_id, n)
            history.append(h)
            events.append(e)
        cur.executemany(SQL_HISTORY, history)
        cur.executemany(SQL_OUTBOX, events)
        conn.commit()
    cur.close()


def raw_fire_many(conn: sqlite3.Connection, ids: list[str]) -> None:
    """Per 1,000 leads: SELECT ... IN (500 at a time), executemany UPDATE/history/outbox, commit."""
    cur = conn.cursor()
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        rows = []
        for i in range(0, len(batch), 500):
            chunk = batch[i : i + 500]
            marks = ", ".join("?" * len(chunk))
            cur.execute(
                f"SELECT {_COLS} FROM lf_instances WHERE process = ? AND lead_id IN ({marks})",
                (PROCESS, *chunk),
            )
            rows.extend(cur.fetchall())
        planned = [raw_plan_lose(row) for row in rows]
        cur.executemany(SQL_UPDATE, [p[0] for p in planned])
        if cur.rowcount != len(batch):
            raise RuntimeError("raw fire_many lost a race")
        cur.executemany(SQL_HISTORY, [p[1] for p in planned])
        cur.executemany(SQL_OUTBOX, [p[2] for p in planned])
        conn.commit()
    cur.close()


def json_sizes(path: Path) -> tuple[float, float]:
    """Average length of lf_history.details and lf_outbox.payload (to show they are comparable)."""
    with sqlite3.connect(path) as conn:
        details = conn.execute("SELECT avg(length(details)) FROM lf_history").fetchone()[0]
        payload = conn.execute("SELECT avg(length(payload)) FROM lf_outbox").fetchone()[0]
    conn.close()
    return float(details or 0), float(payload or 0)


# -- 3. batches --------------------------------------------------------------------------------


StartItem = tuple[str, dict[str, Any], str, str]
FireItem = tuple[str, str, dict[str, Any], str]


def start_items(ids: list[str], first: int) -> list[StartItem]:
    """``start_many`` items (lead_id, data, owner, actor), built before the clock starts."""
    return [(lead_id, lead_data(n), "ann", "bench") for n, lead_id in enumerate(ids, first)]


def fire_items(ids: list[str]) -> list[FireItem]:
    """``fire_many`` items (lead_id, trigger, data, actor), built before the clock starts."""
    return [(lead_id, "lose", LOSE_DATA, "bench") for lead_id in ids]


def batch_start(engine: Engine, items: list[StartItem]) -> None:
    result = engine.start_many(PROCESS, items)
    if result.failed:
        raise RuntimeError(f"start_many failed: {result.failed[0]}")


def batch_fire(engine: Engine, items: list[FireItem]) -> None:
    result = engine.fire_many(PROCESS, items)
    if result.failed:
        raise RuntimeError(f"fire_many failed: {result.failed[0]}")


# -- 4. dispatch without the database ----------------------------------------------------------


class _Lead:
    """A plain model object for the bare machine: just a state."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


def _always(_event: object) -> bool:
    return True


def bare_machine(definition: ProcessDefinition) -> Machine:
    """A shared machine with the definition's states and transitions, always-true conditions."""
    machine = Machine(
        model=None,
        states=list(definition.stages),
        initial=definition.initial_stage,
        auto_transitions=False,
        send_event=True,
        queued=False,
    )
    for t in definition.transitions:
        for source in definition.source_stages(t):
            machine.add_transition(t.name, source, t.to, conditions=[_always])
    return machine


@dataclass(frozen=True, slots=True)
class Step:
    """One dispatch: a lead in ``stage`` gets ``trigger`` with ``payload``; guards pass."""

    stage: str
    trigger: str
    payload: dict[str, Any]
    lead: dict[str, Any]


def dispatch_steps() -> list[Step]:
    """The reference happy path plus ``lose`` from every open stage (all decisions succeed)."""
    base = {**lead_data(0), "budget": 50_000, "decision_maker": "Dana"}
    lost = {**base, **LOSE_DATA}
    return [
        Step("new", "contact", {}, base),  # activity criterion: one call
        Step("contacted", "qualify", {}, base),  # exit field_set + CEL + field_set
        Step("qualified", "win", {}, base),  # no criteria
        Step("new", "lose", LOSE_DATA, lost),  # requires lost_reason
        Step("contacted", "lose", LOSE_DATA, lost),
        Step("qualified", "lose", LOSE_DATA, lost),
    ]


def bare_dispatch(machine: Machine, steps: list[Step], n: int) -> None:
    events = machine.events
    for i in range(n):
        step = steps[i % len(steps)]
        events[step.trigger].trigger(_Lead(step.stage))


def compiled_dispatch(compiled: CompiledProcess, steps: list[Step], n: int) -> None:
    entered = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    now = entered + timedelta(hours=2)
    acts = [Activity("call", entered + timedelta(minutes=5), 3)]
    contract = compiled.contract
    decide = compiled.decide
    for i in range(n):
        step = steps[i % len(steps)]
        ctx = EvalContext(  # as Engine._context builds it
            lead=step.lead,
            payload=step.payload,
            stage=step.stage,
            stage_entered_at=entered,
            stage_seq=2,
            now=now,
            owner="ann",
            activities=acts,
            contract=contract,
        )
        decide(step.trigger, ctx)


def check_dispatch(machine: Machine, compiled: CompiledProcess, steps: list[Step]) -> None:
    """Both dispatchers take every step's transition (so neither measures a refusal)."""
    for step in steps:
        lead = _Lead(step.stage)
        if not machine.events[step.trigger].trigger(lead):
            raise RuntimeError(f"bare machine refused {step.trigger} from {step.stage}")
        now = datetime.now(UTC)
        ctx = EvalContext(
            lead=step.lead,
            payload=step.payload,
            stage=step.stage,
            stage_entered_at=now,
            stage_seq=2,
            now=now,
            owner="ann",
            activities=[Activity("call", now, 3)],
            contract=compiled.contract,
        )
        decision = compiled.decide(step.trigger, ctx)
        if decision.transition is None:
            raise RuntimeError(f"decide refused {step.trigger} from {step.stage}: {decision}")


# -- 5. memory ---------------------------------------------------------------------------------


def rss_chunk(sizes: Sizes) -> int:
    """Leads per start_many call in the memory part (a divisor of both checkpoints)."""
    return min(10_000, sizes.rss_small)


def measure_rss(workdir: Path, small: int, large: int, chunk: int) -> tuple[float, float, float]:
    """(RSS before, after ``small``, after ``large`` leads) in MiB; start_many ``chunk`` a call."""
    engine = open_engine(workdir / "rss.db")
    try:
        gc.collect()
        before = rss_mib()
        started = 0
        after_small = 0.0
        while started < large:
            ids = [f"rss-{n}" for n in range(started, started + chunk)]
            batch_start(engine, start_items(ids, started))
            started += chunk
            if started == small:
                gc.collect()
                after_small = rss_mib()
        gc.collect()
        after_large = rss_mib()
    finally:
        engine.close()
    return before, after_small, after_large


# -- profile -----------------------------------------------------------------------------------


def _module_dir(module: ModuleType) -> str:
    return os.path.dirname(os.path.abspath(str(module.__file__)))


def _short(key: tuple[str, int, str], prefixes: tuple[str, ...]) -> str:
    filename, line, func = key
    if filename == "~":
        return func
    path = os.path.abspath(filename)
    for prefix in prefixes:
        if path.startswith(prefix):
            return f"{os.path.relpath(path, prefix)}:{line}({func})"
    return f"{os.path.basename(filename)}:{line}({func})"


def _area(key: tuple[str, int, str], engine_dir: str, definitions_dir: str) -> str:
    filename, _line, func = key
    path = os.path.abspath(filename).replace("\\", "/")
    if filename == "~":
        if "sqlite3" in func:
            return "sqlite3 (C: execute, fetch, commit)"
        if "json" in func or "encode" in func:
            return "json (C)"
        if "datetime" in func:
            return "datetime (C: strftime, fromisoformat, ...)"
        if "cel" in func.lower() or "Program" in func:
            return "CEL programs (compiled extension)"
        return "other builtins"
    if "/sqlalchemy/" in path:
        return "sqlalchemy (pool checkout/return)"
    if "/transitions/" in path:
        return "transitions"
    if "/json/" in path:
        return "json"
    if path.startswith(engine_dir):
        return "leadflow.engine"
    if path.startswith(definitions_dir):
        return "leadflow.definitions"
    if "uuid" in path:
        return "uuid"
    if "/cel/" in path:
        return "CEL"
    if "/logging/" in path:
        return "logging (transitions' debug calls)"
    if path.endswith("dataclasses.py"):
        return "dataclasses.replace"
    if path == os.path.abspath(__file__):
        return "the benchmark loop itself"
    return "other Python"


def print_profile(profiler: cProfile.Profile, title: str, n: int, unit: str) -> None:
    """Top 15 cumulative entries of leadflow/transitions, top 15 own time, own time by area."""
    engine_dir = _module_dir(leadflow.engine)
    definitions_dir = _module_dir(leadflow.definitions)
    transitions_dir = _module_dir(transitions)
    prefixes = tuple(os.path.dirname(d) for d in (engine_dir, definitions_dir, transitions_dir))
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = max(float(stats.total_tt), 1e-9)  # type: ignore[attr-defined]
    ours = re.compile(
        "|".join(re.escape(d) for d in (engine_dir, definitions_dir, transitions_dir))
    )
    print(f"\n=== Profile: {title} ===")
    print(
        f"total {total:.2f} s = {total / n * 1e6:,.1f} us per {unit} under cProfile (its "
        "overhead inflates Python code); % = of that total\n"
    )
    print("Top 15 by cumulative time, leadflow and transitions only:")
    print(
        f"  {'calls':>9} {'tottime s':>9} {'cumtime s':>9} {'us/' + unit:>10} {'cum %':>6}"
        "  function"
    )
    mine = [(k, v) for k, v in raw.items() if ours.search(os.path.abspath(k[0]))]
    mine.sort(key=lambda kv: kv[1][3], reverse=True)
    for key, (_cc, nc, tt, ct, _callers) in mine[:15]:
        print(
            f"  {nc:>9,} {tt:>9.3f} {ct:>9.3f} {ct / n * 1e6:>10.1f} {ct / total * 100:>5.1f}%"
            f"  {_short(key, prefixes)}"
        )
    print("\nTop 15 by own time, any code (C calls included):")
    print(f"  {'calls':>9} {'tottime s':>9} {'us/' + unit:>10} {'own %':>6}  function")
    everything = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)
    for key, (_cc, nc, tt, _ct, _callers) in everything[:15]:
        print(
            f"  {nc:>9,} {tt:>9.3f} {tt / n * 1e6:>10.1f} {tt / total * 100:>5.1f}%"
            f"  {_short(key, prefixes)}"
        )
    areas: dict[str, float] = {}
    for key, (_cc, _nc, tt, _ct, _callers) in raw.items():
        area = _area(key, engine_dir, definitions_dir)
        areas[area] = areas.get(area, 0.0) + tt
    print("\nOwn time by area:")
    for area, tt in sorted(areas.items(), key=lambda kv: kv[1], reverse=True):
        print(f"  {area:<44} {tt:>7.3f} s {tt / n * 1e6:>9.1f} us/{unit} {tt / total * 100:>5.1f}%")


def profiled(fn: Callable[..., object], *args: Any) -> cProfile.Profile:
    profiler = cProfile.Profile()
    profiler.enable()
    fn(*args)
    profiler.disable()
    return profiler


def profile_all(workdir: Path, sizes: Sizes) -> None:
    """cProfile the per-call fire loop, fire_many and decide() (after a warm-up of each)."""
    engine = open_engine(workdir / "profile.db")
    definition = load_definition(REFERENCE)
    compiled = CompiledProcess(definition)
    steps = dispatch_steps()
    try:
        n = sizes.profile
        warm = [f"warm-{i}" for i in range(min(1_000, n))]
        batch_start(engine, start_items(warm, 0))
        engine_fire(engine, warm[:200])
        batch_fire(engine, fire_items(warm[200:]))
        ids = [f"call-{i}" for i in range(n)]
        batch_start(engine, start_items(ids, 0))
        fire = profiled(engine_fire, engine, ids)
        n_many = 4 * n
        many = [f"many-{i}" for i in range(n_many)]
        batch_start(engine, start_items(many, 0))
        fire_many = profiled(batch_fire, engine, fire_items(many))
    finally:
        engine.close()
    compiled_dispatch(compiled, steps, 1_000)
    n_dispatch = 10 * n
    dispatch = profiled(compiled_dispatch, compiled, steps, n_dispatch)
    print_profile(fire, f"{n:,} Engine.fire calls (lose, commit per call)", n, "fire")
    print_profile(fire_many, f"fire_many of {n_many:,} lose items", n_many, "item")
    print_profile(dispatch, f"{n_dispatch:,} x (EvalContext + decide())", n_dispatch, "call")


# -- the run -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Results:
    start: Best
    raw_start: Best
    fire: Best
    raw_fire: Best
    start_many: Best
    raw_start_many: Best
    fire_many: Best
    raw_fire_many: Best
    bare: Best
    decide: Best
    rss: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rss_chunk: int = 0
    sizes_engine: tuple[float, float] = (0.0, 0.0)
    sizes_raw: tuple[float, float] = (0.0, 0.0)


def ids_for(prefix: str, rep: int, n: int) -> tuple[list[str], int]:
    first = rep * n
    return [f"{prefix}-{i}" for i in range(first, first + n)], first


def run(sizes: Sizes, workdir: Path) -> Results:
    res = Results(
        start=Best(sizes.per_call),
        raw_start=Best(sizes.per_call),
        fire=Best(sizes.per_call),
        raw_fire=Best(sizes.per_call),
        start_many=Best(sizes.batch),
        raw_start_many=Best(sizes.batch),
        fire_many=Best(sizes.batch),
        raw_fire_many=Best(sizes.batch),
        bare=Best(sizes.dispatch),
        decide=Best(sizes.dispatch),
    )
    # 5 first, so the RSS growth is not hidden by memory the other parts already freed
    step("memory", f"start_many {sizes.rss_small:,} then {sizes.rss_large:,} leads")
    res.rss = measure_rss(workdir, sizes.rss_small, sizes.rss_large, rss_chunk(sizes))
    res.rss_chunk = rss_chunk(sizes)

    engine_db, raw_db = workdir / "engine.db", workdir / "raw.db"
    engine = open_engine(engine_db)
    batch = open_engine(workdir / "batch.db")
    # the raw floor writes into the schema the engine creates, in files of its own
    open_engine(raw_db).close()
    open_engine(workdir / "raw-batch.db").close()
    raw = raw_connect(raw_db)
    raw_batch = raw_connect(workdir / "raw-batch.db")
    definition = load_definition(REFERENCE)
    compiled = CompiledProcess(definition)
    machine = bare_machine(definition)
    steps = dispatch_steps()
    check_dispatch(machine, compiled, steps)
    try:
        warm = min(200, sizes.per_call)
        engine_start(engine, [f"warm-{i}" for i in range(warm)], 0)
        engine_fire(engine, [f"warm-{i}" for i in range(warm)])
        raw_start(raw, [f"warm-{i}" for i in range(warm)], 0)
        raw_fire(raw, [f"warm-{i}" for i in range(warm)])
        warm_batch = [f"warm-{i}" for i in range(BATCH)]
        batch_start(batch, start_items(warm_batch, 0))
        batch_fire(batch, fire_items(warm_batch))
        raw_start_many(raw_batch, warm_batch, 0)
        raw_fire_many(raw_batch, warm_batch)
        for rep in range(REPEATS):
            step(f"repetition {rep + 1}/{REPEATS}", "per call, batches, dispatch")
            ids, first = ids_for("call", rep, sizes.per_call)
            res.start.add(timed(engine_start, engine, ids, first))
            res.raw_start.add(timed(raw_start, raw, ids, first))
            res.fire.add(timed(engine_fire, engine, ids))
            res.raw_fire.add(timed(raw_fire, raw, ids))
            ids, first = ids_for("batch", rep, sizes.batch)
            res.start_many.add(timed(batch_start, batch, start_items(ids, first)))
            res.raw_start_many.add(timed(raw_start_many, raw_batch, ids, first))
            res.fire_many.add(timed(batch_fire, batch, fire_items(ids)))
            res.raw_fire_many.add(timed(raw_fire_many, raw_batch, ids))
            res.bare.add(timed(bare_dispatch, machine, steps, sizes.dispatch))
            res.decide.add(timed(compiled_dispatch, compiled, steps, sizes.dispatch))
    finally:
        engine.close()
        raw.close()
        batch.close()
        raw_batch.close()
    res.sizes_engine = json_sizes(engine_db)
    res.sizes_raw = json_sizes(raw_db)
    return res


_T0 = time.perf_counter()


def step(what: str, detail: str) -> None:
    print(f"  [{time.perf_counter() - _T0:6.1f} s] {what}: {detail}", file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(res: Results, sizes: Sizes, quick: bool) -> None:
    r_start = res.start.rate / res.raw_start.rate
    r_fire = res.fire.rate / res.raw_fire.rate
    r_dispatch = res.decide.rate / res.bare.rate
    before, small, large = res.rss
    growth = large - small
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    lines = [
        "leadflow engine benchmark" + (" (--quick)" if quick else ""),
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"transitions {transitions.__version__}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"Best of {REPEATS} interleaved repetitions per figure; spread = slowest/fastest "
        "repetition (noise).",
        "DB: a file SQLite database, WAL, synchronous=NORMAL, foreign_keys=ON (the engine's "
        "pragmas).",
        "Fire = reference definition inbound-lead, trigger 'lose' from 'new' with "
        '{"lost_reason": "bad_data"}:',
        "  no activities read, so 1 SELECT + 1 UPDATE + 2 INSERTs + 1 commit per fire.",
        "Start = 3 INSERTs + 1 commit (the engine also reads the latest definition version: "
        "1 SELECT).",
        "",
    ]
    print("\n".join(lines))
    w = 39
    print(
        f"{'#':<2} {'measure':<{w}} {'leadflow':>10} {'baseline':>10}  {'unit':<13} {'ratio':>5}"
        f"  {'us/op':>8} {'us/op':>8}  {'spread':>9}"
    )
    print(f"{'':<2} {'':<{w}} {'':>10} {'':>10}  {'':<13} {'':>5}  {'leadflow':>8} {'baseline':>8}")
    print("-" * (w + 77))

    def row(num: str, label: str, ours: Best, base: Best | None, unit: str) -> None:
        base_rate = f"{base.rate:>10,.0f}" if base else f"{'':>10}"
        ratio = f"{ours.rate / base.rate:>5.2f}" if base else f"{'':>5}"
        base_us = f"{1e6 / base.rate:>8,.1f}" if base else f"{'':>8}"
        spread = f"{ours.spread:.2f}" + (f"/{base.spread:.2f}" if base else "")
        print(
            f"{num:<2} {label:<{w}} {ours.rate:>10,.0f} {base_rate}  {unit:<13} {ratio}"
            f"  {1e6 / ours.rate:>8,.1f} {base_us}  {spread:>9}"
        )

    n, b, d = f"{sizes.per_call:,}", f"{sizes.batch:,}", f"{sizes.dispatch:,}"
    row("1", f"Engine.start, commit/call ({n})", res.start, res.raw_start, "leads/s")
    row("1", f"Engine.fire lose, commit/call ({n})", res.fire, res.raw_fire, "fires/s")
    row("3", f"start_many, 1,000/tx ({b})", res.start_many, res.raw_start_many, "leads/s")
    row("3", f"fire_many lose, 1,000/tx ({b})", res.fire_many, res.raw_fire_many, "transitions/s")
    row("4", f"decide() vs bare machine ({d})", res.decide, res.bare, "dispatches/s")
    (eng_details, eng_payload), (raw_details, raw_payload) = res.sizes_engine, res.sizes_raw
    notes = [
        "",
        "Baseline of #1 = #2, stdlib sqlite3 writing the same rows: same schema (created by the",
        "  engine), pragmas, SQL, JSON shapes and a uuid4 event id; average JSON text",
        f"  history.details/outbox.payload: engine {eng_details:.0f}/{eng_payload:.0f} chars, "
        f"raw {raw_details:.0f}/{raw_payload:.0f} chars.",
        "Baseline of #3 (information, no target) = the same raw rows, 1,000 per transaction:",
        "  INSERT per instance (for its id) or SELECT ... IN (500 ids), then executemany.",
        "Baseline of #4 = transitions.Machine(model=None), same states and transitions, one",
        "  always-true condition each, Event.trigger(plain model object) per dispatch. leadflow:",
        "  a new EvalContext + CompiledProcess.decide(trigger, ctx) with the real criteria.",
        "  Trigger cycle: contact, qualify, win (each from its stage), lose from new, contacted",
        "  and qualified; every dispatch takes its transition.",
        "",
        f"5  RSS (VmRSS, after gc.collect()): {before:,.1f} MiB with the engine open; "
        f"{small:,.1f} MiB after {sizes.rss_small:,} leads;",
        f"   {large:,.1f} MiB after {sizes.rss_large:,} leads; growth {growth:+,.1f} MiB "
        f"(start_many calls of {res.rss_chunk:,} leads, results dropped).",
        "",
        "Targets",
        "-" * 88,
    ]
    print("\n".join(notes))
    targets = [
        ("fire, commit per call: engine/raw >= 0.50", f"{r_fire:.3f}", r_fire >= 0.5),
        (
            "fire_many >= 50,000 transitions/s",
            f"{res.fire_many.rate:,.0f}/s",
            res.fire_many.rate >= 50_000,
        ),
        ("dispatch: decide/bare >= 0.50", f"{r_dispatch:.3f}", r_dispatch >= 0.5),
        (
            f"RSS flat: growth {sizes.rss_small:,} -> {sizes.rss_large:,} leads < 10 MiB",
            f"{growth:+.1f} MiB",
            growth < 10,
        ),
    ]
    for label, figure, ok in targets:
        print(f"  {label:<58} {figure:>16}  {verdict(ok)}")
    print(f"  {'(no target) start, commit per call: engine/raw':<58} {r_start:>16.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small counts (< 30 s)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also cProfile the per-call fire loop, fire_many and decide()",
    )
    parser.add_argument(
        "--rss-leads",
        type=int,
        metavar="N",
        help="leads at the large RSS checkpoint (default 200,000; 20,000 with --quick)",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.rss_leads:
        sizes = dataclasses.replace(sizes, rss_large=args.rss_leads)
    with tempfile.TemporaryDirectory(prefix="leadflow-bench-") as tmp:
        workdir = Path(tmp)
        results = run(sizes, workdir)
        report(results, sizes, args.quick)
        if args.profile:
            step("profile", "fire, fire_many and decide() under cProfile")
            profile_all(workdir, sizes)
    print(f"\ntotal run time {time.perf_counter() - _T0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
