"""Numbers as people read them, shared by the reports' pages, charts and the CLI."""

from __future__ import annotations

__all__ = ["fmt"]


def fmt(value: float | None, digits: int = 1) -> str:
    """A number for people: thousands separated, few decimals, ``-`` for None."""
    if value is None:
        return "-"
    if isinstance(value, int) or abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"
