"""What operators watch: ``Engine.health`` figures and verdicts, ``leadflow doctor`` (figures,
verdict, exit status), ``/metrics`` of the service (through real HTTP, ops tokens only) and of
the worker (``--metrics-port``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from live_server import Served
from typer.testing import CliRunner
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
from leadflow.cli import app
from leadflow.engine import Engine, Limits
from leadflow.engine.store import TokenStore
from leadflow.service import create_app

SUBSCRIBED = Path(__file__).parents[1] / "definitions" / "outbox" / "subscribed.yaml"


class Clock:
    """A clock that only moves when told (and, unlike ManualClock, runs no timers itself)."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


class Refusing:
    """An adapter whose every delivery fails for good (each becomes a dead letter)."""

    name = "crm"
    max_batch = 10

    def deliver(self, deliveries: list[Delivery]) -> list[Result]:
        return [Result.failed("HTTP 400: bad request") for _ in deliveries]

    def close(self) -> None:
        pass


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(db_url: str, clock: Clock) -> Iterator[Engine]:
    with Engine(db_url, clock=clock, create=True) as e:
        e.deploy(ESCALATE)
        e.deploy(SUBSCRIBED)
        yield e


def test_timer_lag_is_seen_and_judged(engine: Engine, clock: Clock) -> None:
    """A started lead's mark waits; past its due time it is due, lagging by the time since;
    past the limit the verdict is trouble naming the fix. Sweeping it clears the lag."""
    engine.start(PROCESS, "l1", {"email": "a@x.io"}, owner="ann")
    h = engine.health()
    assert (h.timers, h.timers_due, h.timer_lag_seconds) == (1, 0, 0.0)
    assert h.verdict == "warning"  # no worker is alive to fire it
    assert "no worker is alive" in h.warnings[0]
    clock.advance(timedelta(minutes=3))  # due after 1 minute: 2 minutes late
    h = engine.health()
    assert h.timers_due == 1
    assert h.timer_lag_seconds == pytest.approx(120.0)
    assert h.verdict == "trouble"
    assert "start `leadflow worker`" in h.problems[0]
    assert engine.health(Limits(timer_lag=600)).verdict == "warning"
    engine.run_due()
    assert engine.health().timers_due == 0


def test_dead_letters_and_undispatched_events_are_counted(engine: Engine, clock: Clock) -> None:
    """Events not fanned out count with their age; a delivery that failed for good is a dead
    letter of its adapter (a warning), a pending one past the delivery limit is trouble."""
    engine.start("outbox-lead", "l1", {"email": "a@x.io"})
    clock.advance(timedelta(seconds=30))
    h = engine.health()
    assert h.undispatched >= 1
    assert h.fanout_lag_seconds == pytest.approx(30.0)
    with Dispatcher(engine, {"crm": Refusing()}, DispatchOptions()) as dispatcher:
        dispatcher.run(until_idle=True)
    (crm,) = engine.health().adapters
    assert (crm.adapter, crm.pending) == ("crm", 0)
    assert crm.dead >= 1
    assert any("dead letters" in w for w in engine.health().warnings)


def test_doctor_prints_a_verdict_and_exits_2_on_trouble(
    engine: Engine, clock: Clock, db_url: str
) -> None:
    """``leadflow doctor``: exit 0 when only warnings, 2 on trouble, JSON with --json; a bad
    limit is one error line (exit 1)."""
    engine.start(PROCESS, "l1", {"email": "a@x.io"}, owner="ann")
    runner = CliRunner()
    calm = runner.invoke(app, ["doctor", "--db", db_url])
    assert calm.exit_code == 0, calm.output
    assert "warning: no worker is alive" in calm.output
    # the CLI reads the wall clock: a lead started a day ago has a mark long overdue
    engine.start(PROCESS, "l2", {"email": "b@x.io"}, owner="ann", at=clock.at - timedelta(days=1))
    bad = runner.invoke(app, ["doctor", "--db", db_url, "--json"])
    assert bad.exit_code == 2, bad.output
    body = json.loads(bad.stdout)
    assert body["verdict"] == "trouble"
    assert body["timers_due"] >= 1
    refused = runner.invoke(app, ["doctor", "--db", db_url, "--max-timer-lag", "soon"])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: --max-timer-lag: 'soon' is not a duration")


def test_service_metrics_count_requests_by_route_and_need_an_ops_token(engine: Engine) -> None:
    """``/metrics`` over HTTP: request counts by route template (never a lead id), fires by
    outcome, the database gauges; ops may scrape, a viewer may not, nobody without a token."""
    tokens = TokenStore(engine.store)
    ops, _ = tokens.create("prom", "ops", at=datetime.now(UTC))
    admin, _ = tokens.create("a", "admin", at=datetime.now(UTC))
    viewer, _ = tokens.create("v", "viewer", at=datetime.now(UTC))
    engine.start(PROCESS, "secret-lead-7", {"email": "a@x.io"}, owner="ann")
    with Served(create_app(engine)) as served, httpx.Client(base_url=served.url) as http:
        fire = f"/api/v1/processes/{PROCESS}/leads/secret-lead-7/fire"
        http.post(fire, json={"trigger": "nope"}, headers={"Authorization": f"Bearer {admin}"})
        scraped = http.get("/metrics", headers={"Authorization": f"Bearer {ops}"})
        refused = http.get("/metrics", headers={"Authorization": f"Bearer {viewer}"})
        anonymous = http.get("/metrics")
    assert scraped.status_code == 200, scraped.text
    assert scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    route = "/api/v1/processes/{process}/leads/{lead_id}/fire"
    assert f'leadflow_http_requests_total{{method="POST",route="{route}",status="409"}} 1.0' in text
    assert f'leadflow_fires_total{{outcome="refused",process="{PROCESS}"}} 1.0' in text
    assert "leadflow_timers 1.0" in text
    assert "leadflow_healthy" in text
    assert "secret-lead-7" not in text
    assert refused.status_code == 403
    assert anonymous.status_code == 401


def test_the_worker_serves_its_metrics(sqlite_url: str, tmp_path: Path) -> None:
    """``leadflow worker --metrics-port``: the worker's counters and the database gauges."""
    with Engine(sqlite_url, create=True) as e:
        e.deploy(ESCALATE)
    port = free_port()
    proc = spawn_worker(sqlite_url, "--metrics-port", str(port), "--poll", "0.1")
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_for(lambda: get_text(url) is not None or proc.poll() is not None, 30, "worker metrics")
        text = get_text(url) or ""
        assert "leadflow_worker_rounds_total" in text
        assert "leadflow_timers 0.0" in text
    finally:
        stop_worker(proc)


def test_a_busy_metrics_port_is_one_error_line(sqlite_url: str) -> None:
    """A port already taken: the worker says so and exits 1, no traceback."""
    import socket

    with Engine(sqlite_url, create=True) as e:
        e.deploy(ESCALATE)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            app, ["worker", "--db", sqlite_url, "--metrics-port", str(port)]
        )
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: --metrics-port {port}: cannot listen on 127.0.0.1")
    assert "Traceback" not in result.output
