"""SLA clocks: compiled policies and the pure planning of their state.

Each running clock lives in the instance row (``lf_instances.sla``, JSON) as a small dict, and
its next mark (warning, breach, escalation or planned task) as one row in ``lf_timers``. Every
change of a lead passes through :meth:`SlaSet.plan`, which starts, pauses, resumes, restarts,
fulfils or stops clocks and says which timer rows to write; the due-timer sweep
(:mod:`leadflow.engine.sla.sweep`) fires marks through :meth:`SlaSet.fire_mark`.

A clock's state (keys kept short: it is stored with every lead)::

    s      running | paused | met | stopped
    t0     when the clock started (ISO time)
    q      the lead version that started it (activities after it count)
    el     seconds of clock time counted before ``since``
    since  when the current running stretch began (None while paused or ended)
    k      index of the next mark to fire
    br     when the clock breached (None if not)
    n      activity counts since the start, for the types the policy counts
    end    when it was met or stopped
    out    the lead left the SLA's stages after the clock ended (it may start again)
    r      the target rule the clock started under (absent: the SLA's own ``target``)
    c      the cycle of a re-armed clock (absent: 1), see :mod:`._cycles`
    ho     the (from, to) teams of a hand-off clock, see :mod:`._handoffs`
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from leadflow.definitions import CalendarSpec, ProcessDefinition, SlaPolicy
from leadflow.engine._criteria import CelProgram, EvalContext
from leadflow.engine.sla._calendar import BusinessCalendar, Calendar, CalendarTime, WorkingHours
from leadflow.engine.sla._cycles import Start, next_cycle, rearm_active
from leadflow.engine.sla._handoffs import HandoffRule, Pair, tag
from leadflow.engine.sla._targets import NO_TARGET, Mark, TargetMatrix

__all__ = ["Mark", "SlaSet", "build_calendar"]

EVENT_OF_LEVEL: dict[str, str] = {
    "warning": "leadflow.lead.sla_warned",
    "breach": "leadflow.lead.sla_breached",
    "escalation": "leadflow.lead.sla_escalated",
    "task": "leadflow.lead.task_due",
}
_ACTIVE = ("running", "paused")
_CALENDAR_TIME = CalendarTime()


def build_calendar(spec: CalendarSpec) -> BusinessCalendar:
    """The business calendar a definition's calendar declares."""
    return BusinessCalendar(
        spec.timezone,
        WorkingHours.parse(spec.hours),
        holidays_country=spec.holidays.country if spec.holidays else None,
        holidays_subdivision=spec.holidays.subdivision if spec.holidays else None,
        closed=spec.closed,
    )


def _iso(value: datetime) -> str:
    return value.isoformat()


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


class CompiledSla:
    """One SLA policy, ready to plan with."""

    def __init__(
        self,
        sid: str,
        policy: SlaPolicy,
        definition: ProcessDefinition,
        calendars: Mapping[str, BusinessCalendar],
        activity_types: tuple[str, ...],
    ) -> None:
        self.id = sid
        self.policy = policy
        self.run_stages = _expand(definition, policy.stages)
        self.pause_stages = _expand(definition, policy.pause_in) - self.run_stages
        self.pause_when = (
            CelProgram(policy.pause_when, activity_types) if policy.pause_when else None
        )
        self.applies_when = (
            CelProgram(policy.applies_when, activity_types) if policy.applies_when else None
        )
        calendar_spec = definition.calendars.get(policy.calendar or "")
        day = WorkingHours.parse(calendar_spec.hours).usual_day if calendar_spec else timedelta(1)
        self.day = day
        """The open time of one business day in this SLA's calendar."""
        self.matrix = TargetMatrix(policy, day, activity_types)
        """The targets (one, or a matrix's) and their ladder marks."""
        self.target = self.matrix.first.target
        self.calendar: BusinessCalendar | None = (
            calendars[policy.calendar] if policy.business and policy.calendar else None
        )
        spec = definition.calendars.get(policy.calendar or "")
        self.tz_field = spec.timezone_field if spec is not None and self.calendar else None
        self.marks = self.matrix.first.marks
        f = policy.fulfilled_by
        self.fulfil_activity = f.activity if f is not None else None
        self.fulfil_field = f.field_set if f is not None else None
        self.fulfil_cel = CelProgram(f.cel, activity_types) if f is not None and f.cel else None
        counted = set()
        if self.fulfil_activity is not None:
            counted.add(self.fulfil_activity.type)
        if policy.tasks is not None:
            counted.add(policy.tasks.activity)
        if policy.anchor_activity is not None:
            counted.add(policy.anchor_activity)
        self.counted = frozenset(counted)
        self.leaving_meets = f is None
        self.fulfil_trigger = f.trigger if f is not None else None
        self.handoff = HandoffRule(policy.handoff, definition) if policy.handoff else None
        self.event_anchored = policy.anchor == "event" or self.handoff is not None
        """No clock until a re-arm event or a hand-off starts one."""

    # -- calendar ------------------------------------------------------------------------------

    def clock(self, lead: Mapping[str, Any]) -> Calendar:
        """The calendar this lead's clock counts in (its own timezone when the lead has one)."""
        if self.calendar is None:
            return _CALENDAR_TIME
        if self.tz_field is not None:
            tz = lead.get(self.tz_field)
            if isinstance(tz, str) and tz:
                try:
                    return self.calendar.with_timezone(ZoneInfo(tz))
                except (ZoneInfoNotFoundError, ValueError):
                    pass  # an unknown zone in lead data: count in the calendar's own zone
        return self.calendar

    # -- state ---------------------------------------------------------------------------------

    def mode(self, stage: str, ctx: EvalContext) -> str | None:
        """``run``, ``pause`` or None (the clock does not apply) for a lead in ``stage``."""
        if stage in self.run_stages:
            if self.pause_when is not None and self.pause_when.run(ctx)[0]:
                return "pause"
            return "run"
        if stage in self.pause_stages:
            return "pause"
        return None

    def rearm_event(
        self,
        activity: str | None,
        trigger: str | None,
        previous_owner: str | None,
        owner: str | None,
        owner_changed: bool,
    ) -> tuple[bool, Pair | None]:
        """Whether a change re-arms the clock (a ``rearm`` event or a hand-off), and the
        hand-off pair when it is one."""
        pair = (
            self.handoff.detect(previous_owner, owner, owner_changed, trigger)
            if self.handoff is not None
            else None
        )
        rearm = self.policy.rearm
        return pair is not None or (rearm is not None and rearm.hit(activity, trigger)), pair

    def applies(self, ctx: EvalContext) -> bool:
        """Whether the SLA applies to the lead now (``applies_when``; always without one)."""
        return self.applies_when is None or self.applies_when.run(ctx)[0]

    def fulfilled(self, clock: Mapping[str, Any], ctx: EvalContext) -> bool:
        """Whether the fulfilment condition holds now."""
        if self.fulfil_activity is not None:
            return int(clock["n"].get(self.fulfil_activity.type, 0)) >= self.fulfil_activity.min
        if self.fulfil_field is not None:
            value = ctx.lead.get(self.fulfil_field)
            return value is not None and value != "" and value != []
        if self.fulfil_cel is not None:
            return self.fulfil_cel.run(ctx)[0]
        if self.fulfil_trigger is not None:
            return bool(clock["n"].get(f"@{self.fulfil_trigger}"))
        return False

    def elapsed(self, clock: Mapping[str, Any], lead: Mapping[str, Any], at: datetime) -> timedelta:
        """Clock time counted up to ``at``."""
        total = timedelta(seconds=clock["el"])
        if clock["since"] is not None:
            total += self.clock(lead).elapsed(_time(clock["since"]), at)
        return total

    def next_mark(
        self, clock: Mapping[str, Any], lead: Mapping[str, Any]
    ) -> tuple[int, datetime] | None:
        """(mark index, due time) of the next mark of a running clock; None when none is left."""
        if clock["s"] != "running":
            return None
        tasks = self.policy.tasks
        marks = self.matrix.of(clock).marks
        for i in range(clock["k"], len(marks)):
            mark = marks[i]
            done = int(clock["n"].get(tasks.activity, 0)) if tasks is not None else 0
            if mark.level == "task" and tasks is not None and tasks.skip_done and done > mark.index:
                continue
            remaining = mark.amount - timedelta(seconds=clock["el"])
            since = _time(clock["since"])
            if remaining <= timedelta(0):
                return i, since
            return i, self.clock(lead).add(since, remaining)
        return None

    def deadline(self, clock: Mapping[str, Any], lead: Mapping[str, Any]) -> datetime | None:
        """When a running clock reaches its target (None while paused)."""
        if clock["since"] is None:
            return None
        remaining = self.matrix.of(clock).target - timedelta(seconds=clock["el"])
        since = _time(clock["since"])
        return since if remaining <= timedelta(0) else self.clock(lead).add(since, remaining)


def _pause(
    p: CompiledSla, clock: dict[str, Any], ctx: EvalContext, events: list[dict[str, Any]]
) -> None:
    """Stop counting: the time so far is kept in ``el``."""
    clock["el"] = p.elapsed(clock, ctx.lead, ctx.now).total_seconds()
    clock["since"] = None
    clock["s"] = "paused"
    events.append({"policy": p.id, "event": "paused"})


def _expand(definition: ProcessDefinition, names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(definition.open_stages if "*" in names else names)


class SlaSet:
    """The SLA policies of one definition version."""

    def __init__(self, definition: ProcessDefinition, activity_types: tuple[str, ...]) -> None:
        calendars = {name: build_calendar(spec) for name, spec in definition.calendars.items()}
        self.calendars = calendars
        self.policies = tuple(
            CompiledSla(sid, policy, definition, calendars, activity_types)
            for sid, policy in definition.slas.items()
        )
        self.by_id = {p.id: p for p in self.policies}

    def __bool__(self) -> bool:
        return bool(self.policies)

    def plan(
        self,
        before: Mapping[str, Any] | None,
        state: dict[str, Any],
        ctx: EvalContext,
        *,
        created_at: datetime,
        activity: str | None,
        owner_changed: bool,
        data_changed: bool,
        trigger: str | None = None,
        previous_owner: str | None = None,
    ) -> tuple[dict[str, tuple[int, datetime] | None], list[dict[str, Any]]]:
        """Bring every clock in ``state`` (updated in place) up to date after a change.

        ``before`` is the clock state the change started from; ``activity`` and ``trigger``
        what the change recorded or fired (re-arm events). Returns the timer writes
        (policy -> (mark, due) or None to delete) and the metric events for the history.
        """

        def start(p: CompiledSla, ctx: EvalContext, mode: str) -> dict[str, Any] | None:
            return self._start(p, ctx, ctx.now, mode, [])

        timers: dict[str, tuple[int, datetime] | None] = {}
        events: list[dict[str, Any]] = []
        for p in self.policies:
            old = (before or {}).get(p.id)
            clock = state.get(p.id)
            mode = p.mode(ctx.stage, ctx)
            active = clock is not None and clock["s"] in _ACTIVE
            hit, pair = p.rearm_event(activity, trigger, previous_owner, ctx.owner, owner_changed)
            hit = hit and mode is not None
            if mode is not None and not p.applies(ctx):
                if active:  # it stopped applying: no outcome for anyone
                    del state[p.id]
                    timers[p.id] = None
                    events.append({"policy": p.id, "event": "withdrawn"})
                continue
            if not active:
                if clock is not None and not clock.get("out"):
                    # ended (met) while the lead is still in the SLA's stages: it restarts only
                    # after the lead has left them and comes back
                    if mode is None:
                        state[p.id] = {**clock, "out": True}
                    if not hit:
                        continue
                    started = next_cycle(p, clock, ctx, mode or "run", start, events)
                elif mode is None or (p.event_anchored and not hit):
                    continue
                else:
                    started = self._start(p, ctx, created_at, mode, events)
                if started is None:  # no target rule matches the lead: no clock
                    continue
                clock = started
                if pair is not None:
                    tag(events, p.id, clock, pair)
            else:
                assert clock is not None
                clock = {**clock, "n": dict(clock["n"])}
                if trigger is not None and trigger == p.fulfil_trigger:
                    clock["n"][f"@{trigger}"] = 1
                if mode is None:
                    by_trigger = p.fulfil_trigger is not None and p.fulfilled(clock, ctx)
                    self._end(p, clock, ctx, events, met=by_trigger or None)
                    clock["out"] = True
                    state[p.id] = clock
                    timers[p.id] = None
                    continue
                clock = self._follow_change(p, clock, ctx, mode, activity, owner_changed, events)
            if not p.leaving_meets and p.fulfilled(clock, ctx):
                self._end(p, clock, ctx, events, met=True)
            if active:
                event = (hit, pair)
                clock = self._rearm(
                    p, clock, ctx, mode or "run", start, events, event, owner_changed
                )
            state[p.id] = clock
            if clock != old or (data_changed and p.tz_field is not None):
                timers[p.id] = p.next_mark(clock, ctx.lead)
        return timers, events

    def _rearm(
        self,
        p: CompiledSla,
        clock: dict[str, Any],
        ctx: EvalContext,
        mode: str,
        start: Start,
        events: list[dict[str, Any]],
        event: tuple[bool, Pair | None],
        owner_changed: bool = False,
    ) -> dict[str, Any]:
        """After a change to a clock that was active: a re-arm or hand-off starts the next
        cycle; an owner change away from a hand-off's receiving team stops it."""
        hit, pair = event
        if hit:
            rearm = p.policy.rearm
            keep = rearm.running == "keep" if rearm else pair == tuple(clock.get("ho") or ())
            clock = rearm_active(p, clock, ctx, mode, start, events, keep=keep)
            if pair is not None and clock.get("ho") is None:
                tag(events, p.id, clock, pair)
        elif (
            owner_changed
            and p.handoff
            and clock["s"] in _ACTIVE
            and p.handoff.left(clock, ctx.owner)
        ):
            self._end(p, clock, ctx, events, met=False)  # the receiving team passed it on
        return clock

    def _follow_change(
        self,
        p: CompiledSla,
        clock: dict[str, Any],
        ctx: EvalContext,
        mode: str,
        activity: str | None,
        owner_changed: bool,
        events: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """Count ``activity``, then restart, pause or resume an active clock as the change asks."""
        if activity is not None and activity in p.counted:
            clock["n"][activity] = int(clock["n"].get(activity, 0)) + 1
        anchor = p.policy.anchor
        if (
            anchor == "last_activity"
            and activity is not None
            and p.policy.anchor_activity in (None, activity)
        ) or (anchor == "assigned" and owner_changed):
            return self._restart(p, clock, ctx, mode, events)
        if clock["s"] == "running" and mode == "pause":
            _pause(p, clock, ctx, events)
        elif clock["s"] == "paused" and mode == "run":
            clock["since"] = _iso(ctx.now)
            clock["s"] = "running"
            events.append({"policy": p.id, "event": "resumed"})
        return clock

    def _start(
        self,
        p: CompiledSla,
        ctx: EvalContext,
        created_at: datetime,
        mode: str,
        events: list[dict[str, Any]],
    ) -> dict[str, Any] | None:
        """A new running (or paused) clock; None when no target rule matches the lead."""
        rule = p.matrix.choose(ctx)
        if rule is NO_TARGET:
            return None
        at = ctx.now
        start = created_at if p.policy.anchor == "lead_created" else at
        clock: dict[str, Any] = {
            "s": "running",
            "t0": _iso(start),
            "q": ctx.stage_seq,
            "el": 0.0,
            "since": _iso(start),
            "k": 0,
            "br": None,
            "n": {},
            "end": None,
        }
        if isinstance(rule, int):
            clock["r"] = rule
        started = {"policy": p.id, "event": "started", "started_at": _iso(start)}
        events.append({**started, **p.matrix.started(clock)})
        if mode == "pause":
            _pause(p, clock, ctx, events)
        return clock

    def _restart(
        self,
        p: CompiledSla,
        clock: dict[str, Any],
        ctx: EvalContext,
        mode: str,
        events: list[dict[str, Any]],
    ) -> dict[str, Any]:
        fresh = self._start(p, ctx, ctx.now, mode, [])
        if fresh is None:  # no target rule matches the lead now: the clock goes on as it was
            return clock
        fresh["n"] = clock["n"]
        events.append({"policy": p.id, "event": "restarted", **p.matrix.started(fresh)})
        return fresh

    def _end(
        self,
        p: CompiledSla,
        clock: dict[str, Any],
        ctx: EvalContext,
        events: list[dict[str, Any]],
        *,
        met: bool | None = None,
    ) -> None:
        """Stop a clock: met (fulfilled, or left the stages when leaving meets it and it ran) or
        stopped."""
        at = ctx.now
        deadline = p.deadline(clock, ctx.lead)
        elapsed = p.elapsed(clock, ctx.lead, at)
        if met is None:
            # leaving the stages meets a clock that ran; one paused all along never ran: it is
            # stopped, not met (the board must not count it as a kept promise)
            never_ran = clock["s"] == "paused" and not elapsed
            met = p.leaving_meets and not never_ran
        if clock["br"] is None and deadline is not None and deadline <= at:
            clock["br"] = _iso(deadline)  # breached while nobody swept: it happened at the deadline
        clock["el"] = elapsed.total_seconds()
        clock["since"] = None
        clock["s"] = "met" if met else "stopped"
        clock["end"] = _iso(at)
        event: dict[str, Any] = {
            "policy": p.id,
            "event": "fulfilled" if met else "stopped",
            "elapsed": clock["el"],
            "breached": clock["br"] is not None,
        }
        events.append(event)

    # -- marks ---------------------------------------------------------------------------------

    def fire_mark(
        self, policy: str, step: int, clock: dict[str, Any], lead: Mapping[str, Any], due: datetime
    ) -> Mark | None:
        """Advance ``clock`` past mark ``step`` (in place); the mark, or None if it is stale."""
        p = self.by_id.get(policy)
        if p is None or clock.get("s") != "running" or step < clock["k"]:
            return None
        expected = p.next_mark(clock, lead)
        if expected is None or expected[0] != step:
            return None
        mark = p.matrix.of(clock).marks[step]
        clock["k"] = step + 1
        if mark.level == "breach" and clock["br"] is None:
            clock["br"] = _iso(due)
        return mark
