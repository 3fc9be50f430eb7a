"""What the definition refused during a simulation, and why: counts by change and error code,
with one example message each, so that "1,000 refused changes" comes with its reasons."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

__all__ = ["Refusal", "Refusals"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Changes of one kind refused for one reason."""

    change: str
    """The change: ``start``, ``fire <trigger>``, ``record <type>``, ``no path a -> b``."""
    code: str
    """The error's code (``invalid-data``, ``guard-failed``, ...; ``no-path`` for a replay row
    whose stage the definition cannot reach)."""
    count: int
    example: str
    """The message of the first such refusal, with its lead id."""


class Refusals:
    """Collects refusals as the simulation runs."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._examples: dict[tuple[str, str], str] = {}

    def add(self, change: str, lead_id: str, error: BaseException | str) -> None:
        """Count one refusal of ``change`` on ``lead_id`` (an error, or a message: no-path)."""
        if isinstance(error, str):
            code, message = "no-path", error
        else:
            code = str(getattr(error, "code", type(error).__name__))
            message = " ".join(str(error).split())
        key = (change, code)
        self._counts[key] += 1
        self._examples.setdefault(key, f"{lead_id}: {message}")

    def by_change(self) -> dict[str, int]:
        """Refusals per change, whatever the reason."""
        out: Counter[str] = Counter()
        for (change, _), count in self._counts.items():
            out[change] += count
        return dict(sorted(out.items()))

    def rows(self) -> tuple[Refusal, ...]:
        """Every (change, reason), most frequent first."""
        ordered = sorted(self._counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return tuple(Refusal(c, code, n, self._examples[(c, code)]) for (c, code), n in ordered)
