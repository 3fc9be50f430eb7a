"""What the chaos tests check at the end, exactly: every change a client was told succeeded is
in the database once (and nothing it was not told), every SLA mark fired once, every event
reached the receiver in its lead's order, and nothing is left claimed or waiting."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from chaos_support import PROCESS, Ledger
from outbox_receiver import Receiver

MARKS = ("50%", "100%")


@dataclass
class Counts:
    """The figures a chaos run reports."""

    leads: int = 0
    changes: int = 0
    """Changes clients were told succeeded (starts, updates, contacts)."""
    retries: int = 0
    """Attempts the clients retried (the database was down, a conflict)."""
    marks: int = 0
    """SLA marks fired."""
    events: int = 0
    delivered: int = 0
    """Events the receiver got, counting duplicates (a lost lease sends a batch again)."""
    restarts: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.leads} leads, {self.changes} acknowledged changes ({self.retries} retries), "
            f"{self.marks} marks, {self.events} events, {self.delivered} arrivals "
            f"({self.delivered - self.events} duplicates), {self.restarts} PostgreSQL restarts"
        )


def _rows(url: str, sql: str) -> list[Any]:
    db = sa.create_engine(url)
    try:
        with db.connect() as conn:
            return list(conn.execute(sa.text(sql)).all())
    finally:
        db.dispose()


def settled(url: str) -> bool:
    """Nothing waits: no SLA timer, no event to fan out, no delivery pending."""
    (row,) = _rows(
        url,
        "SELECT (SELECT count(*) FROM lf_timers) + "
        "(SELECT count(*) FROM lf_outbox WHERE NOT dispatched) + "
        "(SELECT count(*) FROM lf_deliveries WHERE status = 'pending')",
    )
    return int(row[0]) == 0


def check(url: str, ledger: Ledger | None, receiver: Receiver, restarts: int = 0) -> Counts:
    """Compare the database and the receiver with what was acknowledged; ``problems`` lists
    every difference (empty when the run was right)."""
    counts = Counts(restarts=restarts)
    _check_changes(url, ledger, counts)
    _check_marks(url, counts)
    _check_deliveries(url, receiver, counts)
    _check_nothing_left(url, counts)
    return counts


def _check_changes(url: str, ledger: Ledger | None, counts: Counts) -> None:
    rows = _rows(
        url,
        "SELECT i.lead_id, i.stage, i.data, h.kind, h.trigger FROM lf_instances i "
        f"JOIN lf_history h ON h.instance_id = i.id WHERE i.process = '{PROCESS}' ORDER BY h.seq",
    )
    found: dict[str, list[str]] = {}
    stage: dict[str, str] = {}
    step: dict[str, int | None] = {}
    for lead, at, data, kind, trigger in rows:
        stage[lead], step[lead] = at, json.loads(data).get("step")
        change = {"started": "start", "updated": "update", "transition": trigger}.get(kind)
        if change is not None:
            found.setdefault(lead, []).append(change)
    counts.leads = len(found)
    if ledger is None:
        return
    counts.retries = ledger.retries
    counts.changes = sum(len(v) for v in ledger.acked.values())
    if set(found) != set(ledger.acked):
        missing = sorted(set(ledger.acked) - set(found))[:5]
        extra = sorted(set(found) - set(ledger.acked))[:5]
        counts.problems.append(f"leads acknowledged but missing {missing}, unasked {extra}")
    for lead, acked in ledger.acked.items():
        want = [c.split(":")[0].replace("step", "update") for c in acked]
        if found.get(lead, []) != want:
            counts.problems.append(f"{lead}: history {found.get(lead)} but acknowledged {want}")
        steps = [int(c.split(":")[1]) for c in acked if c.startswith("step:")]
        if step.get(lead) != (steps[-1] if steps else None):
            counts.problems.append(f"{lead}: step {step.get(lead)}, acknowledged {steps}")
        if (stage.get(lead) == "contacted") != ("contact" in acked):
            counts.problems.append(f"{lead}: stage {stage.get(lead)} but acknowledged {acked}")


def _check_marks(url: str, counts: Counts) -> None:
    """Each mark at most once per lead; every mark of a lead never contacted (its clock ran
    out, as the test waits for every timer)."""
    rows = _rows(
        url,
        "SELECT i.lead_id, i.stage, h.details FROM lf_instances i "
        "LEFT JOIN lf_history h ON h.instance_id = i.id AND h.kind = 'sla' "
        f"WHERE i.process = '{PROCESS}'",
    )
    fired: dict[str, Counter[str]] = {}
    stages: dict[str, str] = {}
    for lead, stage, details in rows:
        stages[lead] = stage
        marks = fired.setdefault(lead, Counter())
        if details is not None:
            marks.update(entry["mark"] for entry in json.loads(details)["sla"] if "mark" in entry)
    for lead, marks in fired.items():
        counts.marks += sum(marks.values())
        if any(n > 1 for n in marks.values()):
            counts.problems.append(f"{lead}: a mark fired more than once: {dict(marks)}")
        if stages[lead] == "new" and set(marks) != set(MARKS):
            counts.problems.append(f"{lead}: still new, yet marks fired {dict(marks)}")


def _check_deliveries(url: str, receiver: Receiver, counts: Counts) -> None:
    """Every event of every lead arrived, first arrivals in the order the outbox wrote them."""
    rows = _rows(
        url,
        "SELECT i.lead_id, o.event_id FROM lf_outbox o JOIN lf_instances i "
        f"ON i.id = o.instance_id WHERE i.process = '{PROCESS}' ORDER BY o.id",
    )
    written: dict[str, list[str]] = {}
    for lead, event in rows:
        written.setdefault(lead, []).append(event)
    counts.events = len(rows)
    counts.delivered = len(receiver.arrivals)
    arrived: dict[str, list[str]] = {}
    for arrival in receiver.unique().values():
        arrived.setdefault(arrival.lead, []).append(arrival.id)
    for lead, events in written.items():
        if arrived.get(lead, []) != events:
            got = arrived.get(lead, [])
            lost = len(set(events) - set(got))
            counts.problems.append(
                f"{lead}: {len(events)} events, {len(got)} arrived, {lost} lost, "
                f"in order: {[e for e in got if e in events] == events[: len(got)]}"
            )
    unasked = set(arrived) - set(written)
    if unasked:
        counts.problems.append(f"events of unknown leads arrived: {sorted(unasked)[:5]}")


def _check_nothing_left(url: str, counts: Counts) -> None:
    (row,) = _rows(
        url,
        "SELECT (SELECT count(*) FROM lf_timers), "
        "(SELECT count(*) FROM lf_outbox WHERE NOT dispatched), "
        "(SELECT count(*) FROM lf_deliveries WHERE status <> 'delivered'), "
        "(SELECT count(*) FROM lf_deliveries WHERE status = 'pending' "
        "AND lease_owner IS NOT NULL)",
    )
    names = ("timers left", "events not fanned out", "deliveries not delivered", "claims held")
    for name, value in zip(names, row, strict=True):
        if value:
            counts.problems.append(f"{value} {name}")
