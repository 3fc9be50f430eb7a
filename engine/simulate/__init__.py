"""Simulation and backtests on simulated time, in a throwaway database.

Run a process definition against a replayed history (a CSV or JSONL file mapped by a
:class:`ReplaySpec`) or against generated leads worked by simulated reps (a
:class:`GeneratorSpec`), and read what the reports would say::

    from leadflow.engine.simulate import compare, load_spec, simulate

    spec = load_spec("examples/simulate/inbound-generator.yaml")
    before = simulate("definitions/library/inbound-lead.yaml", spec, seed=7)
    after = simulate("my-inbound-lead.yaml", spec, seed=7)
    for row in compare(before, after):
        print(row.metric, row.a, row.b, row.delta)

The same seed gives the same result; each generated lead draws from its own random stream,
so two definitions run on one seed meet the same leads behaving the same way. docs/simulate.md
explains the spec files and how events are played.
"""

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
    MetricDelta,
    SimulationResult,
    SlaOutcome,
    StageTime,
    StepConversion,
    collect,
    compare,
)
from leadflow.engine.simulate._spec import (
    GeneratorSpec,
    ReplaySpec,
    SpecError,
    load_spec,
    parse_spec,
    spec_problem,
)

__all__ = [
    "GeneratorSpec",
    "MetricDelta",
    "ReplaySpec",
    "SimulationResult",
    "SlaOutcome",
    "SpecError",
    "StageTime",
    "StepConversion",
    "compare",
    "load_spec",
    "parse_spec",
    "simulate",
]

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

    ``leads`` overrides a generator's lead count; ``progress`` is called with (leads started,
    leads in total) as the run goes. Raises :class:`SpecError` when the spec does not fit the
    definition, and the definition's own errors when it does not load.
    """
    if not isinstance(definition, ProcessDefinition):
        definition = load_definition(definition)
    agent: GeneratorAgent | ReplayAgent
    if isinstance(source, GeneratorSpec):
        _check_generator(source, definition)
        agent = GeneratorAgent(source, definition, seed, leads or source.leads)
        start = source.start
        kind = "generator"
    else:
        agent = ReplayAgent(source, definition)
        kind = "replay"
        start = datetime.min
    wall = time.perf_counter()
    clock = _Clock(start)
    with Engine(db, clock=clock) as engine:
        loop = Loop(engine, definition.process, _as_agent(agent), start, source.sweep_window)
        loop.progress = progress
        agent.begin(loop)
        if isinstance(agent, ReplayAgent):
            if agent.start is None or agent.end is None:
                message = "the file holds no dated lead to replay"
                raise SpecError([spec_problem(source, ("path",), message)])
            start, loop.end = agent.start, agent.end
        elif isinstance(source, GeneratorSpec):
            loop.end = agent.last_arrival + source.horizon
        clock.at = start
        engine.deploy(definition)
        stats = loop.run()
        end = loop.end
        clock.at = end
        figures = collect(engine, definition.process, end)
    refused = dict(agent.blocked if isinstance(agent, GeneratorAgent) else agent.refused)
    return SimulationResult(
        process=definition.process,
        version=definition.version,
        source=kind,
        seed=seed,
        leads=stats.started,
        started_at=start,
        ended_at=end,
        wall_seconds=time.perf_counter() - wall,
        refused={k: v for k, v in sorted(refused.items()) if v},
        changes=stats.ops,
        marks=stats.marks,
        **figures,
    )


def _as_agent(agent: GeneratorAgent | ReplayAgent) -> Agent:
    return agent
