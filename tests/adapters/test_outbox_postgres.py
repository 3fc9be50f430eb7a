"""Several dispatchers on one PostgreSQL database share the outbox through SKIP LOCKED."""

from __future__ import annotations

import base64
import random
import threading
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from outbox_receiver import Receiver

from leadflow.adapters import Secret
from leadflow.adapters.outbox import Dispatcher, DispatchOptions, Outbox
from leadflow.adapters.webhook import WebhookAdapter
from leadflow.engine import Engine
from leadflow.engine import store as schema
from leadflow.engine.store.tables import outbox

DEFINITION = Path(__file__).parents[1] / "definitions" / "outbox" / "subscribed.yaml"
PROCESS = "outbox-lead"
SECRET = Secret("whsec_" + base64.b64encode(b"postgres-test-secret-0123456789a").decode())
LEADS = 60
UPDATES = 5


@pytest.mark.postgres
def test_three_dispatchers_deliver_each_event_once_in_order(postgres_url: str) -> None:
    """Three dispatchers (own engines and pools) run while two writers keep changing leads:
    every event is delivered exactly once and each lead's events arrive in order, although
    the dispatchers fan out and claim concurrently."""
    schema.upgrade(postgres_url)
    receiver = Receiver()
    writers_done = threading.Event()
    errors: list[BaseException] = []
    stats = []

    def writer(leads: range) -> None:
        try:
            with Engine(postgres_url) as engine:
                for i in leads:
                    engine.start(PROCESS, f"L{i}", {"email": f"l{i}@example.com"})
                for n in range(UPDATES):
                    for i in leads:
                        engine.update(PROCESS, f"L{i}", {"score": n + 1})
        except BaseException as exc:
            errors.append(exc)

    def dispatch(seed: int) -> None:
        webhook = WebhookAdapter("crm", receiver.url, [SECRET], timeout=10.0)
        options = DispatchOptions(concurrency=4, batch_size=25, fanout_batch=40)
        try:
            with (
                Engine(postgres_url) as engine,
                Dispatcher(engine, {"crm": webhook}, options, rng=random.Random(seed)) as d,
            ):
                while True:
                    done = writers_done.is_set()
                    if d.dispatch_once() == 0 and done and d.next_due() is None:
                        break
                stats.append(d.stats)
        except BaseException as exc:
            errors.append(exc)
        finally:
            webhook.close()

    with Engine(postgres_url) as setup:
        setup.deploy(DEFINITION)
    writers = [threading.Thread(target=writer, args=(range(k, LEADS, 2),)) for k in (0, 1)]
    dispatchers = [threading.Thread(target=dispatch, args=(seed,)) for seed in (1, 2, 3)]
    for thread in writers + dispatchers:
        thread.start()
    for thread in writers:
        thread.join(120)
    writers_done.set()
    for thread in dispatchers:
        thread.join(120)
    receiver.close()
    assert errors == []
    with Engine(postgres_url) as engine:
        ids = {r[0] for r in engine.store.query(sa.select(outbox.c.event_id), "ids")}
        status = Outbox(engine).status()
    assert len(ids) == LEADS * (1 + UPDATES)
    counts = Counter(a.id for a in receiver.arrivals)
    assert set(counts) == ids
    assert max(counts.values()) == 1
    assert (status.pending, status.dead, status.undispatched) == (0, 0, 0)
    for lead, seqs in receiver.per_lead().items():
        assert seqs == sorted(seqs), lead
    assert sum(1 for s in stats if s.delivered) >= 2  # the work really was shared
