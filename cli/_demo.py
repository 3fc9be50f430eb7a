"""``leadflow demo``: a stream of inbound leads worked by a small SDR team, on simulated time.

The shipped ``inbound-lead`` process is deployed into a temporary SQLite database (or ``--db``).
A seeded :class:`random.Random` decides who the leads are and how they behave; a
:class:`~leadflow.engine.testing.ManualClock` jumps from one simulated event to the next, so days
of work take a second. Reps go through the engine only (start, assign, record, update, fire) and
obey the process: when a guard blocks them they do what a rep would (call again, ask for the
budget, mark an unqualified lead lost).
"""

from __future__ import annotations

import heapq
import random
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from leadflow.cli._units import duration, percent
from leadflow.definitions import LeadflowError, ProcessDefinition, load_library
from leadflow.engine import DuplicateLead, Engine, GuardFailed
from leadflow.engine.reports import SlaBoard, sla_board
from leadflow.engine.sla import BusinessCalendar, build_calendar
from leadflow.engine.testing import ManualClock

__all__ = ["DemoError", "run_demo"]

PROCESS = "inbound-lead"
START = datetime.fromisoformat("2026-01-05T14:00:00+00:00")  # 09:00 in New York: SDR hours
"""Monday 5 January 2026, 09:00 UTC: the simulation starts here, whatever the seed."""

COMPANIES = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Vandelay",
    "Pied Piper",
    "Gringotts",
    "Oscorp",
    "Aperture",
)
FIRST_NAMES = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Robin")
SEGMENTS = ("smb", "mid_market", "enterprise")
BUDGETS = {"smb": (3_000, 15_000), "mid_market": (15_000, 60_000), "enterprise": (60_000, 250_000)}
FATES = (("fit", 50), ("no_budget", 12), ("competitor", 12), ("ghost", 18), ("bad_data", 8))
"""What the lead will turn out to be, with weights (the score decides "not a fit")."""
DemoProgress = Callable[[str, int, int], None]
"""Told (phase, done, total): ``arrivals`` in leads, then ``follow-up`` in simulated hours."""
NARRATE = 12
"""How many events the narrative shows at most: the first of each kind (two arrivals)."""


class DemoError(LeadflowError):
    """The demo cannot run (no shipped process, or its leads already exist in ``--db``)."""

    code = "demo-error"


@dataclass
class _Lead:
    id: str
    name: str
    company: str
    segment: str
    score: int
    budget: int
    fate: str
    reachable: float
    rep: str
    patience: int
    """After how many unanswered calls the rep first tries to give up."""
    calls: int = 0
    forgets_budget: bool = False


@dataclass(order=True)
class _Event:
    at: datetime
    seq: int
    action: str = field(compare=False)
    lead: _Lead | None = field(compare=False, default=None)


class _Simulation:
    def __init__(
        self, engine: Engine, clock: ManualClock, rng: random.Random, console: Console, leads: int
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.rng = rng
        self.console = console
        self.total = leads
        self.queue: list[_Event] = []
        self.seq = 0
        self.arrived = 0
        self.changes = 0
        self.blocked = 0
        self.narrated = 0
        self.told: Counter[str] = Counter()
        self.leads: list[_Lead] = []
        self.progress: DemoProgress | None = None
        self.working: dict[str, BusinessCalendar] = {}
        """Each rep's working hours (their calendar or their team's): reps work only then."""

    def keep_hours(self, definition: ProcessDefinition) -> None:
        """Reps work in their calendar's hours, as the simulator's ``working_hours`` does."""
        calendars = {n: build_calendar(c) for n, c in definition.calendars.items()}
        for team_name, team in definition.teams.items():
            if team.calendar is not None:  # the team's queue is worked in the team's hours
                self.working[team.queue_owner(team_name)] = calendars[team.calendar]
            for member in team.members:
                name = member.calendar or team.calendar
                if name is not None:
                    self.working[member.id] = calendars[name]

    # -- scheduling ----------------------------------------------------------------------------

    def at(self, delay: timedelta, action: str, lead: _Lead | None = None) -> None:
        self.seq += 1
        heapq.heappush(self.queue, _Event(self.clock.now() + delay, self.seq, action, lead))

    def minutes(self, low: float, high: float) -> timedelta:
        return timedelta(minutes=self.rng.uniform(low, high))

    def hours(self, low: float, high: float) -> timedelta:
        return timedelta(hours=self.rng.uniform(low, high))

    def say(self, lead: _Lead, kind: str, text: str) -> None:
        """Narrate the first events of each kind (``kind``), up to :data:`NARRATE` lines."""
        self.told[kind] += 1
        if self.narrated >= NARRATE or self.told[kind] > (2 if kind == "arrive" else 1):
            return
        self.narrated += 1
        line = Text(self.clock.now().strftime("%a %H:%M  "), style="dim")
        line.append(f"{lead.id}  ", style="bold")
        line.append(text)
        self.console.print(line, soft_wrap=True)

    # -- engine calls (each one is a committed change) -------------------------------------------

    def fire(self, lead: _Lead, trigger: str, data: Mapping[str, Any] | None = None) -> None:
        self.engine.fire(PROCESS, lead.id, trigger, data, actor=lead.rep)
        self.changes += 1

    def record(self, lead: _Lead, activity: str, data: Mapping[str, Any] | None = None) -> None:
        self.engine.record(PROCESS, lead.id, activity, data, actor=lead.rep)
        self.changes += 1

    def update(self, lead: _Lead, data: Mapping[str, Any]) -> None:
        self.engine.update(PROCESS, lead.id, data, actor=lead.rep)
        self.changes += 1

    def lose(self, lead: _Lead, reason: str) -> None:
        self.fire(lead, "lose", {"lost_reason": reason})

    # -- the story of one lead -------------------------------------------------------------------

    def run(self, until: timedelta) -> datetime:
        self.at(timedelta(0), "arrive")
        horizon: datetime | None = None
        span = max(1, int(until.total_seconds() // 3600))
        told = -1
        while self.queue:
            event = heapq.heappop(self.queue)
            if horizon is not None and event.at > horizon:
                break
            self.clock.set(event.at)
            if horizon is not None and self.progress is not None:
                done = min(span - 1, int((event.at - horizon + until).total_seconds() // 3600))
                if done > told:
                    told = done
                    self.progress("follow-up", done, span)
            if event.action == "arrive":
                self.arrive()
                if self.progress is not None:
                    self.progress("arrivals", self.arrived, self.total)
                if self.arrived == self.total:
                    horizon = event.at + until
                else:
                    self.at(self.minutes(1, 12), "arrive")
                continue
            assert event.lead is not None
            lead = event.lead
            instance = self.engine.get(PROCESS, lead.id)
            if instance.closed:
                continue  # an SLA closed it meanwhile (lost for no response)
            lead.rep = instance.owner or lead.rep  # SLAs may have reassigned it
            hours = self.working.get(lead.rep)
            if hours is not None and not hours.is_open(event.at):
                # after hours: the rep does it in the next working hour
                opens = hours.next_open(event.at)
                self.seq += 1
                later = opens + self.minutes(0, 50)
                heapq.heappush(self.queue, _Event(later, self.seq, event.action, lead))
                continue
            getattr(self, event.action)(lead)
        if self.progress is not None:
            self.progress("follow-up", span, span)
        return self.clock.now()

    def arrive(self) -> None:
        self.arrived += 1
        rng = self.rng
        segment = rng.choices(SEGMENTS, weights=(6, 3, 1))[0]
        fate = rng.choices([f for f, _ in FATES], weights=[w for _, w in FATES])[0]
        lead = _Lead(
            id=f"lead-{self.arrived:04d}",
            name=rng.choice(FIRST_NAMES),
            company=rng.choice(COMPANIES),
            segment=segment,
            score=rng.randint(40, 99),
            budget=round(rng.randint(*BUDGETS[segment]), -3),
            fate=fate,
            reachable=0.1 if fate == "ghost" else rng.uniform(0.35, 0.8),
            rep="",
            patience=rng.choice((3, 4, 5, 5)),
            forgets_budget=rng.random() < 0.4,
        )
        self.leads.append(lead)
        domain = lead.company.lower().replace(" ", "")
        data = {
            "email": f"{lead.name.lower()}@{domain}.example",
            "name": lead.name,
            "company": lead.company,
            "segment": segment,
            "score": lead.score,
        }
        instance = self.engine.start(PROCESS, lead.id, data, actor="web-form")
        lead.rep = instance.owner or "nobody"  # the process's routing rules pick the SDR
        self.changes += 1
        self.say(
            lead,
            "arrive",
            f"{lead.name} from {lead.company} ({segment}, score {lead.score}) fills in the form; "
            f"assigned to {lead.rep}",
        )
        self.at(self.minutes(1, 15), "call", lead)

    def call(self, lead: _Lead) -> None:
        lead.calls += 1
        if lead.fate == "bad_data":
            self.record(lead, "call", {"outcome": "wrong_number"})
            self.lose(lead, "bad_data")
            self.say(
                lead,
                "bad_data",
                f"{lead.rep}: the number is wrong and the email bounces: lost (bad_data)",
            )
            return
        if self.rng.random() < lead.reachable:
            self.record(lead, "call", {"outcome": "connected", "attempt": lead.calls})
            self.fire(lead, "contact")
            self.say(
                lead, "contact", f"{lead.rep} reaches {lead.name} on call {lead.calls}: contacted"
            )
            self.at(self.hours(0.5, 30), "qualification", lead)
            return
        self.record(lead, "call", {"outcome": "no_answer", "attempt": lead.calls})
        self.record(lead, "email", {"template": "follow-up-email"})
        if lead.calls >= lead.patience:
            try:
                self.lose(lead, "no_response")
            except GuardFailed as exc:
                # The process wants more attempts first: the rep keeps calling.
                self.blocked += 1
                unmet = ", ".join(c.id for c in exc.unmet)
                self.say(
                    lead,
                    "blocked",
                    f"{lead.rep} tries to give up after {lead.calls} calls; blocked by {unmet}: "
                    f"{exc.unmet[0].message}. Calls again later",
                )
            else:
                self.say(
                    lead, "no_response", f"no answer after {lead.calls} calls: lost (no_response)"
                )
                return
        self.at(self.hours(3, 30), "call", lead)

    def qualification(self, lead: _Lead) -> None:
        self.record(lead, "call", {"outcome": "qualification"})
        self.record(lead, "email", {"template": "recap-email"})
        if lead.fate == "no_budget":
            self.update(lead, {"budget": 0})
            self.lose(lead, "no_budget")
            self.say(lead, "no_budget", f"{lead.name} has no budget this year: lost (no_budget)")
            return
        learned: dict[str, Any] = {"decision_maker": f"{lead.name}'s VP at {lead.company}"}
        if not lead.forgets_budget:
            learned["budget"] = lead.budget
        for _ in range(3):
            try:
                self.fire(lead, "qualify", learned)
            except GuardFailed as exc:
                self.blocked += 1
                if not self.remedy(lead, exc, learned):
                    return
                continue
            self.say(
                lead, "qualify", f"{lead.rep} qualifies {lead.company} (budget {lead.budget:,})"
            )
            self.at(self.hours(2, 24), "demo_meeting", lead)
            return

    def remedy(self, lead: _Lead, exc: GuardFailed, learned: dict[str, Any]) -> bool:
        """What a rep does about unmet criteria; False when the lead cannot go on."""
        for criterion in exc.unmet:
            if criterion.kind == "field_set" and "budget" in criterion.seen:
                self.say(
                    lead,
                    "budget",
                    f"qualify blocked: {criterion.message}. {lead.rep} asks and logs it",
                )
                self.update(lead, {"budget": lead.budget})
            elif criterion.kind == "field_set":
                learned.update({name: learned.get(name, "unknown") for name in criterion.seen})
            else:
                self.lose(lead, "not_a_fit")
                self.say(
                    lead, "not_a_fit", f"qualify blocked: {criterion.message}: lost (not_a_fit)"
                )
                return False
        return True

    def demo_meeting(self, lead: _Lead) -> None:
        self.record(lead, "meeting", {"with": "account executive"})
        self.at(self.hours(12, 48), "decision", lead)

    def decision(self, lead: _Lead) -> None:
        if lead.fate == "competitor" or self.rng.random() < 0.2:
            self.lose(lead, "competitor")
            self.say(lead, "competitor", f"{lead.company} picks a competitor: lost (competitor)")
            return
        self.fire(lead, "win")
        self.say(lead, "win", f"{lead.company} is handed to sales: won")


def _pipeline(definition: ProcessDefinition, stages: Counter[str]) -> Table:
    total = sum(stages.values())
    table = Table(title="Pipeline by stage", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("stage")
    table.add_column("leads", justify="right")
    table.add_column("share", justify="right")
    table.add_column("probability", justify="right")
    table.add_column("weighted", justify="right")
    weighted_total = 0.0
    for name, stage in definition.stages.items():
        count = stages.get(name, 0)
        probability = stage.probability
        weighted = count * probability / 100 if probability is not None else None
        weighted_total += weighted or 0.0
        label = name + (" (closed)" if stage.closed else "")
        table.add_row(
            Text(label),
            str(count),
            percent(count / total) if total else "-",
            percent(probability / 100) if probability is not None else "-",
            f"{weighted:.1f}" if weighted is not None else "-",
        )
    table.add_section()
    table.add_row("total", str(total), "100%" if total else "-", "", f"{weighted_total:.1f}")
    return table


def _losses(reasons: Counter[str]) -> Table:
    total = sum(reasons.values())
    table = Table(title="Losses by reason", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("reason")
    table.add_column("leads", justify="right")
    table.add_column("share", justify="right")
    for reason, count in reasons.most_common():
        table.add_row(Text(reason), str(count), percent(count / total))
    return table


def _sla(board: SlaBoard) -> Table:
    """The SLA board: how each rep did on speed to call and the call cadence."""
    table = Table(title="SLAs by owner", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("owner", "SLA", "met", "breached", "pending", "median response", "reassigned"):
        table.add_column(name, justify="left" if name in ("owner", "SLA") else "right")
    for row in board.rows:
        median = row.median_response
        table.add_row(
            row.owner or "(nobody)",
            row.policy,
            str(row.met),
            str(row.breached),
            str(row.pending),
            duration(median),
            str(row.reassigned),
        )
    return table


class _ProgressBar:
    """A rich bar on stderr for the demo's two phases (gone when done)."""

    def __init__(self) -> None:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TimeElapsedColumn(),
        )
        self.bar = Progress(*columns, console=Console(file=sys.stderr), transient=True)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> DemoProgress:
        self.bar.start()
        return self.update

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def update(self, phase: str, done: int, total: int) -> None:
        task = self.tasks.get(phase)
        if task is None:
            unit = "leads" if phase == "arrivals" else "simulated hours"
            task = self.tasks[phase] = self.bar.add_task(phase, total=total, unit=unit)
        self.bar.update(task, completed=done, total=total)


def run_demo(console: Console, *, leads: int = 40, seed: int = 1, db: str | None = None) -> None:
    """Simulate ``leads`` inbound leads and print a narrative and the resulting pipeline."""
    try:
        definition = load_library(PROCESS)
    except LeadflowError as exc:
        raise DemoError(f"the shipped '{PROCESS}' process cannot be loaded: {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="leadflow-demo-", ignore_cleanup_errors=True) as tmp:
        url = db or f"sqlite:///{tmp}/demo.db"
        clock = ManualClock(START)
        started = time.perf_counter()
        with Engine(url, clock=clock) as engine:
            engine.deploy(definition)
            simulation = _Simulation(engine, clock, random.Random(seed), console, leads)
            simulation.keep_hours(definition)
            console.print(
                Text(
                    f"Simulating {leads} inbound leads for {definition.title or PROCESS} "
                    f"({PROCESS} v{definition.version}), seed {seed}",
                    style="bold",
                )
            )
            try:
                with _ProgressBar() as bar:
                    simulation.progress = bar
                    end = simulation.run(until=timedelta(days=3))
            except DuplicateLead as exc:
                raise DemoError(
                    f"{exc}: this database already holds the demo's leads; "
                    "use a fresh --db or leave --db out"
                ) from exc
            board = sla_board(engine, PROCESS)
            stages: Counter[str] = Counter()
            reasons: Counter[str] = Counter()
            for lead in simulation.leads:
                instance = engine.get(PROCESS, lead.id)
                stages[instance.stage] += 1
                if instance.closed == "lost":
                    reasons[str(instance.data.get("lost_reason", "unknown"))] += 1
        elapsed = time.perf_counter() - started
    console.print(Text("...", style="dim"))
    console.print()
    console.print(
        Text(
            f"Simulated {START:%a %d %b %Y %H:%M} -> {end:%a %d %b %Y %H:%M} UTC "
            f"({duration((end - START).total_seconds())})"
        )
    )
    console.print(
        Text(
            f"{simulation.arrived} leads, {simulation.changes} changes, "
            f"{simulation.blocked} blocked by guards, {elapsed:.1f}s of real time"
        )
    )
    console.print(Text(f"Database: {db}" if db else "Database: temporary, removed", style="dim"))
    console.print()
    console.print(_pipeline(definition, stages))
    if reasons:
        console.print()
        console.print(_losses(reasons))
    if board.rows:
        console.print()
        console.print(_sla(board))


def serve_demo(
    console: Console, *, leads: int, seed: int, db: str | None, host: str, port: int
) -> None:
    """Run the demo into a database that outlives it, then serve the web app on it: prints the
    URL and an admin token to sign in with."""
    from leadflow.cli._serve import start_service
    from leadflow.engine.store import TokenStore

    with tempfile.TemporaryDirectory(prefix="leadflow-demo-", ignore_cleanup_errors=True) as tmp:
        url = db or f"sqlite:///{tmp}/demo.db"
        run_demo(console, leads=leads, seed=seed, db=url)
        with Engine(url) as engine:
            name = f"demo-{secrets.token_hex(3)}"
            token, _ = TokenStore(engine.store).create(name, "admin", at=datetime.now(UTC))
        console.print()
        console.print(Text(f"Open http://{host}:{port}/app/ and sign in with this token:"))
        console.print(token, soft_wrap=True, highlight=False)
        start_service(url, None, host, port, 1)
