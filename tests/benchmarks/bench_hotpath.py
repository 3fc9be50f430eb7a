"""The hot path against its floors and against other engines: every row of the hot-path table.

Run from the repository root (leadflow importable, e.g. installed or via PYTHONPATH; the
baselines need the ``bench`` extra: APScheduler is a core dependency, SpiffWorkflow is not)::

    python tests/benchmarks/bench_hotpath.py            # full run, about 3-5 minutes on 2 cores
    python tests/benchmarks/bench_hotpath.py --quick    # smaller counts, about a minute

Rows (each a ratio against a baseline measured in the same run; the repetitions of all parts
are interleaved and the median repetition of each side is kept):

1. ``Engine.fire`` of a transition guarded by a CEL criterion (``lead.score >= 60``), one
   commit per call, SQLite WAL with ``synchronous=NORMAL``, against the **raw floor**: the
   stdlib ``sqlite3`` module writing exactly the rows the engine wrote (read back from the
   engine's database after its run: the instance UPDATE, the history INSERT, the outbox INSERT)
   with the engine's own statements and pragmas, a commit per lead. The floor's timed part does
   no SELECT and no JSON encoding: reading and encoding are part of the engine's cost.
2. The same with ``synchronous=FULL`` on both sides. Below rows 1 and 2, the **bound** of
   row 3 (see there) with a commit per call: its read, its three writes and its commit.
3. ``Engine.fire_many`` (one transaction per 1,000) against the same rows written with
   ``executemany``, 1,000 leads per commit. Below it, for information, the **bound**: a bare
   client (:class:`Bare`) doing only what any client must (read the rows, decode the data,
   evaluate the guard, encode the documents, write and commit), against the same floor. The
   0.6 goal of this row cannot be met by anything slower than the bound.
4. ``Engine.run_due`` firing SLA breach marks with real effects (a history row, the breach
   event, a field set, a reassignment with its event and routing record) against APScheduler
   3.11's ``SQLAlchemyJobStore`` adding and firing trivial jobs (and firing only), and against
   a raw floor writing the rows the sweep wrote (timer DELETE, instance UPDATE, history,
   outbox and routing INSERTs, the team pointer UPDATE), 500 marks per commit as the sweep does.
   Below it the **bound** for marks: a bare sweep (:func:`time_bare_sweep`) claiming, reading
   and writing the same rows with only the Python a mark needs, against both baselines.
5. One durable step against SpiffWorkflow 3: complete the ready user task of a BPMN process
   whose gateway checks ``score >= 60``, run the engine steps, serialize the workflow and store
   it (UPDATE + commit; the workflows are kept in memory, so Spiff does not pay a load).
   Per call against ``Engine.fire`` (row 1's runs), batched (1,000 per commit) against
   ``fire_many`` (row 3's runs).

It is a benchmark, not a test: the exit code is 0 whatever the figures are.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

try:
    import apscheduler
    import orjson
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.parser import BpmnParser
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
    from SpiffWorkflow.util.task import TaskState
    from uuid_utils import uuid7

    from leadflow.definitions.expressions import compile_expression
    from leadflow.engine import Engine
    from leadflow.engine.store._rows import SELECT_COLS
    from leadflow.engine.store._statements import hot_path_statements
except ImportError as exc:  # pragma: no cover - a usage error, not a benchmark result
    sys.exit(f"cannot import ({exc}); pip install '.[bench]' or set PYTHONPATH (see README.md)")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_sweep

PROCESS = "hot-path"
DEFINITION = """\
process: hot-path
version: 1
fields:
  email: {type: string, required: true}
  score: {type: integer, min: 0, max: 100}
  decision_maker: {type: string}
  lost_reason: {type: enum, values: [bad_data, other]}
stages:
  new: {initial: true}
  qualified: {probability: 40}
  lost: {closed: lost}
transitions:
  - name: qualify
    from: new
    to: qualified
    guard:
      - {id: score_ok, cel: "lead.score >= 60", message: Score must be at least 60}
  - {name: lose, from: "*", to: lost, requires: [lost_reason]}
"""
FIRE_DATA = {"decision_maker": "Dana"}
BATCH = 1_000  # fire_many's items per transaction
SWEEP_BATCH = 500  # run_due's marks per transaction
PROCESS_SWEEP = "worker-escalate"  # bench_sweep's process: one breach mark per lead
SQL = hot_path_statements("?", "sqlite")
BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
  targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="lead" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="qualify"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:exclusiveGateway id="gate" default="f4"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:userTask id="qualified"><bpmn:incoming>f3</bpmn:incoming>
      <bpmn:outgoing>f5</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="lost"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="done"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="qualify"/>
    <bpmn:sequenceFlow id="f2" sourceRef="qualify" targetRef="gate"/>
    <bpmn:sequenceFlow id="f3" sourceRef="gate" targetRef="qualified">
      <bpmn:conditionExpression>score &gt;= 60</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="gate" targetRef="lost"/>
    <bpmn:sequenceFlow id="f5" sourceRef="qualified" targetRef="done"/>
  </bpmn:process>
</bpmn:definitions>"""
_T0 = time.perf_counter()


@dataclass(frozen=True)
class Sizes:
    per_call: int
    batch: int
    timers: int
    repeats: int


FULL = Sizes(per_call=3_000, batch=20_000, timers=2_000, repeats=5)
QUICK = Sizes(per_call=600, batch=4_000, timers=1_000, repeats=3)


@dataclass
class Runs:
    """Seconds per repetition, by name."""

    times: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.times.setdefault(name, []).append(seconds)

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])

    def spread(self, name: str) -> float:
        return max(self.times[name]) / min(self.times[name])


def progress(what: str) -> None:
    print(f"  [{time.perf_counter() - _T0:6.1f} s] {what}", file=sys.stderr, flush=True)


# -- the engine's side and the rows it wrote -----------------------------------------------------


def _url(path: Path, sync: str) -> str:
    return f"sqlite:///{path}?synchronous={sync}"


def _prepare(folder: Path, name: str, n: int, sync: str) -> tuple[Path, Path]:
    """A database with ``n`` leads (plus one to warm up) in ``new``, and its copy for the floor."""
    path = folder / f"{name}.db"
    definition = folder / "hot-path.yaml"
    definition.write_text(DEFINITION)
    with Engine(_url(path, sync)) as engine:
        engine.deploy(definition)
        items = [(f"lead-{i}", {"email": f"l{i}@example.com", "score": 70}) for i in range(n)]
        engine.start_many(PROCESS, [("warm", {"email": "w@example.com", "score": 70}), *items])
    return path, _copy(path, folder / f"{name}-raw.db")


def _copy(path: Path, to: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(path, to)
    return to


def _max_ids(path: Path, tables: list[str]) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {
            t: conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {t}").fetchone()[0]
            for t in tables
        }


def time_fire(path: Path, n: int, sync: str, batched: bool) -> tuple[float, dict[str, int]]:
    """Seconds for the engine to fire ``qualify`` on ``n`` leads; the ids before the timed part."""
    with Engine(_url(path, sync)) as engine:
        engine.fire(PROCESS, "warm", "qualify", FIRE_DATA)
        before = _max_ids(path, ["lf_history", "lf_outbox"])
        leads = [f"lead-{i}" for i in range(n)]
        t = time.perf_counter()
        if batched:
            result = engine.fire_many(PROCESS, [(lead, "qualify", FIRE_DATA) for lead in leads])
            assert not result.failed, result.failed[:3]
        else:
            for lead in leads:
                engine.fire(PROCESS, lead, "qualify", FIRE_DATA)
        return time.perf_counter() - t, before


_UPDATE_COLS = (
    "definition_version, stage, owner, data, closed, version, updated_at, stage_entered_at, "
    "stage_seq, sla, id, version - 1"
)


def _written(path: Path, before: dict[str, int]) -> tuple[dict[int, list[Any]], list[int]]:
    """What the engine wrote, per instance id: ``[update, [history rows], [outbox rows]]``,
    and the instance ids in the order their first history row was written."""
    per: dict[int, list[Any]] = {}
    order: list[int] = []
    with sqlite3.connect(path) as conn:
        for row in conn.execute(
            "SELECT instance_id, seq, at, kind, trigger, from_stage, to_stage, actor, details "
            "FROM lf_history WHERE id > ? ORDER BY id",
            (before["lf_history"],),
        ):
            if row[0] not in per:
                per[row[0]] = [None, [], []]
                order.append(row[0])
            per[row[0]][1].append(row)
        for row in conn.execute(
            "SELECT event_id, instance_id, seq, type, at, payload FROM lf_outbox "
            "WHERE id > ? ORDER BY id",
            (before["lf_outbox"],),
        ):
            per[row[1]][2].append(row)
        for row in conn.execute(f"SELECT {_UPDATE_COLS} FROM lf_instances"):
            if row[10] in per:
                per[row[10]][0] = row
    return per, order


def _raw(path: Path, sync: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    for pragma in (
        "journal_mode=WAL",
        f"synchronous={sync}",
        "foreign_keys=ON",
        "busy_timeout=30000",
    ):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def time_floor(
    raw: Path, written: tuple[dict[int, list[Any]], list[int]], sync: str, batch: int
) -> float:
    """Seconds for sqlite3 to write the engine's rows, ``batch`` leads per commit (1: per call)."""
    per, order = written
    conn = _raw(raw, sync)
    cur = conn.cursor()
    try:
        work = [per[i] for i in order]
        warm, work = work[0], work[1:]  # the warm-up lead, written untimed as the engine's was
        _write(cur, [warm])
        conn.commit()
        t = time.perf_counter()
        if batch == 1:
            for update, history, outbox in work:
                cur.execute(SQL["update"], update)
                for row in history:
                    cur.execute(SQL["history"], row)
                for row in outbox:
                    cur.execute(SQL["outbox"], row)
                conn.commit()
        else:
            for i in range(0, len(work), batch):
                _write(cur, work[i : i + batch])
                conn.commit()
        return time.perf_counter() - t
    finally:
        conn.close()


def _write(cur: sqlite3.Cursor, work: list[list[Any]]) -> None:
    cur.executemany(SQL["update"], [w[0] for w in work])
    cur.executemany(SQL["history"], [h for w in work for h in w[1]])
    cur.executemany(SQL["outbox"], [o for w in work for o in w[2]])


# -- the bare client: the least Python a fire needs -----------------------------------------------


class Bare:
    """What any client must do per fire of ``qualify``, and nothing more: decode the lead's
    data, evaluate the CEL guard (the engine's compiled expression), merge the fired data,
    encode the history details, the CloudEvent and the lead's data as JSON (orjson), make a
    UUIDv7 event id. No validation of the data, no size checks, no objects for the caller, no
    access rules, no metrics: a lower bound for the engine, not a rival to it. Its rows have the
    shape of the engine's (same columns, same documents, same sizes to a few bytes)."""

    def __init__(self) -> None:
        self.guard = compile_expression("lead.score >= 60")

    def plan(self, r: Any, data: dict[str, Any], at: Any, iso: str) -> tuple[Any, Any, Any]:
        """(UPDATE parameters, history row, outbox row) of one fire on the row ``r`` (read
        with ``SELECT_COLS``); ``at`` is the time as the database takes it, ``iso`` in ISO."""
        iid, process, lead, version, stage, owner, seq = r[0], r[1], r[2], r[3], r[4], r[5], r[8]
        if stage != "new":
            raise ValueError(f"{lead} is in {stage}, not new")
        before = orjson.loads(r[6])
        merged = {**before, **data}
        met = self.guard.execute({"lead": merged}) is True
        if not met:
            raise ValueError(f"{lead}: the guard is unmet")
        criteria = {
            "id": "score_ok",
            "message": "Score must be at least 60",
            "met": met,
            "kind": "cel",
            "source": "guard:qualify",
            "seen": {"lead.score": merged.get("score")},
        }
        changes = {k: [before.get(k), v] for k, v in data.items()}
        details = orjson.dumps({"criteria": [criteria], "changes": changes}).decode()
        ident = str(uuid7())
        event = {
            "process": process,
            "definition_version": version,
            "lead_id": lead,
            "seq": seq + 1,
            "stage": "qualified",
            "owner": owner,
            "actor": None,
            "trigger": "qualify",
            "from_stage": "new",
            "to_stage": "qualified",
        }
        body = orjson.dumps(event).decode()
        envelope = (
            f'{{"specversion":"1.0","id":"{ident}","source":"/leadflow/{process}",'
            f'"type":"leadflow.lead.stage_changed","subject":{orjson.dumps(lead).decode()},'
            f'"time":"{iso}","datacontenttype":"application/json",'
            f'"data":{body[:-1]},{details[1:]}}}'
        )
        update = (
            version,
            "qualified",
            owner,
            orjson.dumps(merged).decode(),
            None,
            seq + 1,
            at,
            at,
            seq + 1,
            r[13],
            iid,
            seq,
        )
        history = (iid, seq + 1, at, "transition", "qualify", "new", "qualified", None, details)
        outbox = (ident, iid, seq + 1, "leadflow.lead.stage_changed", at, envelope)
        return update, history, outbox


def time_bare_call(path: Path, n: int, sync: str) -> float:
    """Seconds for the bare client to fire ``qualify`` on ``n`` leads as ``fire`` does: per
    lead its row read, the fire planned, the three rows written and committed."""
    bare = Bare()
    conn = _raw(path, sync)
    cur = conn.cursor()
    try:
        t = time.perf_counter()
        for i in range(n):
            cur.execute(SQL["load"], (PROCESS, f"lead-{i}"))
            now = datetime.now(UTC)
            at = now.replace(tzinfo=None).isoformat(" ", "microseconds")
            update, history, outbox = bare.plan(cur.fetchone(), FIRE_DATA, at, now.isoformat())
            cur.execute(SQL["update"], update)
            cur.execute(SQL["history"], history)
            cur.execute(SQL["outbox"], outbox)
            conn.commit()
        return time.perf_counter() - t
    finally:
        conn.close()


def time_bare_many(path: Path, n: int) -> float:
    """Seconds for the bare client to fire ``qualify`` on ``n`` leads as ``fire_many`` does:
    per 1,000 leads, their rows read with ``SELECT ... IN`` (500 ids at a time, as the engine),
    planned, written with ``executemany`` and committed."""
    bare = Bare()
    conn = _raw(path, "NORMAL")
    cur = conn.cursor()
    select = f"SELECT {SELECT_COLS} FROM lf_instances WHERE process = ? AND lead_id IN "
    try:
        leads = [f"lead-{i}" for i in range(n)]
        t = time.perf_counter()
        for first in range(0, n, BATCH):
            batch = leads[first : first + BATCH]
            rows: dict[str, Any] = {}
            for i in range(0, len(batch), 500):
                chunk = batch[i : i + 500]
                cur.execute(select + f"({', '.join('?' * len(chunk))})", (PROCESS, *chunk))
                rows.update((r[2], r) for r in cur.fetchall())
            now = datetime.now(UTC)
            at, iso = now.replace(tzinfo=None).isoformat(" ", "microseconds"), now.isoformat()
            planned = [bare.plan(rows[lead], FIRE_DATA, at, iso) for lead in batch]
            _write(cur, [[u, [h], [o]] for u, h, o in planned])
            conn.commit()
        return time.perf_counter() - t
    finally:
        conn.close()


def time_bare_sweep(path: Path, now: datetime) -> float:
    """Seconds for a bare sweep to fire every due breach mark of ``bench_sweep``'s
    ``worker-escalate`` leads as ``run_due`` does, 500 per transaction: claim the due timers,
    read their leads, plan each mark (:func:`_bare_mark`), then delete the timers, update the
    leads, insert the history, events and routing records, move the team's pointer and commit.
    Only this definition's one-step ladder, no checks: the least Python a mark needs."""
    conn = _raw(path, "NORMAL")
    cur = conn.cursor()
    members, pointer = ("ann", "bob", "cid"), 0
    claim = (
        "SELECT id, instance_id, policy, step, due_at FROM lf_timers WHERE due_at <= ? "
        "ORDER BY due_at, id LIMIT ?"
    )
    select = f"SELECT {SELECT_COLS} FROM lf_instances WHERE id IN "
    at = now.replace(tzinfo=None).isoformat(" ", "microseconds")
    try:
        t = time.perf_counter()
        while timers := cur.execute(claim, (at, SWEEP_BATCH)).fetchall():
            ids = [iid for _, iid, _, _, _ in timers]
            cur.execute(select + f"({', '.join('?' * len(ids))})", ids)
            rows = {r[0]: r for r in cur.fetchall()}
            updates, history, outbox, routes = [], [], [], []
            for _timer_id, iid, policy, step, due_at in timers:
                pointer = (pointer + 1) % len(members)
                update, entry, events, route = _bare_mark(
                    rows[iid], policy, step, due_at, members[pointer]
                )
                updates.append(update)
                history.append(entry)
                outbox += events
                routes.append(route)
            cur.executemany("DELETE FROM lf_timers WHERE id = ?", [(timer[0],) for timer in timers])
            cur.executemany(SQL["update"], updates)
            cur.executemany(SQL["history"], history)
            cur.executemany(SQL["outbox"], outbox)
            cur.executemany(
                "INSERT INTO lf_routes (process, team, instance_id, owner, at) "
                "VALUES (?, ?, ?, ?, ?)",
                routes,
            )
            cur.execute(
                "UPDATE lf_team_state SET pointer = ? WHERE process = ? AND team = ?",
                (pointer, PROCESS_SWEEP, "desk"),
            )
            conn.commit()
        return time.perf_counter() - t
    finally:
        conn.close()


def _bare_mark(
    r: Any, policy: str, step: int, due_at: str, owner: str
) -> tuple[Any, Any, list[Any], Any]:
    """(UPDATE parameters, history row, outbox rows, routing row) of one breach mark on the
    row ``r`` (read with ``SELECT_COLS``): decode the lead's data and clock, set the field,
    give the lead to ``owner``, encode the history details, the ``sla_breached`` and
    ``assigned`` events, the data and the clock."""
    iid, process, lead, previous, seq = r[0], r[1], r[2], r[5], r[8] + 1
    due = datetime.fromisoformat(due_at).replace(tzinfo=UTC)
    data, clocks = orjson.loads(r[6]), orjson.loads(r[13])
    clock = clocks[policy]
    elapsed = (due - datetime.fromisoformat(clock["t0"])).total_seconds()
    clock["k"], clock["br"] = step + 1, due.isoformat()
    before = data.get("priority")
    data["priority"] = "high"
    mark = {
        "policy": policy,
        "event": "breached",
        "mark": "100%",
        "due": due.isoformat(),
        "elapsed": elapsed,
        "target": 60.0,
        "message": "Breached",
        "reassign": {
            "team": "desk",
            "owner": owner,
            "queued": False,
            "reason": "round robin in desk",
        },
        "notify": [owner],
    }
    details = {
        "sla": [mark],
        "changes": {"priority": [before, "high"]},
        "owner": owner,
        "previous_owner": previous,
    }
    details_json = orjson.dumps(details).decode()
    actor = f"sla:{policy}"
    head = {
        "process": process,
        "definition_version": r[3],
        "lead_id": lead,
        "seq": seq,
        "stage": r[4],
        "actor": actor,
    }
    assigned = orjson.dumps({**head, "owner": owner, "previous_owner": previous}).decode()
    events = []
    for kind, body in (
        ("sla_breached", f"{orjson.dumps(head).decode()[:-1]},{details_json[1:]}"),
        ("assigned", assigned),
    ):
        ident = str(uuid7())
        envelope = (
            f'{{"specversion":"1.0","id":"{ident}","source":"/leadflow/{process}",'
            f'"type":"leadflow.lead.{kind}","subject":{orjson.dumps(lead).decode()},'
            f'"time":"{due.isoformat()}","datacontenttype":"application/json",'
            f'"data":{body}}}'
        )
        events.append((ident, iid, seq, f"leadflow.lead.{kind}", due_at, envelope))
    update = (
        r[3],
        r[4],
        owner,
        orjson.dumps(data).decode(),
        r[7],
        seq,
        due_at,
        r[11],
        r[12],
        orjson.dumps(clocks).decode(),
        iid,
        r[8],
    )
    entry = (iid, seq, due_at, "sla", None, None, None, actor, details_json)
    return update, entry, events, (process, "desk", iid, owner, due_at)


# -- the sweep -------------------------------------------------------------------------------------


def time_sweep(folder: Path, n: int, rep: int) -> tuple[float, float, float]:
    """Seconds for ``run_due`` to fire ``n`` breach marks, for the raw floor, for the bound."""
    due = datetime.now(UTC) - timedelta(hours=1)
    path = folder / f"sweep-{rep}.db"
    bench_sweep._due_engine(path, n, due).close()
    raw = _copy(path, folder / f"sweep-{rep}-raw.db")
    bare = time_bare_sweep(_copy(path, folder / f"sweep-{rep}-bare.db"), due + timedelta(seconds=1))
    tables = ["lf_history", "lf_outbox", "lf_routes"]
    before = _max_ids(path, tables)
    with sqlite3.connect(path) as conn:
        timers = conn.execute(
            "SELECT id, instance_id FROM lf_timers ORDER BY due_at, id"
        ).fetchall()
    with Engine(f"sqlite:///{path}") as engine:
        t = time.perf_counter()
        fired = engine.run_due(due + timedelta(seconds=1))
        engine_s = time.perf_counter() - t
    assert fired == n, (fired, n)
    return engine_s, _sweep_floor(path, raw, before, timers), bare


def _sweep_floor(path: Path, raw: Path, before: dict[str, int], timers: list[Any]) -> float:
    new: dict[str, tuple[str, dict[int, list[Any]]]] = {}
    with sqlite3.connect(path) as conn:
        for table, key in (
            ("lf_history", "instance_id"),
            ("lf_outbox", "instance_id"),
            ("lf_routes", "instance_id"),
        ):
            cols = [c[1] for c in conn.execute(f"PRAGMA table_info({table})") if c[1] != "id"]
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            by: dict[int, list[Any]] = {}
            k = cols.index(key)
            for row in conn.execute(
                f"SELECT {', '.join(cols)} FROM {table} WHERE id > ? ORDER BY id", (before[table],)
            ):
                by.setdefault(row[k], []).append(row)
            new[table] = (sql, by)
        updates = {r[10]: r for r in conn.execute(f"SELECT {_UPDATE_COLS} FROM lf_instances")}
        team = conn.execute("SELECT pointer, process, team FROM lf_team_state").fetchall()
    conn = _raw(raw, "NORMAL")
    cur = conn.cursor()
    try:
        t = time.perf_counter()
        for i in range(0, len(timers), SWEEP_BATCH):
            chunk = timers[i : i + SWEEP_BATCH]
            ids = [iid for _, iid in chunk]
            cur.executemany("DELETE FROM lf_timers WHERE id = ?", [(tid,) for tid, _ in chunk])
            cur.executemany(SQL["update"], [updates[iid] for iid in ids])
            for sql, by in new.values():
                cur.executemany(sql, [r for iid in ids for r in by.get(iid, ())])
            cur.executemany(
                "UPDATE lf_team_state SET pointer = ? WHERE process = ? AND team = ?", team
            )
            conn.commit()
        return time.perf_counter() - t
    finally:
        conn.close()


# -- SpiffWorkflow -------------------------------------------------------------------------------


class Spiff:
    """BPMN workflows kept in memory, stored as serialized JSON in a SQLite table."""

    def __init__(self) -> None:
        parser = BpmnParser()
        parser.add_bpmn_str(BPMN.encode())
        self.spec = parser.get_spec("lead")
        self.serializer = BpmnWorkflowSerializer()

    def prepare(self, path: Path, n: int) -> tuple[sqlite3.Connection, list[Any]]:
        conn = _raw(path, "NORMAL")
        conn.execute("CREATE TABLE workflows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        flows = []
        for _ in range(n):
            wf = BpmnWorkflow(self.spec)
            wf.do_engine_steps()
            flows.append(wf)
        rows = [(i, self.serializer.serialize_json(wf)) for i, wf in enumerate(flows)]
        conn.executemany("INSERT INTO workflows VALUES (?, ?)", rows)
        conn.commit()
        return conn, flows

    def step(self, wf: Any) -> str:
        task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
        task.data["score"] = 70
        task.run()
        wf.do_engine_steps()
        return str(self.serializer.serialize_json(wf))

    def time(self, path: Path, n: int, batch: int) -> float:
        conn, flows = self.prepare(path, n)
        cur = conn.cursor()
        try:
            t = time.perf_counter()
            for first in range(0, n, batch):
                rows = [(self.step(flows[i]), i) for i in range(first, min(n, first + batch))]
                if batch == 1:
                    cur.execute("UPDATE workflows SET body = ? WHERE id = ?", rows[0])
                else:
                    cur.executemany("UPDATE workflows SET body = ? WHERE id = ?", rows)
                conn.commit()
            return time.perf_counter() - t
        finally:
            conn.close()


# -- the run ---------------------------------------------------------------------------------------


def one_repetition(folder: Path, sizes: Sizes, rep: int, runs: Runs, spiff: Spiff) -> None:
    for sync in ("NORMAL", "FULL"):
        path, raw = _prepare(folder, f"call-{sync}-{rep}", sizes.per_call, sync)
        seconds, before = time_fire(path, sizes.per_call, sync, batched=False)
        runs.add(f"fire {sync}", seconds)
        runs.add(f"floor {sync}", time_floor(raw, _written(path, before), sync, 1))
        bare, _ = _prepare(folder, f"bare-call-{sync}-{rep}", sizes.per_call, sync)
        runs.add(f"bare {sync}", time_bare_call(bare, sizes.per_call, sync))
    progress(f"repetition {rep + 1}: fire per call")
    path, raw = _prepare(folder, f"many-{rep}", sizes.batch, "NORMAL")
    seconds, before = time_fire(path, sizes.batch, "NORMAL", batched=True)
    runs.add("fire_many", seconds)
    runs.add("floor many", time_floor(raw, _written(path, before), "NORMAL", BATCH))
    bare, _ = _prepare(folder, f"bare-{rep}", sizes.batch, "NORMAL")
    runs.add("bare many", time_bare_many(bare, sizes.batch))
    progress(f"repetition {rep + 1}: fire_many")
    engine_s, floor_s, bare_s = time_sweep(folder, sizes.timers, rep)
    runs.add("run_due", engine_s)
    runs.add("floor sweep", floor_s)
    runs.add("bare sweep", bare_s)
    added, fired = bench_sweep.time_apscheduler(folder, sizes.timers, rep)
    runs.add("aps add+fire", added + fired)
    runs.add("aps fire", fired)
    progress(f"repetition {rep + 1}: sweep and APScheduler")
    runs.add("spiff call", spiff.time(folder / f"spiff-call-{rep}.db", sizes.per_call, 1))
    runs.add("spiff batch", spiff.time(folder / f"spiff-batch-{rep}.db", sizes.batch, BATCH))
    progress(f"repetition {rep + 1}: SpiffWorkflow")
    for leftover in folder.iterdir():
        leftover.unlink()


def report(sizes: Sizes, runs: Runs, load: tuple[float, float, float]) -> None:
    from importlib.metadata import version

    print(f"leadflow hot-path benchmark{' (--quick)' if sizes is QUICK else ''}")
    print(
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"APScheduler {apscheduler.__version__}, SpiffWorkflow {version('SpiffWorkflow')}, "
        f"{os.cpu_count()} CPUs"
    )
    now = os.getloadavg()
    start, end = (" ".join(f"{x:.2f}" for x in avg) for avg in (load, now))
    print(f"load average at start {start}; at end {end}")
    print(f"median of {sizes.repeats} interleaved repetitions; spread = slowest/fastest repetition")
    print()
    head = f"{'what':58} {'leadflow':>10} {'baseline':>10} {'ratio':>7} {'goal':>8}  spread"
    print(head)
    print("-" * len(head))

    def row(what: str, ours: str, base: str, n: int, goal: float) -> None:
        ours_rate = n / runs.median(ours)
        base_rate = n / runs.median(base)
        ratio = ours_rate / base_rate
        verdict = "PASS" if ratio >= goal else "MISS"
        goal_text = ">=" + format(goal, "g") if goal else "-"
        spread = f"{runs.spread(ours):.2f}/{runs.spread(base):.2f}"
        print(
            f"{what:58} {ours_rate:>9,.0f}/s {base_rate:>9,.0f}/s {ratio:>6.2f}x "
            f"{goal_text:>7} {verdict if goal else '    '} {spread}"
        )

    row(
        f"fire, CEL guard, commit/call, NORMAL ({sizes.per_call:,}) vs raw floor",
        "fire NORMAL",
        "floor NORMAL",
        sizes.per_call,
        0.6,
    )
    row(
        f"  bound: bare client, commit/call, NORMAL ({sizes.per_call:,}) vs raw floor",
        "bare NORMAL",
        "floor NORMAL",
        sizes.per_call,
        0,
    )
    row(
        f"fire, CEL guard, commit/call, FULL ({sizes.per_call:,}) vs raw floor",
        "fire FULL",
        "floor FULL",
        sizes.per_call,
        0.75,
    )
    row(
        f"  bound: bare client, commit/call, FULL ({sizes.per_call:,}) vs raw floor",
        "bare FULL",
        "floor FULL",
        sizes.per_call,
        0,
    )
    row(
        f"fire_many, 1,000/tx ({sizes.batch:,}) vs raw executemany",
        "fire_many",
        "floor many",
        sizes.batch,
        0.6,
    )
    row(
        f"  bound: bare client, 1,000/tx ({sizes.batch:,}) vs raw executemany",
        "bare many",
        "floor many",
        sizes.batch,
        0,
    )
    row(
        f"run_due, breach marks ({sizes.timers:,}) vs APScheduler add+fire",
        "run_due",
        "aps add+fire",
        sizes.timers,
        10,
    )
    row(
        f"run_due ({sizes.timers:,}) vs APScheduler fire only",
        "run_due",
        "aps fire",
        sizes.timers,
        0,
    )
    row(
        f"run_due ({sizes.timers:,}) vs raw floor of the marks' rows",
        "run_due",
        "floor sweep",
        sizes.timers,
        0.6,
    )
    row(
        f"  bound: bare sweep ({sizes.timers:,}) vs raw floor of the marks' rows",
        "bare sweep",
        "floor sweep",
        sizes.timers,
        0,
    )
    row(
        f"  bound: bare sweep ({sizes.timers:,}) vs APScheduler add+fire",
        "bare sweep",
        "aps add+fire",
        sizes.timers,
        0,
    )
    row(
        f"durable step per call ({sizes.per_call:,}) vs SpiffWorkflow",
        "fire NORMAL",
        "spiff call",
        sizes.per_call,
        10,
    )
    row(
        f"durable step batched ({sizes.batch:,}) vs SpiffWorkflow",
        "fire_many",
        "spiff batch",
        sizes.batch,
        100,
    )
    print()
    print(
        "leadflow and baseline: items per second (fires, marks, steps); ratio = leadflow/baseline"
    )
    print(
        "bound: the least Python a fire (class Bare) or a mark (time_bare_sweep) needs, "
        "writing the same rows: no engine can beat it"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, about a minute")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    load = os.getloadavg()
    runs = Runs()
    spiff = Spiff()
    with tempfile.TemporaryDirectory(prefix="leadflow-hotpath-") as tmp:
        for rep in range(sizes.repeats):
            one_repetition(Path(tmp), sizes, rep, runs, spiff)
    report(sizes, runs, load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
