"""``start_many`` and ``fire_many`` count every item in the Prometheus metrics by outcome, as
``start`` and ``fire`` do, and time each call in ``leadflow_batch_duration_seconds`` with its
size in ``leadflow_batch_items``; a batch redone item by item is counted once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from leadflow.engine import DuplicateLead, Engine, telemetry
from leadflow.engine.metrics import EngineMetrics

CHAOS = Path(__file__).parents[1] / "definitions" / "chaos" / "chaos.yaml"
PROCESS = "chaos-lead"
EMAIL = {"email": "x@example.com"}


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """One sample's value (0 when absent)."""
    return registry.get_sample_value(name, {"process": PROCESS, **labels}) or 0.0


@pytest.fixture
def counted(sqlite_url: str) -> Iterator[tuple[Engine, CollectorRegistry]]:
    registry = CollectorRegistry()
    with Engine(sqlite_url, create=True) as engine:
        engine.deploy(CHAOS)
        metrics = EngineMetrics(engine, registry)
        yield engine, registry
        metrics.close()


def test_start_many_counts_each_item_by_outcome(
    counted: tuple[Engine, CollectorRegistry],
) -> None:
    """Three starts succeed, a duplicate and a malformed item fail: starts count 3 started and
    2 invalid, one call of five items is timed; a single start counts too."""
    engine, registry = counted
    engine.start(PROCESS, "one", EMAIL, "ann")
    items = [("a", EMAIL), ("b", EMAIL), ("one", EMAIL), ("c", EMAIL), ("d", EMAIL, "x", "y", 1, 2)]
    result = engine.start_many(PROCESS, items)
    assert len(result.succeeded) == 3
    assert len(result.failed) == 2
    with pytest.raises(DuplicateLead):
        engine.start(PROCESS, "a", EMAIL)
    assert sample(registry, "leadflow_starts_total", outcome="started") == 4
    assert sample(registry, "leadflow_starts_total", outcome="invalid") == 3
    assert sample(registry, "leadflow_fires_total", outcome="fired") == 0
    labels = {"operation": "start_many"}
    duration = "leadflow_batch_duration_seconds"
    assert sample(registry, f"{duration}_count", outcome="completed", **labels) == 1
    assert sample(registry, f"{duration}_sum", outcome="completed", **labels) > 0
    assert sample(registry, "leadflow_batch_items_count", **labels) == 1
    assert sample(registry, "leadflow_batch_items_sum", **labels) == 5


def test_fire_many_counts_fired_and_refused_items_once_per_call(
    counted: tuple[Engine, CollectorRegistry],
) -> None:
    """A fire_many of 2,005 items (three transactions): 2,000 fired, 3 refused (not allowed
    from the stage), 2 unknown leads; fires and refusals count per item, the call once."""
    engine, registry = counted
    leads = [f"L{i}" for i in range(2000)]
    engine.start_many(PROCESS, [(lead, EMAIL, "ann") for lead in leads])
    items: list[tuple[str, str]] = [(lead, "contact") for lead in leads]
    items[10:10] = [("L1", "contact"), ("L2", "contact"), ("L3", "contact")]
    items.append(("ghost", "contact"))
    items.insert(0, ("other-ghost", "win"))
    result = engine.fire_many(PROCESS, items)
    assert len(result.succeeded) == 2000
    assert len(result.failed) == 5
    engine.fire(PROCESS, "L0", "win")  # fire's own count goes on
    assert sample(registry, "leadflow_fires_total", outcome="fired") == 2001
    assert sample(registry, "leadflow_fires_total", outcome="refused") == 3
    assert sample(registry, "leadflow_refusals_total", code="invalid-transition") == 3
    assert sample(registry, "leadflow_fires_total", outcome="invalid") == 2
    assert sample(registry, "leadflow_fire_duration_seconds_count", outcome="fired") == 1
    labels = {"operation": "fire_many"}
    count = "leadflow_batch_duration_seconds_count"
    assert sample(registry, count, outcome="completed", **labels) == 1
    assert sample(registry, "leadflow_batch_items_sum", **labels) == 2005
    assert sample(registry, "leadflow_batch_items_bucket", le="1000.0", **labels) == 0
    assert sample(registry, "leadflow_batch_items_bucket", le="10000.0", **labels) == 1


def test_a_call_that_raises_is_timed_as_an_error_and_counts_no_items(
    counted: tuple[Engine, CollectorRegistry],
) -> None:
    """start_many of an unknown process raises before any item: one error call, no item."""
    engine, registry = counted
    with pytest.raises(LookupError):
        engine.start_many("nope", ["a"])
    count = "leadflow_batch_duration_seconds_count"
    labels = {"process": "nope", "operation": "start_many"}
    assert registry.get_sample_value(count, {**labels, "outcome": "error"}) == 1
    assert registry.get_sample_value("leadflow_batch_items_count", labels) is None
    assert registry.get_sample_value("leadflow_starts_total", {"process": "nope"}) is None


class RacingClock:
    """The engine's clock; armed, its next reading first fires ``contact`` on lead ``L1``
    through a second engine, so the batch reading the clock loses the race."""

    def __init__(self, other: Engine) -> None:
        self.other = other
        self.armed = False

    def now(self) -> datetime:
        if self.armed:
            self.armed = False
            self.other.fire(PROCESS, "L1", "contact")
        return datetime.now(UTC)


@pytest.mark.postgres
def test_a_batch_redone_item_by_item_counts_each_item_once(postgres_url: str) -> None:
    """Another writer changes a lead while fire_many plans: the batch is redone item by item,
    its items count once (three fired, the raced one refused), and the other engine's fire
    counts in its own process's registry only."""
    registry = CollectorRegistry()
    with Engine(postgres_url, create=True) as other:
        clock = RacingClock(other)
        with Engine(postgres_url, clock=clock) as engine:
            engine.deploy(CHAOS)
            engine.start_many(PROCESS, [(f"L{i}", EMAIL, "ann") for i in range(4)])
            metrics = EngineMetrics(engine, registry)
            clock.armed = True
            result = engine.fire_many(PROCESS, [(f"L{i}", "contact") for i in range(4)])
            metrics.close()
            assert engine.get(PROCESS, "L1").version == 2  # contacted once, by the other
    assert not clock.armed  # the race happened
    assert [f.lead_id for f in result.failed] == ["L1"]
    assert sample(registry, "leadflow_fires_total", outcome="fired") == 3
    assert sample(registry, "leadflow_fires_total", outcome="refused") == 1
    assert sample(registry, "leadflow_fire_duration_seconds_count", outcome="fired") == 0
    count = "leadflow_batch_duration_seconds_count"
    assert sample(registry, count, operation="fire_many", outcome="completed") == 1


def test_observers_hear_one_count_per_call(sqlite_url: str) -> None:
    """The Observer protocol: a fire_many of 1,500 items is told in one ``counted`` call (the
    two transactions' items together) and one ``batch`` call."""
    heard: list[object] = []

    class Listener:
        def fired(self, *args: object) -> None:
            heard.append(("fired", *args))

        def counted(self, operation: str, process: str, outcomes: object) -> None:
            heard.append(("counted", operation, process, outcomes))

        def batch(self, operation: str, process: str, size: int | None, seconds: float) -> None:
            heard.append(("batch", operation, process, size))

        def marks(self, lags: object) -> None:
            pass

        def delivered(self, *args: object) -> None:
            pass

    with Engine(sqlite_url, create=True) as engine:
        engine.deploy(CHAOS)
        engine.start_many(PROCESS, [(f"L{i}", EMAIL, "ann") for i in range(1500)])
        listener = Listener()
        telemetry.observe(engine, listener)
        engine.fire_many(PROCESS, [(f"L{i}", "win" if i == 7 else "contact") for i in range(1500)])
        telemetry.forget(engine, listener)
    assert heard == [
        (
            "counted",
            "fire",
            PROCESS,
            {("fired", None): 1499, ("refused", "invalid-transition"): 1},
        ),
        ("batch", "fire_many", PROCESS, 1500),
    ]


def test_a_batch_call_is_one_span_with_its_size(sqlite_url: str) -> None:
    """With a tracer provider, ``fire_many`` makes one ``leadflow.fire_many`` span naming its
    size and the events it wrote, and no span per item; ``start`` makes a ``leadflow.start``
    span."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.use_tracer_provider(provider)
    try:
        with Engine(sqlite_url, create=True) as engine:
            engine.deploy(CHAOS)
            engine.start(PROCESS, "s", EMAIL, "ann")
            engine.start_many(PROCESS, [("a", EMAIL, "ann"), ("b", EMAIL, "ann")])
            engine.fire_many(PROCESS, [("a", "contact"), ("b", "win")])
    finally:
        telemetry.use_tracer_provider(None)
        provider.shutdown()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert sorted(spans) == ["leadflow.fire_many", "leadflow.start", "leadflow.start_many"]
    batch = spans["leadflow.fire_many"].attributes or {}
    assert batch["leadflow.items"] == 2
    assert batch["leadflow.lead_ids"] == ("a",)
    assert batch["cloudevents.event_id"] == batch["leadflow.event_ids"][0]  # a's contact
    assert (spans["leadflow.start"].attributes or {})["leadflow.outcome"] == "started"
