"""One simulation run: :func:`simulate` (see the package docstring)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime

from leadflow.definitions import ProcessDefinition, load_definition
from leadflow.engine._engine import Engine
from leadflow.engine.simulate._generator import GeneratorAgent
from leadflow.engine.simulate._loop import Agent, Loop
from leadflow.engine.simulate._replay import ReplayAgent
from leadflow.engine.simulate._result import (
    SimulationResult,
    collect,
)
from leadflow.engine.simulate._spec import (
    GeneratorSpec,
    ReplaySpec,
    SpecError,
    spec_problem,
)

__all__ = ["Progress", "simulate"]

Progress = Callable[[int, int], None]


class _Clock:
    """The simulation's notion of now, for the few calls that take no ``at`` (deploy)."""

    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


def _check_generator(spec: GeneratorSpec, definition: ProcessDefinition) -> None:
    problems = []
    stages = ", ".join(definition.stages)
    triggers = sorted({t.name for t in definition.transitions})
    for name, behaviour in spec.stages.items():
        if name not in definition.stages:
            problems.append(spec_problem(spec, ("stages", name), f"not a stage ({stages})"))
        for k, outcome in enumerate([*behaviour.outcomes, behaviour.give_up]):
            while outcome is not None:
                if outcome.trigger not in triggers:
                    path = ("stages", name, "outcomes", k, "trigger")
                    message = f"'{outcome.trigger}' is not a trigger ({', '.join(triggers)})"
                    problems.append(spec_problem(spec, path, message))
                outcome = outcome.if_blocked
    for field in spec.data:
        if field not in definition.fields:
            message = f"'{field}' is not a field of {definition.process}"
            problems.append(spec_problem(spec, ("data", field), message))
    calendar = spec.arrivals.calendar
    if calendar is not None and calendar not in definition.calendars:
        message = f"'{calendar}' is not a calendar ({', '.join(definition.calendars) or 'none'})"
        problems.append(spec_problem(spec, ("arrivals", "calendar"), message))
    if problems:
        raise SpecError(problems)


def _make_agent(
    definition: ProcessDefinition,
    source: ReplaySpec | GeneratorSpec,
    seed: int,
    leads: int | None,
) -> tuple[GeneratorAgent | ReplayAgent, datetime, str]:
    """The agent that plays ``source``, the time the run starts at, and the kind of source."""
    if isinstance(source, GeneratorSpec):
        _check_generator(source, definition)
        agent = GeneratorAgent(source, definition, seed, leads or source.leads)
        return agent, source.start, "generator"
    return ReplayAgent(source, definition), datetime.min, "replay"


def _fix_span(
    agent: GeneratorAgent | ReplayAgent,
    source: ReplaySpec | GeneratorSpec,
    loop: Loop,
    start: datetime,
) -> datetime:
    """Set ``loop.end`` from the replayed dates or the last arrival; return the run's start."""
    if isinstance(agent, ReplayAgent):
        if agent.start is None or agent.end is None:
            message = "the file holds no dated lead to replay"
            raise SpecError([spec_problem(source, ("path",), message)])
        start, loop.end = agent.start, agent.end
    elif isinstance(source, GeneratorSpec):
        loop.end = agent.last_arrival + source.horizon
    return start


def simulate(
    definition: ProcessDefinition | str | os.PathLike[str],
    source: ReplaySpec | GeneratorSpec,
    *,
    seed: int = 1,
    db: str = "sqlite://",
    leads: int | None = None,
    progress: Progress | None = None,
) -> SimulationResult:
    """Run ``definition`` on ``source`` in the database ``db`` (default: a fresh in-memory one).

    A replay reads and checks all its rows before ``db`` is opened: bad rows raise
    :class:`ReplayDataError` (a :class:`SpecError`) and write nothing. ``leads`` overrides a
    generator's lead count; ``progress`` is called with (simulated hours
    done, simulated hours in the run) after each round of work: it never goes back and reaches
    the total only when the run is over. Raises :class:`SpecError` when the spec does not fit the
    definition, and the definition's own errors when it does not load.
    """
    if not isinstance(definition, ProcessDefinition):
        definition = load_definition(definition)
    agent, start, kind = _make_agent(definition, source, seed, leads)
    wall = time.perf_counter()
    if isinstance(agent, ReplayAgent):
        agent.read()  # every row is read and checked before the database is touched
    clock = _Clock(start)
    with Engine(db, clock=clock) as engine:
        loop = Loop(engine, definition.process, _as_agent(agent), start, source.sweep_window)
        loop.progress = progress
        agent.begin(loop)
        start = _fix_span(agent, source, loop, start)
        loop.begin = start
        clock.at = start
        engine.deploy(definition)
        stats = loop.run()
        end = loop.end
        clock.at = end
        figures = collect(engine, definition.process, end)
    refusals = agent.refusals
    return SimulationResult(
        process=definition.process,
        version=definition.version,
        source=kind,
        seed=seed,
        leads=stats.started,
        started_at=start,
        ended_at=end,
        wall_seconds=time.perf_counter() - wall,
        refused=refusals.by_change(),
        refusals=refusals.rows(),
        adjustments=agent.adjustments.rows() if isinstance(agent, ReplayAgent) else (),
        changes=stats.ops,
        marks=stats.marks,
        schedule_runs=stats.schedules,
        **figures,
    )


def _as_agent(agent: GeneratorAgent | ReplayAgent) -> Agent:
    return agent
