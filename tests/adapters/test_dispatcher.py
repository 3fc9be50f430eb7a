"""The outbox dispatcher: fan-out, per-lead order, backoff, throttling, dead letters, leases."""

from __future__ import annotations

import base64
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from outbox_receiver import Receiver
from prometheus_client import CollectorRegistry

from leadflow.adapters import AdapterConfigError, Delivery, Result, Secret
from leadflow.adapters.outbox import (
    MAX_ERROR,
    Dispatcher,
    DispatchOptions,
    InvalidOutboxRequest,
    Outbox,
    PurgeResult,
    UnknownDelivery,
)
from leadflow.adapters.webhook import WebhookAdapter
from leadflow.engine import Engine
from leadflow.engine.metrics import EngineMetrics
from leadflow.engine.store._outbox import claim, write_tx
from leadflow.engine.testing import ManualClock

DEFINITION = Path(__file__).parents[1] / "definitions" / "outbox" / "subscribed.yaml"
PROCESS = "outbox-lead"
CHAOS = Path(__file__).parents[1] / "definitions" / "chaos" / "chaos.yaml"
SECRET = Secret("whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode())

Script = Callable[[Delivery], Result]


class ScriptedAdapter:
    """An adapter whose outcome per delivery comes from ``script``; it records every call."""

    def __init__(self, name: str, script: Script | None = None, max_batch: int = 1) -> None:
        self.name = name
        self.max_batch = max_batch
        self.script: Script = script or (lambda d: Result.delivered("HTTP 200", 200))
        self.calls: list[list[Delivery]] = []
        self.results: list[tuple[Delivery, Result]] = []
        self.lock = threading.Lock()

    def deliver(self, deliveries: Sequence[Delivery]) -> list[Result]:
        with self.lock:
            self.calls.append(list(deliveries))
        results = [self.script(d) for d in deliveries]
        with self.lock:
            self.results.extend(zip(deliveries, results, strict=True))
        return results

    def close(self) -> None:
        pass

    @property
    def attempts(self) -> list[Delivery]:
        return [d for call in self.calls for d in call]

    def delivered(self) -> list[tuple[str, int]]:
        """(lead, seq) of every attempt whose script said delivered, in attempt order."""
        return [
            (d.event.subject, d.event.seq)
            for d, result in self.results
            if result.outcome.value == "delivered"
        ]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def engine(db_url: str, clock: ManualClock) -> Iterator[Engine]:
    with Engine(db_url, clock=clock, create=True) as lf:
        lf.deploy(DEFINITION)
        yield lf


@pytest.fixture
def sqlite_engine(sqlite_url: str, clock: ManualClock) -> Iterator[Engine]:
    with Engine(sqlite_url, clock=clock) as lf:
        lf.deploy(DEFINITION)
        yield lf


def changes(engine: Engine, leads: int, updates: int = 1, prefix: str = "L") -> None:
    """Start ``leads`` leads, give each ``updates`` data updates and a contact transition."""
    for i in range(leads):
        engine.start(PROCESS, f"{prefix}{i}", {"email": f"{i}@example.com"})
    for n in range(updates):
        for i in range(leads):
            engine.update(PROCESS, f"{prefix}{i}", {"score": n + 1})
    for i in range(leads):
        engine.fire(PROCESS, f"{prefix}{i}", "contact")


def drain(dispatcher: Dispatcher, clock: ManualClock, rounds: int = 1000) -> None:
    """Dispatch until nothing is pending, moving the clock to each next due time."""
    for _ in range(rounds):
        if dispatcher.dispatch_once():
            continue
        due = dispatcher.next_due()
        if due is None:
            return
        if due > clock.now():
            clock.set(due)
    raise AssertionError("the outbox did not drain")


def dispatcher(engine: Engine, *adapters: ScriptedAdapter, **options: object) -> Dispatcher:
    opts = DispatchOptions(**{"concurrency": 1, **options})  # type: ignore[arg-type]
    return Dispatcher(engine, {a.name: a for a in adapters}, opts, rng=random.Random(7))


# -- fan-out -----------------------------------------------------------------------------------


def test_each_event_goes_to_each_subscription_that_wants_its_type(engine: Engine) -> None:
    """A subscription with ``*`` gets every event, one listing types only those types."""
    changes(engine, leads=3)
    crm, audit = ScriptedAdapter("crm"), ScriptedAdapter("audit")
    with dispatcher(engine, crm, audit) as d:
        while d.dispatch_once():
            pass
        assert d.next_due() is None
    assert sorted((d.event.subject, d.event.seq) for d in crm.attempts) == [
        (f"L{i}", s) for i in range(3) for s in (1, 2, 3)
    ]
    assert {d.event.type for d in audit.attempts} == {"leadflow.lead.stage_changed"}
    assert len(audit.attempts) == 3
    status = Outbox(engine).status()
    assert status.undispatched == 0
    assert [(a.adapter, a.delivered, a.pending) for a in status.adapters] == [
        ("audit", 3, 0),
        ("crm", 9, 0),
    ]


def test_deliveries_of_an_unconfigured_adapter_wait_for_it(sqlite_engine: Engine) -> None:
    """Events for an adapter this dispatcher lacks are fanned out anyway, reported as waiting
    for an unconfigured adapter, and delivered by a dispatcher that has it."""
    changes(sqlite_engine, leads=2)
    crm = ScriptedAdapter("crm")
    with dispatcher(sqlite_engine, crm) as d:
        while d.dispatch_once():
            pass
        assert d.next_due() is None
        backlog = {a.adapter: a for a in d.status().adapters}
    assert backlog["audit"].pending == 2
    assert backlog["audit"].configured is False
    assert backlog["crm"].configured is True
    audit = ScriptedAdapter("audit")
    with dispatcher(sqlite_engine, audit) as d:
        while d.dispatch_once():
            pass
    assert len(audit.attempts) == 2


def test_events_nobody_subscribes_to_are_marked_dispatched(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    """An event of a process without subscriptions creates no delivery and is not looked at
    again."""
    text = DEFINITION.read_text().split("subscriptions:")[0].replace(PROCESS, "quiet")
    sqlite_engine.deploy(text)
    sqlite_engine.start("quiet", "Q1", {"email": "q@example.com"})
    with dispatcher(sqlite_engine, ScriptedAdapter("crm")) as d:
        assert d.next_due() == clock.now()
        assert d.dispatch_once() == 0
        assert d.next_due() is None
    assert Outbox(sqlite_engine).status().undispatched == 0


# -- order -------------------------------------------------------------------------------------


def test_a_failing_event_holds_back_its_leads_later_events_only(
    engine: Engine, clock: ManualClock
) -> None:
    """While lead L0's first event is retried, L0's later events wait; other leads flow."""
    changes(engine, leads=3)
    broken = {"on": True}

    def script(d: Delivery) -> Result:
        if broken["on"] and d.event.subject == "L0":
            return Result.retry("HTTP 503", status=503)
        return Result.delivered("HTTP 200", 200)

    crm = ScriptedAdapter("crm", script)
    with dispatcher(engine, crm, base=10.0, cap=10.0) as d:
        while d.dispatch_once():
            pass
        assert [s for lead, s in crm.delivered() if lead == "L0"] == []
        l0 = {(x.event.subject, x.event.seq) for x in crm.attempts if x.event.subject == "L0"}
        assert l0 == {("L0", 1)}
        assert sorted(crm.delivered()) == [(f"L{i}", s) for i in (1, 2) for s in (1, 2, 3)]
        broken["on"] = False
        drain(d, clock)
    assert [s for lead, s in crm.delivered() if lead == "L0"] == [1, 2, 3]


def test_a_claim_holds_one_event_per_lead_in_batches_of_max_batch(engine: Engine) -> None:
    """Each adapter call gets at most ``max_batch`` deliveries, never two of one lead."""
    changes(engine, leads=7, updates=2)
    crm = ScriptedAdapter("crm", max_batch=3)
    with dispatcher(engine, crm, batch_size=5) as d:
        rounds = 0
        while d.dispatch_once():
            rounds += 1
    assert all(1 <= len(call) <= 3 for call in crm.calls)
    assert all(len({x.event.subject for x in call}) == len(call) for call in crm.calls)
    per_lead: dict[str, list[int]] = {}
    for lead, seq in crm.delivered():
        per_lead.setdefault(lead, []).append(seq)
    assert per_lead == {f"L{i}": [1, 2, 3, 4] for i in range(7)}


def test_concurrent_delivery_keeps_per_lead_order(sqlite_engine: Engine) -> None:
    """With 8 delivery threads, each lead's events still arrive in seq order."""
    changes(sqlite_engine, leads=40, updates=3)
    crm = ScriptedAdapter("crm")
    with dispatcher(sqlite_engine, crm, concurrency=8, batch_size=50) as d:
        while d.dispatch_once():
            pass
    per_lead: dict[str, list[int]] = {}
    for lead, seq in crm.delivered():
        per_lead.setdefault(lead, []).append(seq)
    assert per_lead == {f"L{i}": [1, 2, 3, 4, 5] for i in range(40)}


def test_events_of_one_change_go_out_one_at_a_time_in_written_order(
    engine: Engine, clock: ManualClock
) -> None:
    """``contact`` ends an SLA clock: one change, two events with one seq (stage_changed, then
    sla_fulfilled). They are claimed one at a time, so while the first is retried the second
    waits (a chaos run saw them arrive the wrong way round)."""
    engine.deploy(CHAOS)
    engine.start("chaos-lead", "C1", {"email": "c@example.com"}, owner="ann")
    engine.fire("chaos-lead", "C1", "contact")
    refused: set[str] = set()

    def script(d: Delivery) -> Result:
        if d.event.type.endswith("stage_changed") and not refused:
            refused.add(d.event.id)
            return Result.retry("HTTP 503", status=503)
        return Result.delivered("HTTP 200", 200)

    crm = ScriptedAdapter("crm", script)
    with dispatcher(engine, crm, concurrency=4, base=10.0, cap=10.0) as d:
        drain(d, clock)
    assert all(len(call) == 1 for call in crm.calls)
    kinds = [(x.event.type.rsplit(".", 1)[1], r.outcome.value) for x, r in crm.results]
    assert kinds == [
        ("started", "delivered"),
        ("stage_changed", "retry"),
        ("stage_changed", "delivered"),
        ("sla_fulfilled", "delivered"),
    ]


# -- retries, throttling, dead letters ---------------------------------------------------------


def test_backoff_is_exponential_with_full_jitter_from_the_injected_rng(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    """The n-th retry waits rng.uniform(0, min(cap, base * 2**(n-1))) seconds."""
    sqlite_engine.start(PROCESS, "L0", {"email": "a@example.com"})
    crm = ScriptedAdapter("crm", lambda d: Result.retry("HTTP 502", status=502))
    expected = random.Random(7)
    with dispatcher(sqlite_engine, crm, base=2.0, cap=10.0, max_attempts=20) as d:
        for failure in range(1, 7):
            start = clock.now()
            assert d.dispatch_once() == 1
            wait = expected.uniform(0, min(10.0, 2.0 * 2 ** (failure - 1)))
            due = d.next_due()
            assert due is not None
            assert abs((due - start).total_seconds() - wait) < 1e-5
            clock.set(max(due, clock.now()))
    assert [x.attempt for x in crm.attempts] == [1, 2, 3, 4, 5, 6]
    assert len({x.event.id for x in crm.attempts}) == 1


def test_retry_after_delays_the_retry_and_pauses_the_whole_adapter(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    """A throttled answer (retry_after=30 s) delays that delivery at least 30 s and stops every
    delivery to the same adapter for 30 s; other adapters go on."""
    changes(sqlite_engine, leads=4)
    throttled = {"left": 1}

    def script(d: Delivery) -> Result:
        if throttled["left"]:
            throttled["left"] -= 1
            return Result.retry("HTTP 429 policyName=TEN_SECONDLY_ROLLING", 30.0, 429)
        return Result.delivered("HTTP 200", 200)

    crm, audit = ScriptedAdapter("crm", script), ScriptedAdapter("audit")
    with dispatcher(sqlite_engine, crm, audit, batch_size=1, base=0.001, cap=0.001) as d:
        start = clock.now()
        assert d.dispatch_once() == 1  # crm L0 seq 1: throttled
        while d.dispatch_once():
            pass
        assert len(crm.attempts) == 1
        assert len(audit.attempts) == 4  # audit is not paused
        assert d.next_due() == start + timedelta(seconds=30)
        clock.advance(timedelta(seconds=29))
        assert d.dispatch_once() == 0
        clock.advance(timedelta(seconds=1))
        drain(d, clock)
    assert len(crm.delivered()) == 12


def test_a_permanent_failure_is_dead_at_once_and_does_not_block_the_lead(
    sqlite_engine: Engine,
) -> None:
    """FAILED makes the delivery dead after one attempt, with the detail and status stored;
    the lead's later events are still delivered."""
    changes(sqlite_engine, leads=2)

    def script(d: Delivery) -> Result:
        if (d.event.subject, d.event.seq) == ("L0", 1):
            return Result.failed("HTTP 422: property 'email' is invalid", 422)
        return Result.delivered("HTTP 200", 200)

    crm = ScriptedAdapter("crm", script)
    with dispatcher(sqlite_engine, crm) as d:
        while d.dispatch_once():
            pass
        assert d.stats.dead == 1
    (dead,) = Outbox(sqlite_engine).list(status="dead")
    assert (dead.lead_id, dead.seq, dead.attempts) == ("L0", 1, 1)
    assert (dead.last_status, dead.last_error) == (422, "HTTP 422: property 'email' is invalid")
    assert [s for lead, s in crm.delivered() if lead == "L0"] == [2, 3]


def test_block_on_dead_holds_back_the_leads_later_events(sqlite_engine: Engine) -> None:
    """With ``block_on_dead`` a dead letter stops its lead's later events for that adapter."""
    changes(sqlite_engine, leads=2)
    crm = ScriptedAdapter(
        "crm",
        lambda d: (
            Result.failed("HTTP 400", 400)
            if (d.event.subject, d.event.seq) == ("L0", 1)
            else Result.delivered()
        ),
    )
    with dispatcher(sqlite_engine, crm, block_on_dead=True) as d:
        while d.dispatch_once():
            pass
        assert d.next_due() is None
    assert [s for lead, s in crm.delivered() if lead == "L0"] == []
    assert Outbox(sqlite_engine).status().pending == 2 + 2  # L0 seq 2 and 3, audit x2


def test_the_retry_budget_ends_in_a_dead_letter(sqlite_engine: Engine, clock: ManualClock) -> None:
    """After ``max_attempts`` retryable failures the delivery is dead, saying it gave up."""
    sqlite_engine.start(PROCESS, "L0", {"email": "a@example.com"})
    crm = ScriptedAdapter("crm", lambda d: Result.retry("timed out (ReadTimeout)"))
    with dispatcher(sqlite_engine, crm, max_attempts=4) as d:
        drain(d, clock)
    (dead,) = Outbox(sqlite_engine).list(status="dead")
    assert dead.attempts == 4
    assert dead.last_error == "gave up after 4 attempts: timed out (ReadTimeout)"
    assert len(crm.attempts) == 4


def test_an_adapter_that_raises_or_miscounts_retries_the_batch(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    """An exception from ``deliver`` or a wrong number of results is a RETRY of the batch."""
    sqlite_engine.start(PROCESS, "L0", {"email": "a@example.com"})
    sqlite_engine.start(PROCESS, "L1", {"email": "b@example.com"})
    calls = {"n": 0}

    class Flaky(ScriptedAdapter):
        def deliver(self, deliveries: Sequence[Delivery]) -> list[Result]:
            calls["n"] += 1
            if calls["n"] == 1:
                raise ConnectionResetError("peer reset")
            if calls["n"] == 2:
                return []
            return super().deliver(deliveries)

    crm = Flaky("crm", max_batch=10)
    with dispatcher(sqlite_engine, crm, base=0.0, cap=0.0) as d:
        assert d.dispatch_once() == 2
        errors = {i.last_error for i in Outbox(sqlite_engine).list(status="pending")}
        assert errors == {"adapter crm raised ConnectionResetError: peer reset"}
        assert d.dispatch_once() == 2
        errors = {i.last_error for i in Outbox(sqlite_engine).list(status="pending")}
        assert errors == {"adapter crm returned 0 results for 2 deliveries"}
        drain(d, clock)
    assert len(crm.delivered()) == 2


def test_long_details_are_clipped_in_last_error(sqlite_engine: Engine) -> None:
    """``last_error`` keeps at most MAX_ERROR characters of the adapter's detail."""
    sqlite_engine.start(PROCESS, "L0", {"email": "a@example.com"})
    crm = ScriptedAdapter("crm", lambda d: Result.failed("x" * 5000, 400))
    with dispatcher(sqlite_engine, crm) as d:
        d.dispatch_once()
    (dead,) = Outbox(sqlite_engine).list(status="dead")
    assert dead.last_error is not None
    assert len(dead.last_error) == MAX_ERROR
    assert dead.last_error.endswith("...")


# -- leases ------------------------------------------------------------------------------------


def test_a_lease_of_a_dead_dispatcher_expires_and_is_taken_over(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    """Deliveries claimed by a dispatcher that vanished wait until the lease ends, then another
    dispatcher delivers them with the same event ids."""
    changes(sqlite_engine, leads=2)
    with dispatcher(sqlite_engine, ScriptedAdapter("audit")) as d:
        d.fan_out()
    now = clock.now()
    with write_tx(sqlite_engine.store.sa, "test claim") as conn:
        ghost = claim(conn, ["crm"], now, 100, now + timedelta(seconds=60), "ghost", False)
    assert len(ghost) == 2
    crm = ScriptedAdapter("crm")
    with dispatcher(sqlite_engine, crm, lease=60.0) as d:
        assert d.dispatch_once() == 0
        assert d.next_due() == now + timedelta(seconds=60)
        clock.advance(timedelta(seconds=60))
        drain(d, clock)
    assert [(x.event.subject, x.event.seq) for x in crm.attempts[:2]] == [("L0", 1), ("L1", 1)]
    assert len(crm.delivered()) == 6


def test_an_outcome_after_the_lease_expired_is_not_recorded(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    """A dispatcher too slow for its lease loses the delivery to another one; its late outcome
    is dropped (counted in ``lost_leases``), so the other dispatcher's result stands."""
    sqlite_engine.start(PROCESS, "L0", {"email": "a@example.com"})
    fast = ScriptedAdapter("crm", lambda d: Result.failed("HTTP 400", 400))
    other = dispatcher(sqlite_engine, fast, lease=10.0)

    def slow_script(d: Delivery) -> Result:
        clock.advance(timedelta(seconds=11))
        assert other.dispatch_once() == 1  # takes over the expired lease
        return Result.delivered("HTTP 200", 200)

    slow = dispatcher(sqlite_engine, ScriptedAdapter("crm", slow_script), lease=10.0)
    with slow, other:
        assert slow.dispatch_once() == 1
        assert slow.stats.lost_leases == 1
    (dead,) = Outbox(sqlite_engine).list(status="dead")
    assert dead.attempts == 1


def test_leases_lost_by_two_adapters_at_once_count_under_each_adapter(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    """A round of crm and audit deliveries overruns its lease and another dispatcher takes both
    over: the late outcomes are dropped and ``leadflow_deliveries_total`` counts each adapter's
    lost leases under its own name (2 crm, 1 audit), never under a shared label."""
    sqlite_engine.start(PROCESS, "L0", {"email": "a@example.com"})
    sqlite_engine.start(PROCESS, "L1", {"email": "b@example.com"})
    sqlite_engine.fire(PROCESS, "L0", "contact")  # audit gets this one event
    registry = CollectorRegistry()
    metrics = EngineMetrics(sqlite_engine, registry)
    other = dispatcher(sqlite_engine, ScriptedAdapter("crm"), ScriptedAdapter("audit"), lease=10.0)
    taken: list[int] = []

    def overrun(d: Delivery) -> Result:
        if not taken:
            clock.advance(timedelta(seconds=11))
            taken.append(other.dispatch_once())  # takes over both adapters' expired leases
        return Result.delivered("HTTP 200", 200)

    slow = dispatcher(
        sqlite_engine,
        ScriptedAdapter("crm", overrun, max_batch=10),
        ScriptedAdapter("audit", overrun),
        lease=10.0,
    )
    with slow, other:
        assert slow.dispatch_once() == 3  # crm: each lead's first event; audit: L0's
        assert slow.stats.lost_leases == 3
    metrics.close()
    assert taken == [3]

    def lost(adapter: str) -> float | None:
        labels = {"adapter": adapter, "outcome": "lost_lease"}
        return registry.get_sample_value("leadflow_deliveries_total", labels)

    assert (lost("crm"), lost("audit"), lost("several")) == (2, 1, None)
    assert len(Outbox(sqlite_engine).list(status="delivered")) == 3


# -- scheduling --------------------------------------------------------------------------------


def test_next_due_follows_the_work(sqlite_engine: Engine, clock: ManualClock) -> None:
    """None with nothing pending, now with events to fan out, the retry time after a failure."""
    crm = ScriptedAdapter("crm", lambda d: Result.retry("HTTP 503", 120.0, 503))
    with dispatcher(sqlite_engine, crm, ScriptedAdapter("audit")) as d:
        assert d.next_due() is None
        sqlite_engine.start(PROCESS, "L0", {"email": "a@example.com"})
        assert d.next_due() == clock.now()
        assert d.dispatch_once() == 1
        assert d.next_due() == clock.now() + timedelta(seconds=120)


def test_run_until_idle_stops_when_only_later_retries_remain(sqlite_engine: Engine) -> None:
    """``run(until_idle=True)`` delivers what is due and returns instead of waiting an hour."""
    changes(sqlite_engine, leads=2)
    crm = ScriptedAdapter(
        "crm",
        lambda d: Result.retry("HTTP 503") if d.event.subject == "L1" else Result.delivered(),
    )
    with dispatcher(sqlite_engine, crm, ScriptedAdapter("audit"), base=3000.0, cap=3000.0) as d:
        assert d.run(until_idle=True) == 3 + 1 + 2
    assert Outbox(sqlite_engine).status().pending == 3


def test_run_stops_when_told(sqlite_engine: Engine) -> None:
    """``run()`` without ``until_idle`` returns promptly once its stop event is set."""
    stop = threading.Event()
    with dispatcher(sqlite_engine, ScriptedAdapter("crm"), poll_interval=0.01) as d:
        thread = threading.Thread(target=d.run, kwargs={"stop": stop})
        thread.start()
        stop.set()
        thread.join(5)
        assert not thread.is_alive()


# -- options -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"concurency": 4}, "unknown key 'concurency'"),
        ({"concurrency": "8"}, "key 'concurrency' must be an integer; got '8'"),
        ({"block_on_dead": 1}, "key 'block_on_dead' must be true or false"),
        ({"lease": True}, "key 'lease' must be a number"),
        ({"max_attempts": 0}, "'max_attempts' must be between 1 and 1000; got 0"),
        ({"base": 10, "cap": 5}, "'cap' (5.0) must not be below 'base' (10.0)"),
    ],
)
def test_bad_dispatch_options_name_the_key(table: dict[str, object], message: str) -> None:
    """Each wrong ``[dispatch]`` key is refused with its name and what is allowed."""
    with pytest.raises(AdapterConfigError, match=r"^leadflow\.toml: ") as info:
        DispatchOptions.from_mapping(table, "leadflow.toml: [dispatch]")
    assert message in str(info.value)


def test_dispatch_options_from_a_table() -> None:
    """Integers are accepted for seconds; unspecified options keep their defaults."""
    options = DispatchOptions.from_mapping({"concurrency": 4, "lease": 30, "block_on_dead": True})
    assert (options.concurrency, options.lease, options.block_on_dead) == (4, 30.0, True)
    assert options.max_attempts == DispatchOptions().max_attempts


# -- operating the outbox ----------------------------------------------------------------------


def test_retry_brings_dead_letters_back_with_a_fresh_budget(
    engine: Engine, clock: ManualClock
) -> None:
    """``retry(all_dead=True)`` makes dead letters pending and due; they are then delivered."""
    changes(engine, leads=2)
    verdict = {"fail": True}
    crm = ScriptedAdapter(
        "crm", lambda d: Result.failed("HTTP 400", 400) if verdict["fail"] else Result.delivered()
    )
    box = Outbox(engine)
    with dispatcher(engine, crm, ScriptedAdapter("audit")) as d:
        while d.dispatch_once():
            pass
        assert box.status().dead == 6
        verdict["fail"] = False
        assert box.retry(all_dead=True, adapter="audit") == 0
        assert box.retry(all_dead=True, adapter="crm") == 6
        assert {i.attempts for i in box.list(status="pending")} == {0}
        drain(d, clock)
    assert box.status().dead == 0
    assert len(crm.delivered()) == 6


def test_retry_by_id_refuses_unknown_and_delivered_ids_changing_nothing(
    sqlite_engine: Engine,
) -> None:
    """Unknown ids raise UnknownDelivery, delivered ones InvalidOutboxRequest; nothing moves."""
    changes(sqlite_engine, leads=1)
    crm = ScriptedAdapter(
        "crm", lambda d: Result.failed("HTTP 400", 400) if d.event.seq == 1 else Result.delivered()
    )
    box = Outbox(sqlite_engine)
    with dispatcher(sqlite_engine, crm) as d:
        while d.dispatch_once():
            pass
    (dead,) = box.list(status="dead")
    delivered = box.list(status="delivered")[0]
    with pytest.raises(UnknownDelivery, match="no delivery with id 9999") as info:
        box.retry([dead.id, 9999])
    assert info.value.ids == (9999,)
    with pytest.raises(InvalidOutboxRequest, match="already delivered"):
        box.retry([dead.id, delivered.id])
    with pytest.raises(InvalidOutboxRequest, match="not both"):
        box.retry([dead.id], all_dead=True)
    assert box.list(status="dead") == [dead]
    assert box.retry([dead.id]) == 1
    assert box.list(status="dead") == []


def test_list_filters_by_status_adapter_and_lead(sqlite_engine: Engine) -> None:
    """``list`` narrows by status, adapter and lead id, oldest first, up to ``limit``."""
    changes(sqlite_engine, leads=2)
    with dispatcher(sqlite_engine, ScriptedAdapter("crm")) as d:
        while d.dispatch_once():
            pass
    box = Outbox(sqlite_engine)
    rows = box.list(lead_id="L1", adapter="crm")
    assert [(r.lead_id, r.seq, r.status) for r in rows] == [
        ("L1", s, "delivered") for s in (1, 2, 3)
    ]
    assert [r.adapter for r in box.list(status="pending")] == ["audit", "audit"]
    assert len(box.list(limit=2)) == 2
    assert rows[0].event_id != rows[1].event_id
    with pytest.raises(InvalidOutboxRequest, match="status 'lost' is not one of"):
        box.list(status="lost")


def test_purge_deletes_only_what_is_done(sqlite_engine: Engine, clock: ManualClock) -> None:
    """Purging removes delivered deliveries before the cut-off and dead letters on request,
    then the fanned-out events with no delivery left; pending deliveries stay."""
    changes(sqlite_engine, leads=2)
    crm = ScriptedAdapter(
        "crm", lambda d: Result.failed("HTTP 400", 400) if d.event.seq == 3 else Result.delivered()
    )
    box = Outbox(sqlite_engine)
    with dispatcher(sqlite_engine, crm) as d:
        while d.dispatch_once():
            pass
    with pytest.raises(InvalidOutboxRequest, match="say what to purge"):
        box.purge()
    before = clock.now()
    assert box.purge(delivered_before=before) == PurgeResult(0, 0)
    clock.advance(timedelta(minutes=1))
    result = box.purge(delivered_before=clock.now())
    assert (result.deliveries, result.events) == (4, 4)  # seq 3 events still have deliveries
    assert box.purge(dead=True).deliveries == 2
    assert [(a.adapter, a.pending) for a in box.status().adapters] == [("audit", 2)]


# -- properties --------------------------------------------------------------------------------


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    outcomes=st.lists(st.sampled_from(["ok", "ok", "retry", "throttle", "fail"]), max_size=30),
    concurrency=st.sampled_from([1, 3]),
)
def test_any_outcome_sequence_ends_delivered_or_dead_in_order(
    outcomes: list[str], concurrency: int
) -> None:
    """Whatever the adapter answers, every event ends delivered or dead, each lead's delivered
    events arrive in seq order, and no event is attempted while an earlier one of its lead is
    still pending."""
    clock = ManualClock()
    with Engine("sqlite://", clock=clock) as lf:
        lf.deploy(DEFINITION)
        changes(lf, leads=3)
        answers = iter(outcomes)
        state: dict[tuple[str, int], str] = {}
        violations: list[str] = []
        lock = threading.Lock()

        def script(d: Delivery) -> Result:
            lead, seq = d.event.subject, d.event.seq
            with lock:
                if any(state.get((lead, s), "pending") == "pending" for s in range(1, seq)):
                    violations.append(f"{lead}#{seq} before an earlier one")
                answer = next(answers, "ok")
                result = {
                    "ok": Result.delivered(),
                    "retry": Result.retry("HTTP 503"),
                    "throttle": Result.retry("HTTP 429", 5.0, 429),
                    "fail": Result.failed("HTTP 400"),
                }[answer]
                state[(lead, seq)] = {"ok": "delivered", "fail": "dead"}.get(answer, "pending")
                if answer in ("retry", "throttle") and d.attempt >= 3:
                    state[(lead, seq)] = "dead"
            return result

        crm = ScriptedAdapter("crm", script, max_batch=2)
        options = DispatchOptions(concurrency=concurrency, max_attempts=3, base=1.0, cap=4.0)
        with Dispatcher(lf, {"crm": crm}, options, rng=random.Random(1)) as d:
            drain(d, clock)
        assert violations == []
        (crm_backlog,) = [a for a in Outbox(lf).status().adapters if a.adapter == "crm"]
        assert crm_backlog.pending == 0
        arrivals: dict[str, list[int]] = {}
        for (lead, seq), final in sorted(state.items()):
            if final == "delivered":
                arrivals.setdefault(lead, []).append(seq)
        assert all(seqs == sorted(seqs) for seqs in arrivals.values())
        assert len(state) == 9


# -- a real webhook ----------------------------------------------------------------------------


def test_webhook_deliveries_carry_the_event_id_as_idempotency_key(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    """Through the webhook adapter, a 503 with Retry-After is retried no sooner than asked, and
    every attempt of an event carries its id as Idempotency-Key."""
    receiver = Receiver(down=True, retry_after="7")
    webhook = WebhookAdapter("crm", receiver.url, [SECRET], timeout=5.0, clock=clock)
    try:
        sqlite_engine.start(PROCESS, "L0", {"email": "a@example.com"})
        options = DispatchOptions(concurrency=2)
        with Dispatcher(sqlite_engine, {"crm": webhook}, options, rng=random.Random(3)) as d:
            start: datetime = clock.now()
            assert d.dispatch_once() == 1
            assert d.next_due() == start + timedelta(seconds=7)
            receiver.down = False
            drain(d, clock)
    finally:
        webhook.close()
        receiver.close()
    (arrival,) = receiver.arrivals
    assert arrival.idempotency_key == arrival.id
    assert receiver.failures == 1


def test_adapters_see_the_leads_data_at_delivery(engine: Engine, clock: ManualClock) -> None:
    """Each delivered event carries the lead's current data (``Event.lead``), so an adapter finds
    values the event itself does not repeat, such as a CRM record id set at start."""
    crm = ScriptedAdapter("crm")
    engine.start(PROCESS, "L1", {"email": "a@example.com", "score": 7})
    engine.update(PROCESS, "L1", {"score": 8})
    with dispatcher(engine, crm) as d:
        drain(d, clock)
    assert [dict(x.event.lead or {}) for x in crm.attempts] == [
        {"email": "a@example.com", "score": 8}
    ] * 2
    assert "score" not in crm.attempts[0].event.data.get("changes", {})
