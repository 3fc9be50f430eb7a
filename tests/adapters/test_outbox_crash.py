"""A dispatcher killed with SIGKILL mid-batch: after a restart nothing is lost, and duplicates
are bounded to the in-flight batch and carry the same event ids."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from outbox_receiver import Receiver

from leadflow.adapters.outbox import Outbox
from leadflow.engine import Engine
from leadflow.engine.store.tables import outbox

DEFINITION = Path(__file__).parents[1] / "definitions" / "outbox" / "subscribed.yaml"
PROCESS = "outbox-lead"
BATCH = 40
LEASE = 1.5
RUN = (
    "import sys; from leadflow.cli._outbox import outbox_app; "
    "outbox_app(sys.argv[1:], prog_name='leadflow outbox')"
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def wait_for(condition: object, what: str, seconds: float = 60.0) -> None:
    """Poll ``condition()`` until true (a real process is involved), failing after a deadline."""
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def start_dispatcher(db: str, config: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, LF_CRASH_SECRET=_secret())
    return subprocess.Popen(
        [sys.executable, "-c", RUN, "run", "--db", db, "--config", str(config), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _secret() -> str:
    return "whsec_" + base64.b64encode(b"crash-test-secret-0123456789abcd").decode()


@pytest.mark.slow
def test_sigkill_mid_batch_loses_nothing_and_duplicates_only_the_batch(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Kill -9 the dispatcher while the receiver holds part of a batch unanswered; restart it:
    every event arrives, each lead in order, and only events of the killed batch arrive twice
    (with the same ids)."""
    db = f"sqlite:///{tmp_path / 'lf.db'}"
    with Engine(db) as engine:
        engine.deploy(DEFINITION)
        for i in range(150):
            engine.start(PROCESS, f"L{i}", {"email": f"l{i}@example.com"})
            engine.update(PROCESS, f"L{i}", {"score": 1})
            engine.update(PROCESS, f"L{i}", {"score": 2})
    config = tmp_path / "leadflow.toml"
    config.write_text(
        f'[adapters.crm]\ntype = "webhook"\nurl = "{receiver.url}"\n'
        'secret = "env:LF_CRASH_SECRET"\ntimeout = 30\n\n'
        f"[dispatch]\nconcurrency = 4\nbatch_size = {BATCH}\nlease = {LEASE}\n"
        "poll_interval = 0.05\n"
    )
    receiver.hold_after = 100  # then requests hang: the dispatcher is mid-batch
    first = start_dispatcher(db, config)
    try:
        wait_for(lambda: receiver.held >= 3, "requests held mid-batch")
        first.send_signal(signal.SIGKILL)
        assert first.wait(30) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate()
    before_restart = len(receiver.arrivals)
    receiver.hold_after = None
    receiver.release.set()  # the held requests complete: the receiver did get those events
    wait_for(lambda: receiver.held == 0, "held requests to finish")

    second = start_dispatcher(db, config, "--until-idle", "--json")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err.decode()

    with Engine(db) as engine:
        ids = {r[0] for r in engine.store.query(sa.select(outbox.c.event_id), "ids")}
        status = Outbox(engine).status()
    assert (status.pending, status.dead) == (0, 0)
    assert before_restart >= 100
    counts = Counter(a.id for a in receiver.arrivals)
    assert set(counts) == ids  # nothing lost, nothing invented
    duplicates = {i for i, n in counts.items() if n > 1}
    assert max(counts.values()) <= 2
    assert 1 <= len(duplicates) <= BATCH
    for lead, seqs in receiver.per_lead().items():
        assert seqs == sorted(seqs), lead
    assert b'"delivered"' in out
