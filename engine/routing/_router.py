"""Routing: which team and which member a lead goes to, and batch releases of held leads.

A :class:`Router` is built once per definition version: it compiles the routing rules' CEL,
the teams' rotations and the members' calendars. Each decision then runs inside the caller's
transaction through a :class:`~leadflow.engine.routing._store.RoutingStore`:

1. **Team.** ``route(team=None)`` takes the first routing rule whose ``when`` holds and whose
   team is under its share cap; ``route(team="sdr")`` skips rules and share caps.
2. **Held for release.** A team some schedule releases (``release: fast``) keeps its leads in
   its queue until :meth:`Router.release` runs: the decision is ``queued``.
3. **Member.** Among members *available* at ``at`` (calendar open, not out of office, under
   capacity, not ``exclude``) the team's strategy picks one: ``round_robin`` (member order),
   ``weighted_round_robin`` (the smooth, nginx-style interleaving of the weights) or
   ``least_loaded`` (fewest open leads, ties in rotation order). Nobody available: the queue.

Rotations are persistent: the position lives in ``lf_team_state`` and moves past the member
chosen, so a restart (a new Engine, a new Router) continues where the last decision stopped.

Share cap: a lead may go to a capped team only if, counting it, the team's share of the distinct
leads routed in the process since ``at - window`` stays at or under ``max`` percent:
``(team + 1) / (total + 1) <= max / 100``. So whenever a lead goes to a capped team, the team's
share of the window ending then is at most the cap; a cold window sends nothing there (at 2%, not
before 49 other leads were routed in the window). Windows that end between two admissions may
show more once older leads of other teams age out: no online rule can know future volume.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, Protocol

from leadflow.definitions import (
    CalendarSpec,
    LeadflowError,
    ProcessDefinition,
    Team,
    format_duration,
)
from leadflow.engine._clock import as_utc
from leadflow.engine._compiler import CompiledProcess
from leadflow.engine._contract import DataContract
from leadflow.engine._criteria import Activity, CelProgram, EvalContext
from leadflow.engine.routing._account_match import ACCOUNT_TEAM, AccountHit, AccountMatcher
from leadflow.engine.routing._catch_up import settle
from leadflow.engine.routing._store import RoutingStore
from leadflow.engine.sla import BusinessCalendar, build_calendar

__all__ = ["OpenHours", "RouteDecision", "Router", "UnknownTeam", "build_calendars"]

_DAY = timedelta(days=1)
_STRATEGY = {
    "round_robin": "round robin",
    "weighted_round_robin": "weighted round robin",
    "least_loaded": "least loaded",
}


class OpenHours(Protocol):
    """What routing asks of a calendar (every ``Calendar`` of ``_calendar`` answers it)."""

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` is inside the working hours."""
        ...


class UnknownTeam(LeadflowError, LookupError):
    """A team name that the definition does not declare."""

    code = "unknown-team"

    def __init__(self, team: str, known: Sequence[str]) -> None:
        self.team = team
        self.known = tuple(known)
        listed = ", ".join(self.known) or "none declared"
        super().__init__(f"unknown team '{team}' (teams: {listed})")


@dataclass(frozen=True)
class RouteDecision:
    """Where a lead goes: the team, the owner, and why (a sentence for history)."""

    team: str | None
    """The team chosen (None: no rule matched, or no teams; ``@account``: an account match)."""
    owner: str | None
    """The member, or the team's queue owner, or None."""
    queued: bool
    """True when the owner is a queue (nobody available, or held for a release)."""
    reason: str
    """``round robin in sdr``, ``everyone in sdr at capacity: queued``."""
    rule: int | None = field(default=None, compare=False)
    """The routing rule (1 = the first) that chose the team; None when the team was given
    (a reassignment) or no rule matched."""
    skipped: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    """Members passed over on the way to the owner, with why: ``(("ivy", "out of office"),)``
    (for a queued decision: every member)."""
    account: AccountHit | None = field(default=None, compare=False)
    """The account matched (``match_account``): the team is then ``@account``; with another
    team, the match was set aside because its owner is the current owner (a pass, a
    reassignment, a reroute keeps such a lead where it is)."""


@dataclass(frozen=True, slots=True)
class _Seat:
    id: str
    capacity: int | None
    calendar: OpenHours | None


def _smooth(weights: Sequence[int]) -> tuple[int, ...]:
    """One period of smooth weighted round robin: [2, 1] -> (0, 1, 0)."""
    total = sum(weights)
    current = [0] * len(weights)
    out = []
    for _ in range(total):
        for i, w in enumerate(weights):
            current[i] += w
        best = max(range(len(weights)), key=current.__getitem__)
        current[best] -= total
        out.append(best)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _TeamPlan:
    name: str
    strategy: str
    seats: tuple[_Seat, ...]
    rotation: tuple[int, ...]
    """Seat indices in the order the pointer walks them."""
    queue: str
    held_by: str | None
    """The schedule that releases this team's leads, if any."""
    share_max: Fraction | None
    team: Team
    ids: tuple[str, ...] = field(init=False)
    """The members' ids, in seat order (derived from ``seats``)."""
    counts_loads: bool = field(init=False)
    """Whether deciding needs the members' open leads (least loaded, or a capacity)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", tuple(s.id for s in self.seats))
        needs = self.strategy == "least_loaded" or any(s.capacity is not None for s in self.seats)
        object.__setattr__(self, "counts_loads", needs)


def build_calendars(specs: Mapping[str, CalendarSpec]) -> dict[str, BusinessCalendar]:
    """Calendars of a definition (``definition.calendars``) as :class:`BusinessCalendar`."""
    return {name: build_calendar(spec) for name, spec in specs.items()}


class Router:
    """Routing for one compiled process version (built once per definition version).

    ``calendars`` gives calendars by name (shared with the SLA clocks); the definition's
    ``calendars`` are built for names it lacks. A calendar's ``timezone_field`` (the lead's
    territory) plays no part here: a member works the hours of the calendar's own timezone.
    """

    def __init__(
        self, definition: ProcessDefinition, calendars: Mapping[str, OpenHours] | None = None
    ) -> None:
        self.definition = definition
        self.process = definition.process
        given = dict(calendars or {})
        given.update(
            build_calendars({k: v for k, v in definition.calendars.items() if k not in given})
        )
        held = {s.release: name for name, s in definition.schedules.items() if s.release}
        self._teams = {
            name: self._plan(name, team, given, held.get(name))
            for name, team in definition.teams.items()
        }
        types = CompiledProcess.activity_types_of(definition)
        self._rules = tuple(
            (rule.team, CelProgram(rule.when, types) if rule.when else None, rule.when)
            for rule in definition.routing
        )
        self._contract = DataContract(definition)
        spec = definition.match_account
        self._accounts = AccountMatcher(spec, types) if spec is not None else None

    @staticmethod
    def _plan(
        name: str, team: Team, calendars: Mapping[str, OpenHours], held_by: str | None
    ) -> _TeamPlan:
        seats = []
        for m in team.members:
            cal_name = m.calendar or team.calendar
            capacity = m.capacity if m.capacity is not None else team.capacity
            seats.append(_Seat(m.id, capacity, calendars[cal_name] if cal_name else None))
        if team.strategy == "weighted_round_robin":
            rotation = _smooth([m.weight for m in team.members])
        else:
            rotation = tuple(range(len(seats)))
        cap = team.share_cap
        return _TeamPlan(
            name=name,
            strategy=team.strategy,
            seats=tuple(seats),
            rotation=rotation,
            queue=team.queue_owner(name),
            held_by=held_by,
            share_max=Fraction(repr(cap.max)) / 100 if cap else None,
            team=team,
        )

    def team(self, name: str) -> Team:
        """The declared team ``name``; :class:`UnknownTeam` otherwise."""
        return self._get(name).team

    def _get(self, name: str) -> _TeamPlan:
        plan = self._teams.get(name)
        if plan is None:
            raise UnknownTeam(name, list(self._teams))
        return plan

    # -- routing -------------------------------------------------------------------------------

    def route(
        self,
        cur: RoutingStore,
        instance_id: int | None,
        lead: Mapping[str, Any],
        at: datetime,
        *,
        team: str | None = None,
        exclude: str | None = None,
        stage: str | None = None,
        activities: Sequence[Activity] = (),
    ) -> RouteDecision:
        """Route one lead at ``at``; never to ``exclude`` (the current owner) unless queued.

        ``lead`` is the lead's data (rules read it through CEL, with ``stage``, ``activities``
        and ``owner`` = ``exclude``). The decision is recorded in ``lf_routes`` when it names an
        owner and ``instance_id`` is known. The queue owner is returned even when it is
        ``exclude`` (a queued lead stays queued). Raises :class:`UnknownTeam` for an undeclared
        ``team``.
        """
        at = as_utc(at)
        notes: list[str] = []
        number: int | None = None
        set_aside: AccountHit | None = None
        if team is not None:
            plan = self._get(team)
        else:
            ctx = EvalContext(
                lead=lead,
                payload={},
                stage=stage or "",
                stage_entered_at=at,
                stage_seq=0,
                now=at,
                owner=exclude,
                activities=list(activities),
                contract=self._contract,
            )
            matched = self._by_account(cur, lead, ctx, instance_id, at, exclude, notes)
            if matched is not None and matched.team == ACCOUNT_TEAM:
                return matched
            set_aside = matched.account if matched is not None else None
            found = self._first_rule(cur, ctx, instance_id, at, notes)
            if found is None:
                why = "no routing rule matched" if self._rules else "no routing rules"
                reason = "; ".join([why, *notes])
                return RouteDecision(None, None, False, reason, account=set_aside)
            plan, number = found
        decision = self._assign(cur, plan, instance_id, at, exclude)
        if notes:
            decision = replace(decision, reason=f"{decision.reason} ({'; '.join(notes)})")
        if set_aside is not None:
            decision = replace(decision, account=set_aside)
        return replace(decision, rule=number) if number is not None else decision

    def _by_account(
        self,
        cur: RoutingStore,
        lead: Mapping[str, Any],
        ctx: EvalContext,
        instance_id: int | None,
        at: datetime,
        exclude: str | None,
        notes: list[str],
    ) -> RouteDecision | None:
        """The account owner's decision when the lead matches an account (``match_account``).
        Never the current owner: then a decision of no team that carries the match set aside
        (noted; the rules decide)."""
        hit = self._accounts.match(cur, lead, ctx) if self._accounts is not None else None
        if hit is None:
            return None
        if hit.owner == exclude:
            notes.append(f"{hit.reason}, but {hit.owner} is the current owner")
            return RouteDecision(None, None, False, "", account=hit)
        if instance_id is not None:
            cur.record(self.process, ACCOUNT_TEAM, instance_id, hit.owner, at)
        return RouteDecision(ACCOUNT_TEAM, hit.owner, False, hit.reason, account=hit)

    def _first_rule(
        self,
        cur: RoutingStore,
        ctx: EvalContext,
        instance_id: int | None,
        at: datetime,
        notes: list[str],
    ) -> tuple[_TeamPlan, int] | None:
        """The team of the first rule that holds and is under its share cap, and the rule's
        number; notes the rules."""
        for i, (name, program, _) in enumerate(self._rules, start=1):
            if program is not None and not program.run(ctx)[0]:
                continue
            candidate = self._get(name)
            full = self._over_share(cur, candidate, instance_id, at)
            if full:
                notes.append(f"routing rule {i} skipped: {full}")
                continue
            notes.append(f"routing rule {i}")
            return candidate, i
        return None

    def _over_share(
        self, cur: RoutingStore, plan: _TeamPlan, instance_id: int | None, at: datetime
    ) -> str | None:
        """Why ``plan`` cannot take one more lead under its share cap, or None."""
        if plan.share_max is None:
            return None
        cap = plan.team.share_cap
        assert cap is not None
        cur.lock_team(self.process, plan.name)  # one capped decision at a time per team
        since = at - cap.window
        mine, total = cur.share(self.process, plan.name, since, exclude_instance=instance_id)
        if Fraction(mine + 1, total + 1) <= plan.share_max:
            return None
        return (
            f"{plan.name} is at its {cap.max:g}% share cap "
            f"({mine} of {total} leads in {_window(cap.window)})"
        )

    def _assign(
        self,
        cur: RoutingStore,
        plan: _TeamPlan,
        instance_id: int | None,
        at: datetime,
        exclude: str | None,
    ) -> RouteDecision:
        if plan.held_by is not None:
            decision = RouteDecision(
                plan.name,
                plan.queue,
                True,
                f"{plan.name} leads wait for the scheduled release '{plan.held_by}': queued",
            )
        elif not plan.rotation:
            reason = f"{plan.name} is a queue (no members): queued"
            decision = RouteDecision(plan.name, plan.queue, True, reason)
        else:
            decision = self._member(cur, plan, at, exclude)
        if instance_id is not None and decision.owner is not None:
            cur.record(self.process, plan.name, instance_id, decision.owner, at)
        return decision

    def _member(
        self, cur: RoutingStore, plan: _TeamPlan, at: datetime, exclude: str | None
    ) -> RouteDecision:
        """The member the team's strategy (and catch-up) picks at ``at``, or the queue."""
        size = len(plan.rotation)
        pos = cur.advance_pointer(self.process, plan.name, size)
        loads, unavailable = self._state(cur, plan, at, exclude, hours=True)
        chosen = self._pick(plan, pos, loads, unavailable)
        if chosen is None:
            cur.set_pointer(self.process, plan.name, pos)  # nobody took the turn
            reason = _nobody(plan.name, unavailable)
            return RouteDecision(plan.name, plan.queue, True, reason, skipped=_listed(unavailable))
        catch_up = plan.team.catch_up and plan.strategy != "least_loaded"
        ahead = (chosen - pos) % size  # the members the rotation passed over
        walk = (
            [plan.seats[plan.rotation[(pos + k) % size]].id for k in range(size)]
            if catch_up or ahead
            else []
        )
        if plan.strategy == "least_loaded":
            skipped = _listed(unavailable)
        else:
            skipped = _listed({m: unavailable[m] for m in walk[:ahead] if m in unavailable})
        if catch_up:
            owed = settle(cur, self.process, plan.team, plan.name, walk, unavailable, skipped)
            if owed is not None:
                cur.set_pointer(self.process, plan.name, pos)  # the turn stays for its member
                owner, left = owed
                reason = f"catch-up turn in {plan.name} ({_turns(left)} still owed to {owner})"
                return RouteDecision(plan.name, owner, False, reason)
        if chosen != pos:
            cur.set_pointer(self.process, plan.name, (chosen + 1) % size)
        owner = plan.seats[plan.rotation[chosen]].id
        reason = f"{_STRATEGY[plan.strategy]} in {plan.name}"
        if plan.strategy == "least_loaded":
            reason += f" ({loads[owner]} open leads)"
        return RouteDecision(plan.name, owner, False, reason, skipped=skipped)

    def _state(
        self, cur: RoutingStore, plan: _TeamPlan, at: datetime, exclude: str | None, *, hours: bool
    ) -> tuple[dict[str, int], dict[str, str]]:
        """(open leads per member, {member: why unavailable}) at ``at``."""
        ids = plan.ids
        loads = cur.open_leads(ids) if plan.counts_loads else dict.fromkeys(ids, 0)
        away = cur.away(ids, at)
        unavailable: dict[str, str] = {}
        for seat in plan.seats:
            if seat.id == exclude:
                unavailable[seat.id] = "the current owner"
            elif seat.id in away:
                unavailable[seat.id] = "out of office"
            elif hours and seat.calendar is not None and not seat.calendar.is_open(at):
                unavailable[seat.id] = "outside working hours"
            elif seat.capacity is not None and loads[seat.id] >= seat.capacity:
                unavailable[seat.id] = "at capacity"
        return loads, unavailable

    @staticmethod
    def _pick(
        plan: _TeamPlan, pos: int, loads: Mapping[str, int], unavailable: Mapping[str, str]
    ) -> int | None:
        """The rotation position of the member to take, walking from ``pos``; None: nobody."""
        size = len(plan.rotation)
        best: int | None = None
        for step in range(size):
            at = (pos + step) % size
            member = plan.seats[plan.rotation[at]].id
            if member in unavailable:
                continue
            if plan.strategy != "least_loaded":
                return at
            if best is None or loads[member] < loads[plan.seats[plan.rotation[best]].id]:
                best = at
        return best

    # -- batch release -------------------------------------------------------------------------

    def release(
        self, cur: RoutingStore, process: str, team: str, at: datetime, limit: int = 1000
    ) -> list[tuple[str, str]]:
        """Hand out up to ``limit`` leads waiting under ``team``'s queue owner, oldest first.

        Returns ``[(lead_id, new_owner), ...]`` for the engine to apply as assignments (each is
        also recorded in ``lf_routes``). Members are picked by the team's strategy among those
        not out of office and under capacity at ``at``; working hours do not apply (a Sunday
        evening release fills Monday's desks). Leads nobody can take stay queued.
        """
        at = as_utc(at)
        plan = self._get(team)
        waiting = cur.waiting(process, plan.queue, limit) if plan.rotation else []
        if not waiting:
            return []  # nothing waits, or a queue-only team: nobody to hand leads to
        size = len(plan.rotation)
        pos = cur.lock_team(process, team) % size
        loads, unavailable = self._state(cur, plan, at, None, hours=False)
        loads = dict(loads)
        out: list[tuple[str, str]] = []
        for instance_id, lead_id in waiting:
            chosen = self._pick(plan, pos, loads, unavailable)
            if chosen is None:
                break
            seat = plan.seats[plan.rotation[chosen]]
            loads[seat.id] += 1
            if seat.capacity is not None and loads[seat.id] >= seat.capacity:
                unavailable[seat.id] = "at capacity"
            pos = (chosen + 1) % size
            cur.record(process, team, instance_id, seat.id, at)
            out.append((lead_id, seat.id))
        cur.set_pointer(process, team, pos)
        return out


def _window(window: timedelta) -> str:
    """``30d`` as ops teams write windows (``format_duration`` would say ``4w2d``)."""
    if window >= _DAY and not window % _DAY:
        return f"{window // _DAY}d"
    return format_duration(window)


def _listed(unavailable: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(unavailable.items())


def _turns(n: int) -> str:
    return f"{n} turn" if n == 1 else f"{n} turns"


def _nobody(team: str, unavailable: Mapping[str, str]) -> str:
    """``everyone in sdr at capacity: queued`` or the reason of each member."""
    reasons = set(unavailable.values())
    if len(reasons) == 1 and len(unavailable) > 1 and "the current owner" not in reasons:
        return f"everyone in {team} {reasons.pop()}: queued"
    listed = "; ".join(f"{member}: {why}" for member, why in unavailable.items())
    return f"nobody in {team} available ({listed}): queued"
