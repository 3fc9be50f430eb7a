"""The flow model behind the Markov forecast: per-stage exit hazards and their propagation.

A lead's path is a semi-Markov chain. Each open stage has, for every age in the stage (in steps
of ``step`` seconds, one day by default), the empirical probability of leaving during that step
and where to: the discrete hazard ``events[age][dest] / at_risk[age]``. Visits still open when
the model is fitted are right-censored: they count as at risk for the ages they have lived
through and never as an exit (Kaplan-Meier). Ages with fewer than ``MIN_SUPPORT`` visits at
risk share one pooled, memoryless tail hazard. ``won`` and ``lost`` absorb.

Expected counts are linear, so the open leads are propagated all at once as mass over
(stage, age) cells: one vector of counts and one of values (amounts). What is absorbed into
``won`` in each step is the expected number and value of wins in that step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["MIN_SUPPORT", "Hazard", "HazardData", "propagate"]

MIN_SUPPORT = 10
"""Ages with fewer visits at risk than this share the pooled tail hazard."""
MAX_AGE_STEPS = 400
"""The oldest age with a hazard of its own; older leads share the tail hazard."""
WON, LOST = "won", "lost"


@dataclass(slots=True)
class HazardData:
    """Observed visits of one stage: exits by age and destination, and censored ages."""

    events: dict[int, Counter[str]] = field(default_factory=dict)
    completed: Counter[int] = field(default_factory=Counter)
    censored: Counter[int] = field(default_factory=Counter)

    def exit(self, age: int, dest: str) -> None:
        """A visit that left at ``age`` (steps) for ``dest`` (a stage, ``won`` or ``lost``)."""
        self.events.setdefault(age, Counter())[dest] += 1
        self.completed[age] += 1

    def open(self, age: int) -> None:
        """A visit still going on at fitting time, ``age`` steps old."""
        self.censored[age] += 1


class Hazard:
    """Exit probabilities per age step of one stage, fitted from :class:`HazardData`."""

    __slots__ = ("by_age", "cap", "tail")

    def __init__(self, data: HazardData) -> None:
        top = max([*data.completed, *data.censored, -1]) + 1
        at_risk = [0] * (top + 1)
        completed_ge = 0
        censored_gt = 0
        for age in range(top, -1, -1):
            completed_ge += data.completed.get(age, 0)
            at_risk[age] = completed_ge + censored_gt
            censored_gt += data.censored.get(age, 0)
        cap = 0
        while cap < min(top, MAX_AGE_STEPS) and at_risk[cap] >= MIN_SUPPORT:
            cap += 1
        self.cap = cap
        self.by_age: list[tuple[float, tuple[tuple[str, float], ...]]] = []
        for age in range(cap):
            counts = data.events.get(age, Counter())
            n = at_risk[age]
            dests = tuple((d, c / n) for d, c in counts.items())
            self.by_age.append((sum(c for c in counts.values()) / n, dests))
        self.tail = self._pooled(data, at_risk, cap) or self._pooled(data, at_risk, 0)

    @staticmethod
    def _pooled(
        data: HazardData, at_risk: list[int], start: int
    ) -> tuple[float, tuple[tuple[str, float], ...]] | None:
        exposure = sum(at_risk[start:])
        if exposure == 0:
            return None
        counts: Counter[str] = Counter()
        for age, c in data.events.items():
            if age >= start:
                counts.update(c)
        dests = tuple((d, n / exposure) for d, n in counts.items())
        return sum(counts.values()) / exposure, dests

    def at(self, age: int) -> tuple[float, tuple[tuple[str, float], ...]]:
        """(probability of leaving during this step, ((dest, probability), ...)) at ``age``."""
        if age < self.cap:
            return self.by_age[age]
        return self.tail or (0.0, ())


def _step_stage(
    h: Hazard,
    m: list[float],
    mv: list[float],
    won: list[float],
    entering: dict[str, list[float]],
) -> tuple[list[float], list[float]]:
    """One step of one stage's (count, value) by age: exits add to ``won`` or ``entering``."""
    cap = h.cap
    nm = [0.0] * (cap + 1)
    nv = [0.0] * (cap + 1)
    for age in range(cap + 1):
        x = m[age]
        if x == 0.0:
            continue
        xv = mv[age]
        total, dests = h.at(age)
        for dest, p in dests:
            if dest == WON:
                won[0] += x * p
                won[1] += xv * p
            elif dest != LOST:
                e = entering.setdefault(dest, [0.0, 0.0])
                e[0] += x * p
                e[1] += xv * p
        stay = 1.0 - total
        nxt = age + 1 if age < cap else cap
        nm[nxt] += x * stay
        nv[nxt] += xv * stay
    return nm, nv


def propagate(
    hazards: Mapping[str, Hazard],
    start: Mapping[tuple[str, int], tuple[float, float]],
    steps: int,
    arrivals: Mapping[str, tuple[float, float]] | None = None,
) -> list[tuple[float, float]]:
    """Expected (wins, won value) in each of ``steps`` steps.

    ``start`` is the mass at the first step, ``(stage, age) -> (count, value)``; ``arrivals``
    adds ``stage -> (count, value)`` of new leads at age 0 at every step.
    """
    stages = sorted(set(hazards) | {s for s, _ in start} | set(arrivals or {}))
    empty = Hazard(HazardData())
    hz = {s: hazards.get(s, empty) for s in stages}
    count = {s: [0.0] * (hz[s].cap + 1) for s in stages}
    value = {s: [0.0] * (hz[s].cap + 1) for s in stages}
    for (s, age), (c, v) in start.items():
        cell = min(age, hz[s].cap)
        count[s][cell] += c
        value[s][cell] += v
    out: list[tuple[float, float]] = []
    for _ in range(steps):
        won = [0.0, 0.0]
        entering: dict[str, list[float]] = {}
        for s in stages:
            count[s], value[s] = _step_stage(hz[s], count[s], value[s], won, entering)
        for s, (c, v) in (arrivals or {}).items():
            entering.setdefault(s, [0.0, 0.0])
            entering[s][0] += c
            entering[s][1] += v
        for s, (c, v) in entering.items():
            if s not in count:  # a stage only ever entered: nobody has left it yet
                hz[s] = empty
                count[s], value[s] = [0.0], [0.0]
                stages.append(s)
            count[s][0] += c
            value[s][0] += v
        out.append((won[0], won[1]))
    return out
