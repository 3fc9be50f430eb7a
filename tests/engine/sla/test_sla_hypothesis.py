"""Random sequences of lead changes and clock moves keep the SLA bookkeeping consistent.

Invariants after every step: a timer row exists exactly for each running clock that has a mark
left, due exactly when that clock says; no timer is overdue once the clock has moved (the manual
clock fires them); every change of a lead has its history row, and the outbox holds at least one
event per history row.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from leadflow.engine import Engine, LeadflowError
from leadflow.engine.testing import ManualClock

CLOCKS = Path(__file__).parents[2] / "definitions" / "sla" / "clocks.yaml"
P = "sla-clocks"
LEADS = ("A", "B", "C")
TRIGGERS = ("wait", "resume", "work", "win", "lose", "reopen")


class SlaMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(datetime(2026, 1, 5, 14, 0, tzinfo=UTC))
        self.engine = Engine("sqlite://", clock=self.clock)
        self.engine.deploy(CLOCKS)
        self.started: set[str] = set()

    def teardown(self) -> None:
        self.engine.close()

    @rule(lead=st.sampled_from(LEADS), owner=st.sampled_from([None, "ann", "zed"]))
    def start(self, lead: str, owner: str | None) -> None:
        if lead not in self.started:
            self.engine.start(P, lead, owner=owner)
            self.started.add(lead)

    @rule(lead=st.sampled_from(LEADS), trigger=st.sampled_from(TRIGGERS))
    def fire(self, lead: str, trigger: str) -> None:
        if lead in self.started:
            data = {"lost_reason": "other"} if trigger == "lose" else None
            with contextlib.suppress(LeadflowError):  # not allowed from the stage: no change
                self.engine.fire(P, lead, trigger, data)

    @rule(lead=st.sampled_from(LEADS), kind=st.sampled_from(["call", "email", "note"]))
    def record(self, lead: str, kind: str) -> None:
        if lead in self.started:
            self.engine.record(P, lead, kind)

    @rule(
        lead=st.sampled_from(LEADS),
        data=st.sampled_from(
            [{"on_hold": True}, {"on_hold": False}, {"answer": "yes"}, {"answer": None}]
        ),
    )
    def update(self, lead: str, data: dict[str, object]) -> None:
        if lead in self.started:
            self.engine.update(P, lead, data)

    @rule(lead=st.sampled_from(LEADS), owner=st.sampled_from(["ann", "bob", None]))
    def assign(self, lead: str, owner: str | None) -> None:
        if lead in self.started:
            self.engine.assign(P, lead, owner)

    @rule(minutes=st.integers(min_value=1, max_value=60 * 24 * 4))
    def advance(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    @invariant()
    def timers_match_running_clocks(self) -> None:
        engine = self.engine
        with engine.store.sa.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT i.lead_id, t.policy, t.step, t.due_at FROM lf_timers t "
                    "JOIN lf_instances i ON i.id = t.instance_id"
                )
            ).all()
        stored = {(r[0], r[1]): (r[2], engine.store.decode_time(r[3])) for r in rows}
        expected = {}
        with engine.store.transaction("read leads") as tx:
            for lead in self.started:
                row = tx.load(P, lead)
                assert row is not None
                compiled = engine.runtime.compiled(P, row.definition_version)
                for policy in compiled.sla.policies:
                    clock = row.sla.get(policy.id)
                    if clock is None:
                        continue
                    mark = policy.next_mark(clock, row.data)
                    if mark is not None:
                        expected[(lead, policy.id)] = mark
        assert stored == expected
        now = self.clock.now()
        assert all(due > now for _, due in stored.values())

    @invariant()
    def every_change_is_logged(self) -> None:
        with self.engine.store.sa.connect() as conn:
            versions = conn.execute(sa.text("SELECT coalesce(sum(version), 0) FROM lf_instances"))
            history = conn.execute(sa.text("SELECT count(*) FROM lf_history"))
            outbox = conn.execute(sa.text("SELECT count(*) FROM lf_outbox"))
            total, logged, events = versions.scalar_one(), history.scalar_one(), outbox.scalar_one()
        assert total == logged
        assert events >= logged


TestSlaMachine = SlaMachine.TestCase
TestSlaMachine.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
