"""The installed version of leadflow, cheap to ask for (no engine import)."""

from __future__ import annotations

from importlib import metadata

__all__ = ["version"]


def version() -> str:
    """The installed distribution's version, or why there is none."""
    try:
        return metadata.version("leadflow")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"
