"""Random walks over the reference process: the engine agrees with a tiny model at every step.

A hypothesis ``RuleBasedStateMachine`` starts leads, records calls, updates fields, fires random
triggers (valid or not) and advances a :class:`ManualClock`. Every call is predicted by a model of
the reference process (success, or which error); after every step the invariants are checked:
closed leads stay closed, failed calls change nothing, history ``seq`` runs 1..version,
replaying the transitions reproduces the stage, and the outbox holds one event per history row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from leadflow.engine import (
    DuplicateLead,
    Engine,
    GuardFailed,
    InvalidData,
    InvalidTransition,
    LeadflowError,
    LeadNotFound,
)
from leadflow.engine.testing import ManualClock

REFERENCE = Path(__file__).parents[1] / "definitions" / "reference.yaml"
P = "inbound-lead"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

ALLOWED = {
    "new": ("contact", "lose"),
    "contacted": ("qualify", "lose"),
    "qualified": ("win", "lose"),
    "won": (),
    "lost": (),
}
CLOSED = {"won", "lost"}
FORWARD = {"new": "contact", "contacted": "qualify", "qualified": "win"}
HELPFUL = (
    {},
    {"budget": 5000, "decision_maker": "Dana"},
    {"budget": 5000, "decision_maker": "Dana", "score": 75},
)
TRIGGERS = ("contact", "qualify", "win", "lose", "bogus")
LOST_REASONS = ("no_response", "no_budget", "competitor", "not_a_fit", "bad_data")

scores = st.one_of(st.none(), st.integers(min_value=0, max_value=100), st.sampled_from([-1, 101]))
field_changes = st.fixed_dictionaries(
    {},
    optional={
        "score": scores,
        "budget": st.one_of(st.none(), st.sampled_from([0, 250.5, 10_000])),
        "decision_maker": st.one_of(st.none(), st.sampled_from(["Dana", ""])),
        "segment": st.sampled_from(["smb", "enterprise", "huge"]),
        "email": st.sampled_from([None, "new@example.com"]),
    },
)
payloads = st.one_of(
    st.just({}),
    st.fixed_dictionaries({"lost_reason": st.sampled_from((*LOST_REASONS, "bored"))}),
    field_changes,
)


def _is_set(value: Any) -> bool:
    return value is not None and value != "" and value != []


@dataclass
class ModelLead:
    """What the engine should hold for one lead."""

    stage: str = "new"
    data: dict[str, Any] = field(default_factory=dict)
    calls: int = 0
    version: int = 1


def _merge(data: dict[str, Any], changes: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    """(merged data, changed?) under the reference contract; (None, False) if invalid."""
    merged = dict(data)
    for name, value in changes.items():
        if name == "score" and value is not None and not 0 <= value <= 100:
            return None, False
        if name == "segment" and value not in ("smb", "mid_market", "enterprise"):
            return None, False
        if name == "lost_reason" and value not in LOST_REASONS:
            return None, False
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    if not _is_set(merged.get("email")):
        return None, False
    return merged, merged != data


class LeadMachine(RuleBasedStateMachine):
    """The reference process driven at random, checked against :class:`ModelLead`."""

    leads = Bundle("leads")

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(T0)
        self.engine = Engine("sqlite://", clock=self.clock)
        self.engine.deploy(REFERENCE)
        self.model: dict[str, ModelLead] = {}
        self.closed: dict[str, str] = {}
        self.counter = 0

    def teardown(self) -> None:
        self.engine.close()

    # -- helpers -------------------------------------------------------------------------------

    def _rows(self, table: str) -> int:
        with self.engine.store.sa.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())

    def _state(self, lead: str) -> tuple[Any, ...]:
        try:
            inst: Any = self.engine.get(P, lead)
            history: Any = self.engine.history(P, lead)
        except LeadNotFound:
            inst, history = None, None
        tables = ("lf_instances", "lf_history", "lf_outbox", "lf_activities")
        return inst, history, tuple(self._rows(t) for t in tables)

    def _expect(self, lead: str, error: type[LeadflowError] | None, call: Any) -> Any:
        """Run ``call``; it must raise ``error`` (changing nothing) or, if None, succeed."""
        if error is None:
            return call()
        before = self._state(lead)
        with pytest.raises(error):
            call()
        assert self._state(lead) == before, "a failed call changed something"
        return None

    # -- rules ---------------------------------------------------------------------------------

    @rule(target=leads, score=scores, with_email=st.integers(0, 5).map(bool))
    def start(self, score: int | None, with_email: bool) -> Any:
        self.counter += 1
        lead = f"L{self.counter}"
        data: dict[str, Any] = {"email": f"{lead}@example.com"} if with_email else {}
        if score is not None:
            data["score"] = score
        merged, _ = _merge({}, data)
        if merged is None:
            self._expect(lead, InvalidData, lambda: self.engine.start(P, lead, data))
            return multiple()
        inst = self._expect(lead, None, lambda: self.engine.start(P, lead, data))
        assert (inst.stage, inst.version, inst.data) == ("new", 1, merged)
        self.model[lead] = ModelLead(data=merged)
        return lead

    @rule(lead=leads)
    def start_again(self, lead: str) -> None:
        self._expect(lead, DuplicateLead, lambda: self.engine.start(P, lead, {"email": "a@b"}))

    @rule(lead=leads)
    def record_call(self, lead: str) -> None:
        inst = self._expect(lead, None, lambda: self.engine.record(P, lead, "call"))
        model = self.model[lead]
        model.calls += 1
        model.version += 1
        assert (inst.stage, inst.version) == (model.stage, model.version)

    @rule(lead=leads, changes=field_changes)
    def update(self, lead: str, changes: dict[str, Any]) -> None:
        model = self.model[lead]
        merged, changed = _merge(model.data, changes)
        if merged is None:
            self._expect(lead, InvalidData, lambda: self.engine.update(P, lead, changes))
            return
        inst = self._expect(lead, None, lambda: self.engine.update(P, lead, changes))
        if changed:
            model.version += 1
        model.data = merged
        assert (inst.version, inst.data) == (model.version, model.data)

    @rule(lead=leads, trigger=st.sampled_from(TRIGGERS), payload=payloads)
    def fire(self, lead: str, trigger: str, payload: dict[str, Any]) -> None:
        self._fire(lead, trigger, payload)

    @rule(lead=leads, payload=st.sampled_from(HELPFUL))
    def fire_forward(self, lead: str, payload: dict[str, Any]) -> None:
        self._fire(lead, FORWARD.get(self.model[lead].stage, "win"), payload)

    def _fire(self, lead: str, trigger: str, payload: dict[str, Any]) -> None:
        model = self.model[lead]
        fire = lambda: self.engine.fire(P, lead, trigger, payload)  # noqa: E731
        if trigger not in ALLOWED[model.stage]:
            self._expect(lead, InvalidTransition, fire)
            return
        merged, _ = _merge(model.data, payload)
        if merged is None:
            self._expect(lead, InvalidData, fire)
            return
        ok = {
            "contact": model.calls >= 1,
            "qualify": _is_set(merged.get("budget"))
            and merged.get("score", -1) >= 60
            and _is_set(merged.get("decision_maker")),
            "win": True,
            "lose": _is_set(payload.get("lost_reason")),
        }[trigger]
        if not ok:
            self._expect(lead, GuardFailed, fire)
            return
        inst = self._expect(lead, None, fire)
        model.stage = {
            "contact": "contacted",
            "qualify": "qualified",
            "win": "won",
            "lose": "lost",
        }[trigger]
        model.data = merged
        model.version += 1
        assert (inst.stage, inst.version, inst.data) == (model.stage, model.version, model.data)
        assert inst.stage_entered_at == self.clock.now()
        assert inst.closed == (model.stage if model.stage in CLOSED else None)

    @rule(lead=leads)
    def fire_on_missing_lead(self, lead: str) -> None:
        missing = f"{lead}-missing"
        self._expect(missing, LeadNotFound, lambda: self.engine.fire(P, missing, "contact"))

    @rule(minutes=st.integers(min_value=0, max_value=3 * 24 * 60))
    def advance_time(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    # -- invariants ----------------------------------------------------------------------------

    @invariant()
    def matches_the_model(self) -> None:
        for lead, model in self.model.items():
            inst = self.engine.get(P, lead)
            assert (inst.stage, inst.version, inst.data) == (model.stage, model.version, model.data)

    @invariant()
    def closed_leads_stay_closed(self) -> None:
        for lead in self.model:
            inst = self.engine.get(P, lead)
            if lead in self.closed:
                assert inst.stage == self.closed[lead], f"{lead} left closed stage"
            elif inst.closed is not None:
                self.closed[lead] = inst.stage

    @invariant()
    def history_is_numbered_by_version_and_replays_to_the_stage(self) -> None:
        for lead in self.model:
            inst = self.engine.get(P, lead)
            history = self.engine.history(P, lead)
            assert [h.seq for h in history] == list(range(1, inst.version + 1))
            assert history[0].kind == "started"
            stage = history[0].to_stage
            for entry in history[1:]:
                if entry.kind == "transition":
                    assert entry.from_stage == stage
                    stage = entry.to_stage
            assert stage == inst.stage

    @invariant()
    def one_outbox_event_per_history_row(self) -> None:
        assert self._rows("lf_outbox") == self._rows("lf_history")


def test_random_walks_keep_the_invariants() -> None:
    """Random call sequences on random leads match the model and never break an invariant."""
    run_state_machine_as_test(
        LeadMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
