"""What the engine tells metrics and traces as it works: fire latency and outcomes, SLA marks'
deadline-to-action, deliveries by outcome (scraped over real HTTP from the service and the
worker), and OpenTelemetry spans that follow one change from the API to its CRM delivery."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from live_server import Served
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from outbox_receiver import Receiver
from worker_support import (
    ESCALATE,
    PROCESS,
    free_port,
    get_text,
    spawn_worker,
    stop_worker,
    wait_for,
)

from leadflow.adapters import Delivery, Result
from leadflow.adapters.outbox import Dispatcher, DispatchOptions
from leadflow.engine import Engine, GuardFailed, InvalidTransition, telemetry
from leadflow.engine.store import TokenStore
from leadflow.service import create_app

CHAOS = Path(__file__).parents[1] / "definitions" / "chaos" / "chaos.yaml"


class Recorder:
    """An adapter that delivers everything and remembers what."""

    name = "crm"
    max_batch = 10

    def __init__(self) -> None:
        self.events: list[str] = []

    def deliver(self, deliveries: list[Delivery]) -> list[Result]:
        self.events.extend(d.event.id for d in deliveries)
        return [Result.delivered("HTTP 200", 200) for _ in deliveries]

    def close(self) -> None:
        pass


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.use_tracer_provider(provider)
    yield exporter
    telemetry.use_tracer_provider(None)
    provider.shutdown()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if labels else "") + r" (\S+)"
    found = re.search(rf"^{pattern}$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_service_metrics_time_fires_and_count_refusals_by_code(sqlite_url: str) -> None:
    """Fires through the HTTP API and the Python API count and are timed by process and
    outcome; refusals count by error code; scraped over HTTP from ``/metrics``."""
    with Engine(sqlite_url, create=True) as engine:
        engine.deploy(CHAOS)
        ops, _ = TokenStore(engine.store).create("prom", "ops", at=datetime.now(UTC))
        admin, _ = TokenStore(engine.store).create("a", "admin", at=datetime.now(UTC))
        engine.start("chaos-lead", "m1", {"email": "m@example.com"}, "ann")
        with Served(create_app(engine)) as served, httpx.Client(base_url=served.url) as http:
            fire = "/api/v1/processes/chaos-lead/leads/m1/fire"
            auth = {"Authorization": f"Bearer {admin}"}
            assert http.post(fire, json={"trigger": "win"}, headers=auth).status_code == 409
            assert http.post(fire, json={"trigger": "contact"}, headers=auth).status_code == 200
            with pytest.raises(InvalidTransition):
                engine.fire("chaos-lead", "m1", "contact")  # the Python API counts too
            text = http.get("/metrics", headers={"Authorization": f"Bearer {ops}"}).text
    labels = {"process": "chaos-lead"}
    assert metric(text, "leadflow_fires_total", outcome="fired", **labels) == 1
    assert metric(text, "leadflow_fires_total", outcome="refused", **labels) == 2
    assert metric(text, "leadflow_refusals_total", code="invalid-transition", **labels) == 2
    count = "leadflow_fire_duration_seconds_count"
    assert metric(text, count, outcome="fired", **labels) == 1
    assert metric(text, "leadflow_fire_duration_seconds_sum", outcome="fired", **labels) > 0
    assert 'le="0.005"' in text
    assert "m1" not in text  # no lead id in a label


def test_worker_metrics_show_deadline_to_action_and_deliveries(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``leadflow worker --metrics-port --config``: marks that fell due a minute ago fire with
    a deadline-to-action of about a minute, and the lead's three events (started, warned,
    breached) count as delivered."""
    receiver = Receiver()
    with Engine(sqlite_url, create=True) as engine:
        engine.deploy(CHAOS)
        past = engine.clock.now() - timedelta(seconds=62)
        engine.start("chaos-lead", "late", {"email": "l@example.com"}, "ann", at=past)
    config = tmp_path / "leadflow.toml"
    config.write_text(
        f'[adapters.crm]\ntype = "webhook"\nurl = "{receiver.url}"\nsecret = "env:LF_T_SECRET"\n'
    )
    port = free_port()
    monkeypatch.setenv("LF_T_SECRET", "whsec_" + base64.b64encode(b"x" * 32).decode())
    proc = spawn_worker(sqlite_url, "--metrics-port", str(port), "--config", str(config))
    try:
        url = f"http://127.0.0.1:{port}/metrics"

        def scraped() -> str | None:
            text = get_text(url)
            delivered = {"adapter": "crm", "outcome": "delivered"}
            if text and metric(text, "leadflow_deliveries_total", **delivered) == 3:
                return text
            assert proc.poll() is None
            return None

        text = wait_for(scraped, 60, "the worker to fire and deliver")
    finally:
        stop_worker(proc)
        receiver.close()
    assert metric(text, "leadflow_sla_marks_total") == 2
    assert metric(text, "leadflow_sla_deadline_to_action_seconds_count") == 2
    assert metric(text, "leadflow_sla_deadline_to_action_seconds_bucket", le="30.0") == 0
    assert metric(text, "leadflow_sla_deadline_to_action_seconds_bucket", le="300.0") == 2
    assert metric(text, "leadflow_delivery_duration_seconds_count", adapter="crm") >= 1


def test_one_change_is_followed_from_fire_to_delivery(
    sqlite_url: str, spans: InMemorySpanExporter
) -> None:
    """The fire span and the delivery span of one change carry its CloudEvent id and lead id;
    a refused fire's span says so; a sweep batch's span counts its marks."""
    with Engine(sqlite_url, create=True) as engine:
        engine.deploy(CHAOS)
        engine.start("chaos-lead", "t1", {"email": "t@example.com"}, "ann")
        engine.fire("chaos-lead", "t1", "contact")
        with pytest.raises(InvalidTransition):
            engine.fire("chaos-lead", "t1", "contact")
        crm = Recorder()
        with Dispatcher(engine, {"crm": crm}, DispatchOptions(concurrency=1)) as d:
            d.run(until_idle=True)
    fires = [s for s in spans.get_finished_spans() if s.name == "leadflow.fire"]
    assert [s.attributes["leadflow.outcome"] for s in fires] == ["fired", "refused"]
    fired = fires[0].attributes
    assert fired["leadflow.lead_id"] == "t1"
    assert fired["leadflow.trigger"] == "contact"
    event_ids = list(fired["leadflow.event_ids"])
    assert len(event_ids) == 2  # stage_changed and sla_fulfilled
    assert fired["cloudevents.event_id"] == event_ids[0]
    deliveries = [s for s in spans.get_finished_spans() if s.name == "leadflow.deliver"]
    delivered = {e for s in deliveries for e in s.attributes["leadflow.event_ids"]}
    assert set(event_ids) <= delivered
    assert all(s.attributes["leadflow.lead_ids"] == ("t1",) for s in deliveries)
    assert set(event_ids) <= set(crm.events)


def test_sweep_spans_count_the_marks_they_fire(
    sqlite_url: str, spans: InMemorySpanExporter
) -> None:
    """A worker's sweep batch is a ``leadflow.sweep`` span with its marks and event ids (a
    lead's two overdue marks fire in two batches, the second due again after the first)."""
    from leadflow.engine.worker._round import sweep_batch

    with Engine(sqlite_url, create=True) as engine:
        engine.deploy(CHAOS)
        past = engine.clock.now() - timedelta(minutes=1)
        engine.start("chaos-lead", "s1", {"email": "s@example.com"}, "ann", at=past)
        engine.start("chaos-lead", "s2", {"email": "s@example.com"}, "ann", at=past)
        assert sweep_batch(engine, engine.clock.now(), 100) == (2, True)
        assert sweep_batch(engine, engine.clock.now(), 100) == (2, False)
    sweeps = [s for s in spans.get_finished_spans() if s.name == "leadflow.sweep"]
    assert [s.attributes["leadflow.marks"] for s in sweeps] == [2, 2]
    assert all(s.attributes["leadflow.lead_ids"] == ("s1", "s2") for s in sweeps)
    assert all(len(s.attributes["leadflow.event_ids"]) == 2 for s in sweeps)


def test_without_opentelemetry_nothing_is_imported(tmp_path: Path) -> None:
    """With OpenTelemetry unavailable, fires work and ``opentelemetry`` is never imported."""
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "from leadflow.engine import Engine\n"
        f"e = Engine('sqlite:///{tmp_path}/x.db', create=True); e.deploy({str(CHAOS)!r})\n"
        "e.start('chaos-lead', 'a', {'email': 'a@example.com'}, 'ann')\n"
        "e.fire('chaos-lead', 'a', 'contact')\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['opentelemetry']"  # only the blocker this test put there


def test_an_observer_hears_refusals_with_their_code(sqlite_url: str) -> None:
    """The Observer protocol: a refused fire (criteria unmet) arrives with its code."""
    heard: list[tuple[str, str, str | None]] = []

    class Listener:
        def fired(self, process: str, outcome: str, seconds: float, code: str | None) -> None:
            heard.append((process, outcome, code))

        def marks(self, lags: object) -> None:
            pass

        def delivered(self, adapter: str, outcomes: object, seconds: float | None) -> None:
            pass

    with Engine(sqlite_url, create=True) as engine:
        engine.deploy(ESCALATE)
        engine.start(PROCESS, "g1", {"email": "g@example.com"}, "ann")
        listener = Listener()
        telemetry.observe(engine, listener)
        with pytest.raises(GuardFailed):
            engine.fire(PROCESS, "g1", "lose")  # lost_reason is required
        engine.fire(PROCESS, "g1", "contact")
        telemetry.forget(engine, listener)
        engine.fire(PROCESS, "g1", "win")
    assert heard == [(PROCESS, "refused", "guard-failed"), (PROCESS, "fired", None)]
