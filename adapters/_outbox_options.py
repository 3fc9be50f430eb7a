"""The dispatcher's options (the ``[dispatch]`` table) and its retry policy.

Backoff is exponential with full jitter (AWS's "Exponential Backoff And Jitter"): before attempt
``n + 1`` the dispatcher waits a uniformly random time in ``[0, min(cap, base * 2**(n - 1))]``,
never less than the ``retry_after`` the API asked for.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from leadflow.adapters.base import AdapterConfigError

__all__ = ["DispatchOptions", "backoff_seconds"]


@dataclass(frozen=True, slots=True)
class DispatchOptions:
    """How the outbox dispatcher works; every field can be set in the ``[dispatch]`` table."""

    concurrency: int = 8
    """Threads delivering batches of different leads in parallel (1: deliver in the caller)."""
    batch_size: int = 200
    """Deliveries claimed (leased) per round; also the most that a crash can send twice."""
    fanout_batch: int = 1000
    """Outbox events fanned out into deliveries per transaction."""
    lease: float = 60.0
    """Seconds a claim is held; a dispatcher that dies loses its claims after this long."""
    base: float = 1.0
    """Seconds: the backoff ceiling before the second attempt (doubling after each failure)."""
    cap: float = 3600.0
    """Seconds: the largest backoff ceiling."""
    max_attempts: int = 12
    """The retry budget: after this many failed attempts a delivery is dead."""
    block_on_dead: bool = False
    """Whether a dead delivery holds back the later events of its lead for its adapter."""
    poll_interval: float = 1.0
    """Seconds :meth:`Dispatcher.run` sleeps at most between looks at an idle outbox."""

    def __post_init__(self) -> None:
        for name, low, high in _RANGES:
            value = getattr(self, name)
            if not low <= value <= high:
                raise AdapterConfigError(
                    f"dispatch option '{name}' must be between {low} and {high}; got {value!r}"
                )
        if self.cap < self.base:
            raise AdapterConfigError(
                f"dispatch option 'cap' ({self.cap}) must not be below 'base' ({self.base})"
            )

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], source: str = "[dispatch]") -> DispatchOptions:
        """Options from a ``[dispatch]`` table; unknown keys and wrong types name the key."""
        kinds = {f.name: str(f.type) for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key not in kinds:
                raise AdapterConfigError(
                    f"{source}: unknown key '{key}'; allowed: {', '.join(sorted(kinds))}"
                )
            kind = kinds[key]
            if kind == "bool":
                ok = isinstance(value, bool)
            elif kind == "int":
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok:
                wanted = {"bool": "true or false", "int": "an integer"}.get(kind, "a number")
                raise AdapterConfigError(f"{source}: key '{key}' must be {wanted}; got {value!r}")
            values[key] = float(value) if kind == "float" else value
        try:
            return cls(**values)
        except AdapterConfigError as exc:
            raise AdapterConfigError(f"{source}: {exc}") from None


_RANGES = (
    ("concurrency", 1, 256),
    ("batch_size", 1, 10_000),
    ("fanout_batch", 1, 100_000),
    ("lease", 0.01, 86_400.0),
    ("base", 0.0, 86_400.0),
    ("cap", 0.0, 7 * 86_400.0),
    ("max_attempts", 1, 1000),
    ("poll_interval", 0.001, 3600.0),
)


def backoff_seconds(
    failures: int,
    options: DispatchOptions,
    rng: random.Random,
    retry_after: float | None = None,
) -> float:
    """Seconds to wait after the ``failures``-th failed attempt (full jitter, Retry-After wins
    when it asks for longer)."""
    ceiling = min(options.cap, options.base * 2.0 ** min(failures - 1, 64))
    delay = rng.uniform(0.0, ceiling)
    if retry_after is not None and retry_after > delay:
        delay = min(retry_after, 7 * 86_400.0)
    return delay
