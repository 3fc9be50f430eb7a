"""Forecast inputs gathered in one pass, and the two forecasts (Markov flow, naive) over them.

``ForecastInput.gather`` reads the lead tracks once and keeps only aggregates fitted "as of"
``fit_at`` (nothing after it leaks into the fit): per open stage the exits by age and
destination and the censored visits (see :mod:`._report_hazard`), the open leads by (stage,
age) with their amounts, what the naive forecast needs per open lead (probability, amount,
expected close date), the won cycle times and the arrivals before ``fit_at``. For a backtest it
also keeps when and for how much each lead open at ``fit_at`` was won afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from leadflow.engine.reports._common import ProcessInfo, number
from leadflow.engine.reports._hazard import WON, Hazard, HazardData, propagate
from leadflow.engine.reports._scan import LeadTrack

__all__ = ["DAY", "ForecastInput", "actual_wins", "markov_forecast", "naive_forecast"]

DAY = 86400.0
Windows = list[tuple[float, float]]


def _timestamp(value: object) -> float | None:
    """A date or datetime field value (ISO text) as epoch seconds; None if unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if len(value) == 10:
        parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
    if parsed.tzinfo is None:
        return (parsed - datetime(1970, 1, 1)).total_seconds()
    return parsed.timestamp()


@dataclass(slots=True)
class ForecastInput:
    """Aggregates of history as of ``fit_at`` (epoch seconds), for both forecasts."""

    fit_at: float
    step: float
    arrival_window: float
    visits: dict[str, HazardData] = field(default_factory=dict)
    open_cells: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    naive_items: list[tuple[float, float | None, float, float, str]] = field(default_factory=list)
    """(started at, expected close from the close date field or None, p, p x amount, stage)."""
    cycle_total: float = 0.0
    cycle_count: int = 0
    arrivals: dict[str, list[float]] = field(default_factory=dict)
    first_start: float | None = None
    open_leads: int = 0
    open_value: float = 0.0
    wins_after: list[tuple[float, float]] = field(default_factory=list)

    def gather(self, tracks: Iterable[LeadTrack], info: ProcessInfo) -> ForecastInput:
        """Read every track once; returns self."""
        t0 = self.fit_at
        vf, cf = info.value_field, info.close_date_field
        for track in tracks:
            start = track.started_at
            if start > t0:
                continue
            if self.first_start is None or start < self.first_start:
                self.first_start = start
            current = track.visit_at(t0)
            for i in range(current + 1):
                stage = track.stages[i]
                if info.closed_kind(stage) is not None:
                    continue
                end = track.visit_end(i)
                data = self.visits.setdefault(stage, HazardData())
                if end is None or end > t0:
                    data.open(int((t0 - track.times[i]) // self.step))
                    continue
                nxt = track.stages[i + 1]
                kind = info.closed_kind(nxt)
                data.exit(int((end - track.times[i]) // self.step), kind or nxt)
            stage = track.stages[current]
            kind = info.closed_kind(stage)
            amount = number(track.field_at(vf, t0)) if vf else 0.0
            if start > t0 - self.arrival_window:
                first = track.stages[0]
                a = self.arrivals.setdefault(first, [0.0, 0.0])
                a[0] += 1
                a[1] += amount
            if kind == WON:
                self.cycle_total += track.times[current] - start
                self.cycle_count += 1
            if kind is not None:
                continue
            self._open_lead(track, stage, current, amount, info, cf)
        return self

    def _open_lead(
        self,
        track: LeadTrack,
        stage: str,
        current: int,
        amount: float,
        info: ProcessInfo,
        close_field: str | None,
    ) -> None:
        t0 = self.fit_at
        age = int((t0 - track.times[current]) // self.step)
        cell = self.open_cells.setdefault((stage, age), [0.0, 0.0])
        cell[0] += 1
        cell[1] += amount
        self.open_leads += 1
        self.open_value += amount
        p = info.probability(stage)
        close = _timestamp(track.field_at(close_field, t0)) if close_field else None
        self.naive_items.append((track.started_at, close, p, p * amount, stage))
        for j in range(current + 1, len(track.stages)):
            kind = info.closed_kind(track.stages[j])
            if kind is None:
                continue
            if kind == WON:
                won_at = track.times[j]
                value = number(track.field_at(info.value_field, won_at)) if info.value_field else 0
                self.wins_after.append((won_at, value))
            break

    @property
    def average_cycle(self) -> float | None:
        """Mean seconds from start to won of the leads won by ``fit_at``; None without any."""
        return self.cycle_total / self.cycle_count if self.cycle_count else None


def _window_of(windows: Windows, when: float) -> int | None:
    for k, (start, end) in enumerate(windows):
        if start <= when < end:
            return k
    return None


def markov_forecast(
    data: ForecastInput,
    windows: Windows,
    *,
    arrivals: bool = False,
    only: Collection[str] | None = None,
) -> list[tuple[float, float]]:
    """Expected (wins, value) per window from the fitted flow model.

    With ``only``, just the leads open now in those stages (no arrivals): the model is linear
    in its starting mass, so the parts for disjoint sets of stages add up to the whole.
    """
    hazards = {s: Hazard(v) for s, v in data.visits.items()}
    start = {k: (c, v) for k, (c, v) in data.open_cells.items() if only is None or k[0] in only}
    arrivals = arrivals and only is None
    horizon = windows[-1][1] - data.fit_at
    steps = max(1, math.ceil(horizon / data.step))
    per_step = None
    if arrivals and data.first_start is not None:
        span = min(data.arrival_window, data.fit_at - data.first_start)
        if span > 0:
            per = data.step / span
            per_step = {s: (c * per, v * per) for s, (c, v) in data.arrivals.items()}
    flows = propagate(hazards, start, steps, per_step)
    out = [[0.0, 0.0] for _ in windows]
    for k, (wins, value) in enumerate(flows):
        w = _window_of(windows, data.fit_at + (k + 0.5) * data.step)
        if w is not None:
            out[w][0] += wins
            out[w][1] += value
    return [(w, v) for w, v in out]


def naive_forecast(
    data: ForecastInput, windows: Windows, *, only: Collection[str] | None = None
) -> list[tuple[float, float]]:
    """Expected (wins, value) per window: stage probability x amount at the expected close.

    The expected close is the close date field when set, else the start plus the average time
    from start to won; a close already past (or unknown for lack of any won lead) falls in the
    first window, and one past the last window is left out. With ``only``, just the leads open
    now in those stages.
    """
    out = [[0.0, 0.0] for _ in windows]
    cycle = data.average_cycle
    for started, close, p, pv, stage in data.naive_items:
        if only is not None and stage not in only:
            continue
        expected = close if close is not None else started + cycle if cycle is not None else 0.0
        w = _window_of(windows, max(expected, data.fit_at))
        if w is not None:
            out[w][0] += p
            out[w][1] += pv
    return [(w, v) for w, v in out]


def actual_wins(data: ForecastInput, windows: Windows) -> list[tuple[float, float]]:
    """What the leads open at ``fit_at`` really won in each window (count, value)."""
    out = [[0.0, 0.0] for _ in windows]
    for won_at, value in data.wins_after:
        w = _window_of(windows, won_at)
        if w is not None:
            out[w][0] += 1
            out[w][1] += value
    return [(w, v) for w, v in out]
