"""The receiver is down while 10,000 changes happen across 1,000 leads; then it comes back."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from outbox_receiver import Receiver

from leadflow.adapters import Secret
from leadflow.adapters.outbox import Dispatcher, DispatchOptions, Outbox
from leadflow.adapters.webhook import WebhookAdapter
from leadflow.engine import Engine
from leadflow.engine.store.tables import outbox
from leadflow.engine.testing import ManualClock

DEFINITION = Path(__file__).parents[1] / "definitions" / "outbox" / "subscribed.yaml"
PROCESS = "outbox-lead"
SECRET = Secret("whsec_" + base64.b64encode(b"outage-test-secret-0123456789abc").decode())
LEADS = 1000
UPDATES = 9  # 1,000 starts + 9 x 1,000 updates = 10,000 changes
POISONED = {("L7", 3), ("L500", 5), ("L999", 10)}
"""(lead, seq) of the events the CRM refuses for good (422): the only dead letters allowed."""


def poisoned(event: dict[str, Any]) -> bool:
    return (event["subject"], event["data"]["seq"]) in POISONED


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(poison=poisoned)
    yield server
    server.close()


@pytest.mark.slow
def test_every_event_arrives_once_in_order_after_an_outage(
    tmp_path: Path, receiver: Receiver
) -> None:
    """During the outage (connection refused, then 503 with Retry-After) nothing is lost and
    nothing is dead-lettered; afterwards every event arrives exactly once, each lead's events
    in order, and only the events the CRM refuses (422) are dead letters."""
    clock = ManualClock()
    options = DispatchOptions(
        concurrency=8, batch_size=500, base=1.0, cap=60.0, max_attempts=25, lease=60.0
    )
    webhook = WebhookAdapter("crm", receiver.url, [SECRET], timeout=5.0, clock=clock)
    with Engine(f"sqlite:///{tmp_path / 'lf.db'}", clock=clock) as engine:
        engine.deploy(DEFINITION)
        dispatcher = Dispatcher(engine, {"crm": webhook}, options, rng=random.Random(11))
        receiver.stop()  # the receiver is down: connections refused
        for i in range(LEADS):
            engine.start(PROCESS, f"L{i}", {"email": f"l{i}@example.com"})
        dispatcher.dispatch_once()
        for round_ in range(UPDATES):
            if round_ == 4:  # back on its port, but answering 503 Retry-After: 20
                receiver.start()
                receiver.down, receiver.retry_after = True, "20"
            for i in range(LEADS):
                engine.update(PROCESS, f"L{i}", {"score": round_ + 1})
            clock.advance(timedelta(seconds=30))
            dispatcher.dispatch_once()
        assert receiver.arrivals == []
        status = Outbox(engine).status()
        assert (status.pending, status.dead) == (10_000, 0)
        assert dispatcher.stats.retried > 0

        receiver.down = False  # the receiver is back
        for _ in range(10_000):
            if dispatcher.dispatch_once():
                continue
            due = dispatcher.next_due()
            if due is None:
                break
            clock.set(max(due, clock.now()))
        dispatcher.close()
        dead = Outbox(engine).list(status="dead", limit=100)
        ids = {row[0] for row in engine.store.query(sa.select(outbox.c.event_id), "event ids")}
    webhook.close()

    assert {(d.lead_id, d.seq) for d in dead} == POISONED
    assert {d.last_status for d in dead} == {422}
    assert sorted(receiver.refused) == sorted(d.event_id for d in dead)
    unique = receiver.unique()
    assert len(receiver.arrivals) == len(unique)  # no crash, so not even one duplicate
    assert set(unique) | {d.event_id for d in dead} == ids
    assert len(unique) == 10_000 - len(POISONED)
    for lead, seqs in receiver.per_lead().items():
        assert seqs == sorted(seqs), lead
    assert all(a.idempotency_key == a.id for a in receiver.arrivals)
