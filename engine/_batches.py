"""``start_many`` and ``fire_many``: many changes, one transaction per 1,000 items.

Items are planned one by one (a failed item is reported and the others go on), then written
together: one INSERT or version-checked UPDATE per lead, every history and outbox row with
``executemany``. A batch that loses a race with another writer is rolled back and redone item
by item, so only the items that really conflict fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from leadflow.engine._canary import version_chooser
from leadflow.engine._compiler import CompiledProcess
from leadflow.engine._criteria import Activity
from leadflow.engine._errors import (
    DuplicateLead,
    FieldIssue,
    GuardFailed,
    InvalidData,
    LeadflowError,
    LeadNotFound,
    TransactionConflict,
)
from leadflow.engine._gc import gc_paused
from leadflow.engine._guards import Guards, redacted, who_of
from leadflow.engine._runtime import Runtime
from leadflow.engine._types import BatchResult, Instance, ItemFailure
from leadflow.engine.access import Actor, require
from leadflow.engine.routing import plan_owner
from leadflow.engine.store import Change, Tx

__all__ = ["fire_many", "start_many"]

BATCH = 1000
"""Items per transaction."""


def _item(item: Any, names: Sequence[str]) -> dict[str, Any] | str:
    """The item as a mapping of ``names``, or what is wrong with its shape."""
    if isinstance(item, Mapping):
        unknown = sorted(str(k) for k in set(item) - set(names))
        if unknown:
            return f"unknown keys {', '.join(unknown)} (allowed: {', '.join(names)})"
        return dict(item)
    if isinstance(item, (tuple, list)):
        if len(item) > len(names):
            return f"{len(item)} parts; an item has at most {len(names)}: {', '.join(names)}"
        return dict(zip(names, item, strict=False))
    return {names[0]: item}


def _items(
    process: str, items: Iterable[Any], names: Sequence[str], result: BatchResult
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Well-formed items with their index; malformed ones are reported as failures."""
    for index, raw in enumerate(items):
        item = _item(raw, names)
        if isinstance(item, str):
            if isinstance(raw, Mapping):
                lead = raw.get("lead_id")
            else:
                lead = raw[0] if isinstance(raw, (tuple, list)) and raw else None
            lead_id = str(lead) if lead is not None else ""
            issue = FieldIssue("item", item)
            result.failed.append(
                ItemFailure(index, lead_id, InvalidData(process, lead_id, [issue]))
            )
        else:
            yield index, item


Batch = list[tuple[int, dict[str, Any]]]


def _in_batches(
    process: str,
    items: Iterable[Any],
    names: Sequence[str],
    run: Callable[[Batch, BatchResult], None],
) -> BatchResult:
    """Feed well-formed items to ``run`` in batches of :data:`BATCH`; failures by index."""
    result = BatchResult()
    batch: Batch = []
    for index, item in _items(process, items, names, result):
        batch.append((index, item))
        if len(batch) >= BATCH:
            run(batch, result)
            batch = []
    if batch:
        run(batch, result)
    result.failed.sort(key=_index)
    return result


def start_many(
    runtime: Runtime, process: str, items: Iterable[Any], at: datetime | None = None
) -> BatchResult:
    """Start many leads, one transaction per 1,000; failures are reported per item.

    Each item is a lead id, a ``(lead_id, data, owner)`` tuple or a mapping with keys
    ``lead_id``, ``data``, ``owner``, ``actor``, ``at``.
    """
    with runtime.store.transaction(f"start_many {process}") as tx:
        # the version per lead: the latest, or a canary's share (runtime/_canary.py)
        choose = version_chooser(runtime, tx, process)
    names = ("lead_id", "data", "owner", "actor", "at")
    return _in_batches(process, items, names, lambda b, r: _start_batch(runtime, choose, b, at, r))


def _start_batch(
    runtime: Runtime,
    choose: Callable[[str], CompiledProcess],
    batch: Batch,
    at: datetime | None,
    result: BatchResult,
) -> None:
    compiled = choose("")  # any version: they all name the same process
    with gc_paused():
        planned, items, failures = _plan_starts(runtime, choose, batch, at)
        try:
            keep = _write_starts(runtime, compiled, planned, items, failures)
        except (runtime.store.integrity_error, TransactionConflict):
            # another writer started one of these leads meanwhile: redo them one by one
            keep = _start_one_by_one(runtime, compiled, planned, items, failures)
    result.succeeded.extend(runtime.instance(c.row) for _, c in sorted(keep, key=_first))
    result.failed.extend(sorted(failures, key=lambda f: f.index))


def _plan_starts(
    runtime: Runtime,
    choose: Callable[[str], CompiledProcess],
    batch: Batch,
    at: datetime | None,
) -> tuple[list[tuple[int, Change]], dict[int, Mapping[str, Any]], list[ItemFailure]]:
    """Each item's start planned in memory: (index, change) pairs, items, failures."""
    planned: list[tuple[int, Change]] = []
    items: dict[int, Mapping[str, Any]] = {}
    seen: set[str] = set()
    failures: list[ItemFailure] = []
    for index, item in batch:
        lead_id = item.get("lead_id")
        try:
            compiled = choose(str(lead_id))
            when = runtime.now(item.get("at") or at)
            if lead_id in seen:
                raise DuplicateLead(compiled.process, str(lead_id))
            data, owner, actor = item.get("data"), item.get("owner"), item.get("actor")
            if isinstance(actor, Actor):
                require(
                    actor, "start", None, compiled.definition, fields=data or {}, new_owner=owner
                )
            change = runtime.planner.start(compiled, lead_id, data, owner, who_of(actor), when)
            seen.add(change.row.lead_id)
            planned.append((index, change))
            items[index] = item
        except LeadflowError as exc:
            failures.append(ItemFailure(index, str(lead_id), exc))
    return planned, items, failures


def _write_starts(
    runtime: Runtime,
    compiled: CompiledProcess,
    planned: list[tuple[int, Change]],
    items: dict[int, Mapping[str, Any]],
    failures: list[ItemFailure],
) -> list[tuple[int, Change]]:
    """One transaction: the planned starts of leads not yet started (the rest fail)."""
    with runtime.store.transaction(f"start_many {compiled.process}") as tx:
        existing = tx.load_many(compiled.process, {c.row.lead_id for _, c in planned})
        keep = []
        for index, change in planned:
            lead_id = change.row.lead_id
            if lead_id in existing:
                duplicate = DuplicateLead(compiled.process, lead_id)
                failures.append(ItemFailure(index, lead_id, duplicate))
            else:
                keep.append((index, change))
        # one insert order for every writer: overlapping batches cannot deadlock
        ordered = sorted(keep, key=lambda ic: _lead_id(ic[1]))
        if compiled.definition.routing and any(c.row.owner is None for _, c in keep):
            # routed leads go in one by one, so each routing decision counts the ones before
            return [
                (index, _routed(runtime, tx, compiled, change, items[index]))
                for index, change in ordered
            ]
        tx.apply([c for _, c in ordered])
        return [(index, runtime.follow_rules(tx, change)) for index, change in keep]


def _start_one_by_one(
    runtime: Runtime,
    compiled: CompiledProcess,
    planned: list[tuple[int, Change]],
    items: dict[int, Mapping[str, Any]],
    failures: list[ItemFailure],
) -> list[tuple[int, Change]]:
    """Each planned start in its own transaction (after a batch lost a race)."""
    failed = {f.index for f in failures}
    keep = []
    for index, change in planned:
        if index in failed:
            continue
        try:
            with runtime.store.transaction(f"start {change.row.lead_id}") as tx:
                change = _routed(runtime, tx, compiled, change, items[index])
            keep.append((index, change))
        except runtime.store.integrity_error:
            duplicate = DuplicateLead(compiled.process, change.row.lead_id)
            failures.append(ItemFailure(index, change.row.lead_id, duplicate))
        except TransactionConflict as exc:
            failures.append(ItemFailure(index, change.row.lead_id, exc))
    return keep


def _routed(
    runtime: Runtime, tx: Tx, compiled: CompiledProcess, change: Change, item: Mapping[str, Any]
) -> Change:
    """Write one planned start, routing it first when it has no owner."""
    compiled = runtime.compiled(compiled.process, change.row.definition_version)  # canary
    actor = who_of(item.get("actor"))
    return runtime.follow_rules(
        tx, runtime.start_routed(tx, compiled, change, item.get("data"), actor)
    )


FireOne = Callable[[str, str, str, Any, Any, Any], Instance]
"""``Engine.fire`` (process, lead id, trigger, data, actor, at): a batch that lost a race
with another writer is redone item by item through it."""


def fire_many(
    runtime: Runtime,
    fire_one: FireOne,
    process: str,
    items: Iterable[Any],
    at: datetime | None = None,
) -> BatchResult:
    """Fire many triggers, one transaction per 1,000; failures are reported per item.

    Each item is a ``(lead_id, trigger, data, actor)`` tuple or a mapping with keys
    ``lead_id``, ``trigger``, ``data``, ``actor``, ``at``. Items on the same lead apply in
    order. If another writer changes one of the leads meanwhile, that batch is redone item by
    item, so only the items that really conflict fail (with :class:`ConcurrentUpdate`).
    """
    names = ("lead_id", "trigger", "data", "actor", "at")
    return _in_batches(
        process, items, names, lambda b, r: _fire_batch(runtime, fire_one, process, b, at, r)
    )


def _fire_batch(
    runtime: Runtime,
    fire_one: FireOne,
    process: str,
    batch: Batch,
    at: datetime | None,
    result: BatchResult,
) -> None:
    failures: list[ItemFailure] = []
    planned: list[tuple[int, Change]] = []
    try:
        with gc_paused(), runtime.store.transaction(f"fire_many {process}") as tx:
            rows = tx.load_many(process, (str(item.get("lead_id")) for _, item in batch))
            need = [
                r.id
                for r in rows.values()
                if runtime.compiled(process, r.definition_version).reads_activities
            ]
            acts = tx.activities_many(need) if need else {}
            read_version: dict[str, int] = {}
            latest: dict[str, Change] = {}
            followed: list[Change] = []  # automatic transitions, written after their cause
            finals: dict[int, Change] = {}

            def acts_of(change: Change) -> list[Activity]:
                return acts.get(change.row.id, []) if change.row.id is not None else []

            now = runtime.now(at)  # one time for the items that bring none: one transaction
            for index, item in batch:
                lead_id = str(item.get("lead_id"))
                try:
                    row = latest[lead_id].row if lead_id in latest else rows.get(lead_id)
                    if row is None:
                        runtime.compiled(process, None)
                        raise LeadNotFound(process, lead_id)
                    compiled = runtime.compiled(process, row.definition_version)  # cached
                    trigger, data, actor = (
                        str(item.get("trigger")),
                        item.get("data"),
                        item.get("actor"),
                    )
                    if isinstance(actor, Actor):  # checked on the row as this transaction reads it
                        guards = Guards(actor, "fire", trigger=trigger, fields=data)
                        guards.check(runtime.instance(row), compiled.definition)
                    change = runtime.planner.fire(
                        compiled,
                        row,
                        trigger,
                        data,
                        who_of(actor),
                        runtime.now(given) if (given := item.get("at")) is not None else now,
                        acts.get(row.id, []),
                    )
                except GuardFailed as exc:  # what the criteria saw, as the actor may see it
                    seen = redacted(exc, item.get("actor"), compiled.definition)
                    failures.append(ItemFailure(index, lead_id, seen))
                    continue
                except LeadflowError as exc:
                    failures.append(ItemFailure(index, lead_id, exc))
                    continue
                read_version.setdefault(lead_id, row.version)
                chain = runtime.follow_ups(tx, compiled, change, acts_of(change))
                latest[lead_id] = chain[-1] if chain else change
                plan_owner(tx, rows[lead_id], latest[lead_id].row)
                planned.append((index, change))
                followed.extend(chain)
                finals[index] = latest[lead_id]
            # one update order for every writer: overlapping batches cannot deadlock
            last = sorted(latest.values(), key=_row_id)
            for change in last:  # one UPDATE per lead, checked against what was read
                change.expected_version = read_version[change.row.lead_id]
            if not tx.write_instances(last):
                raise _Conflict
            tx.write_log(_in_order(planned, followed))
    except (_Conflict, TransactionConflict):
        _fire_one_by_one(fire_one, process, batch, at, result)
        return
    result.succeeded.extend(runtime.instance(finals[index].row) for index, _ in planned)
    result.failed.extend(failures)


def _fire_one_by_one(
    fire_one: FireOne,
    process: str,
    batch: Batch,
    at: datetime | None,
    result: BatchResult,
) -> None:
    for index, item in batch:
        lead_id = str(item.get("lead_id"))
        try:
            result.succeeded.append(
                fire_one(
                    process,
                    lead_id,
                    str(item.get("trigger")),
                    item.get("data"),
                    item.get("actor"),
                    item.get("at") or at,
                )
            )
        except LeadflowError as exc:
            result.failed.append(ItemFailure(index, lead_id, exc))


def _in_order(planned: list[tuple[int, Change]], followed: list[Change]) -> list[Change]:
    """Every change of a lead in version order: the fired ones and the automatic ones."""
    return sorted([c for _, c in planned] + followed, key=lambda c: (c.row.id, c.row.version))


class _Conflict(Exception):
    """A batch lost a race with another writer; it is rolled back and redone item by item."""


def _index(failure: ItemFailure) -> int:
    return failure.index


def _first(pair: tuple[int, Any]) -> int:
    return pair[0]


def _lead_id(change: Change) -> str:
    return change.row.lead_id


def _row_id(change: Change) -> int:
    return change.row.id
