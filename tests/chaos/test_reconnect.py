"""An engine outlives a PostgreSQL restart: the change caught by the restart fails with a
:class:`StorageError` (never a driver error), the next one reconnects, and the sweep postpones
no mark because the database went away."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from chaos_support import PROCESS
from postgres_server import PostgresServer

from leadflow.engine import Engine, StorageError

pytestmark = pytest.mark.postgres


def test_the_engine_reconnects_after_a_restart(server: PostgresServer, url: str) -> None:
    """After a restart the first change fails saying the connection was lost (the pooled
    connections are dead); every later one works. While the server is down a change fails
    with a StorageError saying it cannot connect."""
    with Engine(url) as engine:
        engine.start(PROCESS, "r1", {"email": "r1@example.com"}, "ann")
        server.stop(immediate=True)
        with pytest.raises(StorageError, match=r"cannot connect|connection was lost"):
            engine.start(PROCESS, "r2", {"email": "r2@example.com"}, "ann")
        server.start()
        outcomes = []
        for i in range(3, 8):
            try:
                engine.update(PROCESS, "r1", {"step": i})
                outcomes.append("ok")
            except StorageError as exc:
                outcomes.append(str(exc))
        assert outcomes[1:] == ["ok"] * 4, outcomes
        assert outcomes[0] == "ok" or "retry" in outcomes[0]
        assert engine.get(PROCESS, "r1").data["step"] == 7


def test_a_restart_mid_sweep_postpones_no_mark(server: PostgresServer, url: str) -> None:
    """Overdue marks and a restart before the sweep: the sweep fails as a whole (the worker
    retries the round), and the next sweep fires every mark recorded at its due time; none
    was pushed ten minutes back as a failing mark would be."""
    with Engine(url) as engine:
        past = engine.clock.now() - timedelta(minutes=5)
        items = [(f"s{i}", {"email": f"s{i}@example.com"}, "ann") for i in range(20)]
        assert engine.start_many(PROCESS, items, at=past).ok
        engine.get(PROCESS, "s0")  # a pooled connection, dead after the restart
        server.stop(immediate=True)
        server.start()
        with pytest.raises(StorageError):
            engine.run_due()
        with engine.store.sa.connect() as conn:
            dues = conn.execute(sa.text("SELECT due_at FROM lf_timers")).scalars().all()
        assert len(dues) == 20
        assert max(dues) <= engine.clock.now()  # still due: nothing was postponed
        assert engine.run_due() == 40
        with engine.store.sa.connect() as conn:
            details = conn.execute(
                sa.text("SELECT details FROM lf_history WHERE kind = 'sla'")
            ).scalars()
            late = [e["due"] for d in details for e in json.loads(d)["sla"]]
        assert len(late) == 40
        assert all(due < (past + timedelta(seconds=3)).isoformat() for due in late)
