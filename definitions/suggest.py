"""Did-you-mean hints for misspelled names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["allowed", "did_you_mean"]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a candidate is close to ``name``, else an empty string."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def allowed(candidates: Iterable[str], limit: int = 12) -> str:
    """``a, b, c`` (shortened with ``...`` after ``limit`` names)."""
    names = list(candidates)
    shown = ", ".join(names[:limit])
    return shown + (", ..." if len(names) > limit else "")
