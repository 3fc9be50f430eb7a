"""Flow control of the dispatcher: per-adapter rate limits from the configuration (on simulated
time), the bounded claim, and wake-ups of an idle ``Dispatcher.run`` on PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_dispatcher import (  # the fixtures are shared
    ScriptedAdapter,
    changes,
    clock,  # noqa: F401
    drain,
    engine,  # noqa: F401
    sqlite_engine,  # noqa: F401
)

from leadflow.adapters import AdapterConfigError, Delivery, Result, load_config
from leadflow.adapters.outbox import Dispatcher, DispatchOptions, Outbox
from leadflow.engine import Engine
from leadflow.engine.testing import ManualClock

DEFINITION = Path(__file__).parents[1] / "definitions" / "outbox" / "subscribed.yaml"
PROCESS = "outbox-lead"


def test_a_rate_limited_adapter_gets_at_most_its_rate(
    sqlite_engine: Engine,  # noqa: F811
    clock: ManualClock,  # noqa: F811
) -> None:
    """``rate_limit = 5``: five deliveries at once (a second's worth saved up), then one every
    0.2 s, said by ``next_due``; an adapter without a limit is not held back."""
    changes(sqlite_engine, leads=20, updates=0)  # 40 crm events, 20 audit events (stage_changed)
    crm, audit = ScriptedAdapter("crm"), ScriptedAdapter("audit")
    options = DispatchOptions(concurrency=1, batch_size=100)
    adapters = {"crm": crm, "audit": audit}
    with Dispatcher(sqlite_engine, adapters, options, rate_limits={"crm": 5}) as d:
        assert d.dispatch_once() == 5 + 20
        assert (len(crm.attempts), len(audit.attempts)) == (5, 20)
        assert d.dispatch_once() == 0  # the bucket is empty
        assert d.next_due() == clock.now() + timedelta(seconds=0.2)
        clock.advance(timedelta(seconds=1))
        assert d.dispatch_once() == 5
        clock.advance(timedelta(seconds=10))  # saves up no more than one second's worth
        assert d.dispatch_once() == 5
        sent = 15
        while sent < 40:
            clock.advance(timedelta(seconds=0.2))
            assert d.dispatch_once() == 1
            sent += 1
    assert len(crm.delivered()) == 40


def test_rate_limits_come_from_the_adapters_tables(tmp_path: Path) -> None:
    """``rate_limit`` in an adapter's table is the dispatcher's (the adapter never sees it); a
    bad value names the file, the adapter and what is allowed."""
    good = tmp_path / "good.toml"
    good.write_text('[adapters.j]\ntype = "jsonl"\npath = "out.jsonl"\nrate_limit = 2.5\n')
    config = load_config(good, env={})
    assert config.rate_limits == {"j": 2.5}
    adapters = config.build_adapters()
    adapters["j"].close()
    bad = tmp_path / "bad.toml"
    bad.write_text('[adapters.j]\ntype = "jsonl"\npath = "out.jsonl"\nrate_limit = "fast"\n')
    with pytest.raises(AdapterConfigError) as caught:
        _ = load_config(bad, env={}).rate_limits
    message = str(caught.value)
    assert message.startswith(f"{bad}: [adapters.j] rate_limit must be a number")
    assert "'fast'" in message
    with Engine("sqlite://", create=True) as lf, pytest.raises(AdapterConfigError) as zero:
        Dispatcher(lf, {}, rate_limits={"j": 0})  # the Python API is checked the same way
    assert "Dispatcher(rate_limits=...): [adapters.j] rate_limit must be" in str(zero.value)


@pytest.mark.postgres
def test_an_idle_run_is_woken_by_a_commit(postgres_url: str) -> None:
    """On PostgreSQL an idle ``Dispatcher.run`` with a 30 s poll delivers a new event within
    about a second of its commit: the commit's notification wakes it."""
    with Engine(postgres_url, create=True) as lf:
        lf.deploy(DEFINITION)
        crm = ScriptedAdapter("crm")
        options = DispatchOptions(concurrency=1, poll_interval=30.0)
        stop = threading.Event()
        with Dispatcher(lf, {"crm": crm}, options) as d:
            runner = threading.Thread(target=d.run, kwargs={"stop": stop})
            runner.start()
            try:
                time.sleep(1.0)  # idle: listening, waiting for the 30 s poll
                started = time.monotonic()
                lf.start(PROCESS, "w1", {"email": "w@example.com"})
                while not crm.attempts and time.monotonic() - started < 10:
                    time.sleep(0.01)
                took = time.monotonic() - started
            finally:
                stop.set()
                runner.join(10)
    assert crm.attempts, "not delivered within 10 s"
    assert took < 2.0, f"delivered after {took:.2f} s"


def test_rapid_updates_of_a_lead_go_out_as_one_write(
    engine: Engine,  # noqa: F811
    clock: ManualClock,  # noqa: F811
) -> None:
    """``coalesce``: four updates right after a lead's start reach the CRM as one event (the
    last, its changes from the first value to the last), in order between the start and the
    contact; a retry retries them together; every folded delivery is recorded delivered. An
    adapter that does not coalesce gets every update."""
    engine.start(PROCESS, "c1", {"email": "c@example.com"})
    for score in (1, 2, 3, 4):
        engine.update(PROCESS, "c1", {"score": score})
    engine.fire(PROCESS, "c1", "contact")
    refused = []

    def script(d: Delivery) -> Result:
        if d.event.type.endswith("updated") and not refused:
            refused.append(d.event.id)
            return Result.retry("HTTP 503", status=503)
        return Result.delivered("HTTP 200", 200)

    crm, plain = ScriptedAdapter("crm", script), ScriptedAdapter("audit")
    options = DispatchOptions(concurrency=1, base=1.0, cap=1.0)
    with Dispatcher(engine, {"crm": crm, "audit": plain}, options, coalesce=["crm"]) as d:
        drain(d, clock)
        status = Outbox(engine).status()
    sent = [(x.event.type.rsplit(".", 1)[1], x.event.seq) for x in crm.attempts]
    assert sent == [("started", 1), ("updated", 5), ("updated", 5), ("stage_changed", 6)]
    merged = crm.attempts[2].event
    assert merged.data["changes"] == {"score": [None, 4]}
    assert merged.envelope["leadflowcoalesced"] == 4
    assert json.loads(merged.raw)["data"]["changes"] == {"score": [None, 4]}
    assert (status.pending, status.dead) == (0, 0)
    with engine.store.sa.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT status, attempts FROM lf_deliveries WHERE adapter = 'crm'")
        ).all()
    assert sorted(rows) == [("delivered", 1)] * 2 + [("delivered", 2)] * 4


def test_coalesce_is_true_or_false(tmp_path: Path) -> None:
    """``coalesce`` in an adapter's table: a boolean, else an error naming the adapter."""
    path = tmp_path / "c.toml"
    path.write_text('[adapters.j]\ntype = "jsonl"\npath = "o.jsonl"\ncoalesce = true\n')
    assert load_config(path, env={}).coalescing == ["j"]
    path.write_text('[adapters.j]\ntype = "jsonl"\npath = "o.jsonl"\ncoalesce = "yes"\n')
    with pytest.raises(AdapterConfigError, match=r"\[adapters.j\] coalesce must be true or false"):
        _ = load_config(path, env={}).coalescing
