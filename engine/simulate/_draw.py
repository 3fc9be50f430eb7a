"""Random draws for simulations: one counter-based stream per lead, and the distributions.

Every lead draws from its own stream (``seed`` and the lead's number, mixed by SplitMix64), so
a lead behaves the same way whatever else happens in the run: two definitions compared on the
same seed see the same leads making the same calls, and only what the definitions change
differs. A stream is two integers, so 100,000 open leads cost no more memory than their ids
(a ``random.Random`` per lead would hold 2.5 KB of state each).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import timedelta
from statistics import NormalDist
from typing import TypeVar

__all__ = ["Stream", "choose", "exponential", "lognormal"]

_MASK = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_NORMAL = NormalDist()
T = TypeVar("T")


def _mix(z: int) -> int:
    """The SplitMix64 finaliser: a well-spread 64-bit value from any 64-bit input."""
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & _MASK
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB & _MASK
    return z ^ (z >> 31)


class Stream:
    """A deterministic stream of uniform numbers in (0, 1) for one ``(seed, key)`` pair."""

    __slots__ = ("_base", "_n")

    def __init__(self, seed: int, key: int) -> None:
        self._base = _mix((seed * _GAMMA + key * 0xD1B54A32D192ED03) & _MASK)
        self._n = 0

    def random(self) -> float:
        """The next number, strictly between 0 and 1."""
        self._n += 1
        value = _mix((self._base + self._n * _GAMMA) & _MASK)
        return ((value >> 11) + 0.5) / (1 << 53)


def exponential(u: float, mean: timedelta) -> timedelta:
    """The exponential distribution's quantile ``u`` (mean ``mean``)."""
    return mean * -math.log(1.0 - u)


def lognormal(u: float, median: timedelta, sigma: float) -> timedelta:
    """The log-normal distribution's quantile ``u`` (median ``median``, shape ``sigma``)."""
    return median * math.exp(sigma * _NORMAL.inv_cdf(u))


def choose(u: float, weights: Mapping[T, float] | Sequence[tuple[T, float]]) -> T:
    """The item whose share of the total weight contains ``u`` (items in the given order)."""
    pairs = list(weights.items()) if isinstance(weights, Mapping) else list(weights)
    total = sum(w for _, w in pairs)
    target = u * total
    for item, weight in pairs:
        target -= weight
        if target < 0:
            return item
    return pairs[-1][0]
