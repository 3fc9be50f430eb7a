"""A replayed inbound delivery changes nothing after a restart or on another replica: the
delivery id is the idempotency key of its change, kept in the database with it (ids used to be
remembered in memory only, so a flow that moves back fired again)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from leadflow.adapters import load_config, standard_webhook_headers
from leadflow.adapters.inbound import InboundHandler
from leadflow.engine import Engine
from leadflow.engine.testing import ManualClock

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
URI = "https://hooks.example.com/hooks/commands"
P = "inbound-lead"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """The shipped inbound-lead process on a SQLite file, lead L1 started."""
    with Engine(f"sqlite:///{tmp_path / 'lf.db'}", clock=ManualClock()) as built:
        built.deploy("inbound-lead")
        built.start(P, "L1", {"email": "a@example.com"})
        yield built


def handler(engine: Engine, tmp_path: Path) -> InboundHandler:
    """A freshly started handler (its in-memory ids empty), as after a restart."""
    config = tmp_path / "leadflow.toml"
    config.write_text(
        '[inbound.commands]\nkind = "standard-webhooks"\nprocess = "inbound-lead"\n'
        'secret = "env:SW"\n'
    )
    return InboundHandler.from_config(engine, load_config(config, env={"SW": SECRET}))


def deliver(target: InboundHandler, engine: Engine, payload: object) -> tuple[int, dict]:
    """The signed delivery ``msg_1`` of ``payload``, signed now."""
    body = json.dumps(payload).encode()
    headers = standard_webhook_headers([SECRET], "msg_1", int(engine.clock.now().timestamp()), body)
    return target.handle("commands", "POST", URI, {k.lower(): v for k, v in headers.items()}, body)


def test_a_replay_after_a_restart_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    """``lose`` delivered, the lead recycled back to ``new``, then the same signed delivery
    replayed to a restarted handler within the signature window: nothing fires again."""
    lose = {"lead_id": "L1", "trigger": "lose", "data": {"lost_reason": "no_budget"}}
    first = handler(engine, tmp_path)
    status, body = deliver(first, engine, lose)
    assert (status, body["status"], body["stage"]) == (200, "fired", "lost")
    first.close()
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(minutes=1))
    engine.fire(P, "L1", "recycle", actor="sdr_ana")
    assert engine.get(P, "L1").stage == "new"
    restarted = handler(engine, tmp_path)
    status, body = deliver(restarted, engine, lose)
    restarted.close()
    assert status == 200
    assert body.get("replayed") is True
    assert engine.get(P, "L1").stage == "new"
    assert [h.trigger for h in engine.history(P, "L1")] == [None, "lose", "recycle"]
