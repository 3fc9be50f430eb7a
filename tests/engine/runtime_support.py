"""Constants and helpers shared by the engine's API tests (the ``test_runtime_*`` files).

Storage matters for almost every call, so most of those tests take ``db_url`` and run once on
SQLite and once on PostgreSQL. Times are explicit (``at=``) or come from a :class:`ManualClock`
starting at ``T0``, so every stored time is asserted exactly. The fixtures (``clock``,
``make_engine``, ``engine``, ``other_db_url``) are in this folder's conftest.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from leadflow.engine import Engine, GuardFailed, Instance, LeadflowError

DEFINITIONS = Path(__file__).parents[1] / "definitions"
REFERENCE = DEFINITIONS / "reference.yaml"
RUNTIME = DEFINITIONS / "runtime"
REFERENCE_V2 = RUNTIME / "inbound-lead-v2.yaml"
FEATURES = RUNTIME / "features.yaml"
CEL_ACTIVITIES = RUNTIME / "cel-activities.yaml"

P = "inbound-lead"
F = "runtime-features"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TABLES = ("lf_definitions", "lf_instances", "lf_history", "lf_outbox", "lf_activities")


def minutes(n: float) -> datetime:
    """``T0`` plus ``n`` minutes."""
    return T0 + timedelta(minutes=n)


def counts(engine: Engine) -> dict[str, int]:
    """Row counts of every leadflow table."""
    with engine.store.sa.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def outbox(engine: Engine) -> list[dict[str, Any]]:
    """The outbox rows, oldest first, with the envelope parsed."""
    with engine.store.sa.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT event_id, seq, type, payload FROM lf_outbox ORDER BY id")
        ).all()
    return [{"event_id": r[0], "seq": r[1], "type": r[2], "event": json.loads(r[3])} for r in rows]


def snapshot(engine: Engine, process: str, lead_id: str) -> tuple[Any, Any, dict[str, int]]:
    """What a call could change: the instance, its history and every table's row count."""
    try:
        state: Any = engine.get(process, lead_id)
        history: Any = engine.history(process, lead_id)
    except LeadflowError as exc:
        state, history = type(exc), None
    return state, history, counts(engine)


def fails_cleanly(
    engine: Engine, process: str, lead_id: str, error: type[Exception], call: Callable[[], Any]
) -> Any:
    """Run ``call``, expect exactly ``error``, check nothing changed, and return the error."""
    before = snapshot(engine, process, lead_id)
    with pytest.raises(error) as info:
        call()
    assert type(info.value) is error
    assert snapshot(engine, process, lead_id) == before
    return info.value


def start(engine: Engine, lead_id: str = "L1", at: datetime = T0, **data: Any) -> Instance:
    """Start ``lead_id`` in the reference process (email filled in unless given)."""
    data.setdefault("email", f"{lead_id.lower()}@example.com")
    return engine.start(P, lead_id, data, at=at)


def contacted(engine: Engine, lead_id: str = "L1", **data: Any) -> Instance:
    """A reference lead moved to ``contacted`` (start at T0, call at +1m, contact at +2m)."""
    start(engine, lead_id, **data)
    engine.record(P, lead_id, "call", at=minutes(1))
    return engine.fire(P, lead_id, "contact", at=minutes(2))


def qualified(engine: Engine, lead_id: str = "L1") -> Instance:
    """A reference lead moved to ``qualified`` at +3m."""
    contacted(engine, lead_id, score=70, budget=1000, decision_maker="Dana")
    return engine.fire(P, lead_id, "qualify", at=minutes(3))


def unmet_ids(error: GuardFailed) -> list[str]:
    """The ids of the unmet criteria of a GuardFailed."""
    return [c.id for c in error.unmet]


def _engaged(engine: Engine, **data: Any) -> Instance:
    """A runtime-features lead ``L1`` moved to ``engaged`` at +2m (call and deck at +1m)."""
    engine.start(F, "L1", {"email": "a@x", **data}, at=T0)
    engine.record(F, "L1", "call", at=minutes(1))
    engine.record(F, "L1", "send_deck", at=minutes(1))
    return engine.fire(F, "L1", "engage", at=minutes(2))
