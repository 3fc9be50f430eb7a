"""Simulated leads and reps: the generator source of ``simulate``.

Leads arrive as a Poisson stream (in a calendar's open hours with the ``business`` profile),
with data drawn from the spec. Their owner (routed by the definition, or dealt from ``owners``)
works them stage by stage: the first step after the owner's response time (or the stage's
``wait``), then attempts (``activity`` recorded each time) until one succeeds and fires one of
the stage's outcomes, or the attempts run out. Reps react to SLA marks: a lead reassigned by a
mark is worked by its new owner after a response time drawn for them; a lead a mark moved on
(lost for no response) is worked in its new stage or left alone when it is closed.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leadflow.definitions import FieldType, ProcessDefinition
from leadflow.engine.simulate._batch import Op, Outcome
from leadflow.engine.simulate._draw import Stream, choose, exponential
from leadflow.engine.simulate._loop import Event, Loop, Moved
from leadflow.engine.simulate._refusals import Refusals
from leadflow.engine.simulate._spec import GeneratorSpec, LogNormal, Rep, StageBehaviour
from leadflow.engine.simulate._spec import Outcome as OutcomeSpec
from leadflow.engine.sla import BusinessCalendar, build_calendar

__all__ = ["GeneratorAgent"]

ACTOR = "simulate"
DEFAULT_REP = Rep(response=LogNormal(dist="lognormal", median=timedelta(minutes=5), sigma=1.0))
"""Reps the spec does not describe answer in about 5 minutes (half faster, a long tail)."""


@dataclass(slots=True)
class _Lead:
    stream: Stream
    stage: str
    owner: str | None
    token: int = 0
    attempt: int = 0
    closed: bool = False


@dataclass(frozen=True, slots=True)
class _Step:
    stage: str
    outcome: OutcomeSpec | None
    fallback: bool = False


def typed(definition: ProcessDefinition, name: str, value: Any) -> Any:
    """``value`` converted to the type of field ``name`` when it is text that spells one
    (``"90"`` for an integer field, ``"true"`` for a boolean); anything else as it is, for the
    field contract to judge."""
    spec = definition.fields.get(name)
    if spec is None or not isinstance(value, str):
        return value
    text = value.strip()
    try:
        if spec.type is FieldType.INTEGER:
            return int(text)
        if spec.type is FieldType.NUMBER:
            return float(text)
    except ValueError:
        return value
    if spec.type is FieldType.BOOLEAN and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return value


class GeneratorAgent:
    """Plans arrivals and the reps' work; counts what guards refused."""

    def __init__(
        self, spec: GeneratorSpec, definition: ProcessDefinition, seed: int, leads: int
    ) -> None:
        self.spec = spec
        self.definition = definition
        self.seed = seed
        self.total = leads
        self.leads: dict[str, _Lead] = {}
        self.refusals = Refusals()
        calendars = {n: build_calendar(c) for n, c in definition.calendars.items()}
        self.calendars: dict[str, BusinessCalendar] = calendars
        self.hours: dict[str, BusinessCalendar] = {}
        for team in definition.teams.values():
            for member in team.members:
                name = member.calendar or team.calendar
                if name is not None and spec.working_hours:
                    self.hours[member.id] = calendars[name]
        self._deal = itertools.cycle(spec.owners) if spec.owners else None
        self.queues = {team.queue_owner(name) for name, team in definition.teams.items()}
        """Owners that are queues: their leads wait, nobody calls them."""
        self.last_arrival: datetime = spec.start

    # -- arrivals ------------------------------------------------------------------------------

    def arrival_calendar(self) -> BusinessCalendar | None:
        """The calendar arrivals follow (None: around the clock)."""
        if self.spec.arrivals.profile == "flat" or not self.calendars:
            return None
        name = self.spec.arrivals.calendar or next(iter(self.calendars))
        return self.calendars[name]

    def begin(self, loop: Loop) -> None:
        """Plan every arrival."""
        stream = Stream(self.seed, 0)
        gap = timedelta(hours=1) / self.spec.arrivals.per_hour
        calendar = self.arrival_calendar()
        at = self.spec.start
        for n in range(1, self.total + 1):
            delay = exponential(stream.random(), gap)
            at = calendar.add(at, delay) if calendar is not None else at + delay
            lead_id = f"sim-{n:07d}"
            lead = Stream(self.seed, n)
            data = {k: self._value(k, v, lead, n, lead_id) for k, v in self.spec.data.items()}
            owner = next(self._deal) if self._deal is not None else None
            op = Op("start", lead_id, at, data=data, owner=owner, actor=ACTOR)
            loop.push(Event(at, lead_id, [op], tag=lead))
        self.last_arrival = at

    def _value(self, name: str, spec: Any, stream: Stream, n: int, lead_id: str) -> Any:
        """A generated value of field ``name``, typed by the field (``choice: {"90": 1}`` keys
        are text in YAML; an integer field gets 90)."""
        return typed(self.definition, name, self._raw_value(spec, stream, n, lead_id))

    def _raw_value(self, spec: Any, stream: Stream, n: int, lead_id: str) -> Any:
        if isinstance(spec, str):
            return spec.format(n=n, lead_id=lead_id)
        if isinstance(spec, Mapping) and "choice" in spec:
            return choose(stream.random(), spec["choice"])
        if isinstance(spec, Mapping) and "uniform" in spec:
            low, high = spec["uniform"]
            if isinstance(low, int) and isinstance(high, int):
                return low + int(stream.random() * (high - low + 1))
            return low + (high - low) * stream.random()
        return spec

    # -- the reps' work ------------------------------------------------------------------------

    def _after(self, owner: str | None, at: datetime, delay: timedelta) -> datetime:
        calendar = self.hours.get(owner or "")
        return calendar.add(at, delay) if calendar is not None else at + delay

    def _response(self, lead: _Lead) -> timedelta:
        rep = self.spec.reps.get(lead.owner or "") or self.spec.reps.get("default") or DEFAULT_REP
        return rep.response.sample(lead.stream.random())

    def _plan(self, lead_id: str, lead: _Lead, at: datetime, delay: timedelta, loop: Loop) -> None:
        """Plan the next attempt in the lead's stage, ``delay`` of working time after ``at``.
        Nobody works a lead waiting in a team's queue: it is planned when a release (or an
        SLA mark) gives it to someone."""
        behaviour = self.spec.stages.get(lead.stage)
        if behaviour is None or lead.closed or lead.owner in self.queues:
            return
        when = self._after(lead.owner, at, delay)
        ops: list[Op] = []
        if behaviour.activity:
            ops.append(Op("record", lead_id, when, behaviour.activity, {}, actor=lead.owner))
        outcome = self._outcome(lead, behaviour)
        if outcome is not None:
            ops.append(self._fire(lead_id, lead, when, outcome))
        loop.push(Event(when, lead_id, ops, lead.token, _Step(lead.stage, outcome)))

    def _outcome(self, lead: _Lead, behaviour: StageBehaviour) -> OutcomeSpec | None:
        last = lead.attempt + 1 >= behaviour.attempts
        if behaviour.outcomes and lead.stream.random() < behaviour.success:
            weights = [(o, o.weight) for o in behaviour.outcomes]
            return choose(lead.stream.random(), weights)
        return behaviour.give_up if last else None

    def _fire(self, lead_id: str, lead: _Lead, at: datetime, outcome: OutcomeSpec) -> Op:
        data = {k: self._value(k, v, lead.stream, 0, lead_id) for k, v in outcome.data.items()}
        return Op("fire", lead_id, at, outcome.trigger, data, actor=lead.owner)

    def _first(self, lead_id: str, lead: _Lead, at: datetime, loop: Loop) -> None:
        behaviour = self.spec.stages.get(lead.stage)
        if behaviour is None:
            return
        u = lead.stream.random()
        delay = behaviour.wait.sample(u) if behaviour.wait is not None else None
        self._plan(lead_id, lead, at, delay if delay is not None else self._response(lead), loop)

    # -- the loop's callbacks ------------------------------------------------------------------

    def valid(self, event: Event) -> bool:
        lead = self.leads.get(event.lead_id)
        return lead is None or event.token == lead.token

    def applied(self, event: Event, outcomes: Sequence[Outcome], loop: Loop) -> None:
        if isinstance(event.tag, Stream):  # an arrival
            row = outcomes[0]
            if isinstance(row, Exception):
                self.refusals.add("start", event.lead_id, row)
                return
            lead = _Lead(event.tag, row.stage, row.owner)
            self.leads[event.lead_id] = lead
            self._first(event.lead_id, lead, event.at, loop)
            return
        lead = self.leads[event.lead_id]
        step: _Step = event.tag
        last = outcomes[-1] if outcomes else None
        if step.outcome is None:  # an attempt that led nowhere: try again later
            lead.attempt += 1
            behaviour = self.spec.stages[step.stage]
            if lead.attempt < behaviour.attempts:
                self._plan(event.lead_id, lead, event.at, self._retry(lead, behaviour), loop)
            return
        if isinstance(last, Exception) or last is None:
            change = f"fire {step.outcome.trigger}"
            self.refusals.add(change, event.lead_id, last or "nothing was applied")
            fallback = step.outcome.if_blocked
            if fallback is not None and not step.fallback:
                op = self._fire(event.lead_id, lead, event.at, fallback)
                loop.push(
                    Event(
                        event.at, event.lead_id, [op], lead.token, _Step(step.stage, fallback, True)
                    )
                )
            return
        self._entered(event.lead_id, lead, last.stage, last.owner, last.closed, event.at, loop)

    def _retry(self, lead: _Lead, behaviour: StageBehaviour) -> timedelta:
        return behaviour.retry.sample(lead.stream.random())

    def _entered(
        self,
        lead_id: str,
        lead: _Lead,
        stage: str,
        owner: str | None,
        closed: str | None,
        at: datetime,
        loop: Loop,
    ) -> None:
        lead.token += 1
        lead.stage, lead.owner, lead.attempt = stage, owner, 0
        lead.closed = closed is not None
        if not lead.closed:
            self._first(lead_id, lead, at, loop)

    def moved(self, moved: Moved, loop: Loop) -> None:
        lead = self.leads.get(moved.lead_id)
        if lead is None or (moved.stage == lead.stage and moved.owner == lead.owner):
            return
        if moved.stage != lead.stage:
            self._entered(
                moved.lead_id, lead, moved.stage, moved.owner, moved.closed, moved.at, loop
            )
            return
        lead.token += 1  # the old owner's plans are void; the new owner responds
        lead.owner = moved.owner
        self._plan(moved.lead_id, lead, moved.at, self._response(lead), loop)
