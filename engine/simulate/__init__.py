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

from leadflow.engine.simulate._adjustments import Adjustment
from leadflow.engine.simulate._refusals import Refusal
from leadflow.engine.simulate._replay import ReplayDataError
from leadflow.engine.simulate._result import (
    MetricDelta,
    SimulationResult,
    SlaOutcome,
    StageTime,
    StepConversion,
    compare,
)
from leadflow.engine.simulate._run import simulate
from leadflow.engine.simulate._spec import (
    GeneratorSpec,
    ReplaySpec,
    SpecError,
    load_spec,
    parse_spec,
)

__all__ = [
    "Adjustment",
    "GeneratorSpec",
    "MetricDelta",
    "Refusal",
    "ReplayDataError",
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
