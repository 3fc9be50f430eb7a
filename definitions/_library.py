"""The processes shipped with leadflow (``definitions/library/*.yaml``), found by name."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ._errors import DefinitionError, Problem
from .suggest import did_you_mean

__all__ = ["library_names", "library_path", "shipped_path"]


def _root() -> Path:
    return Path(str(resources.files("leadflow.definitions") / "library"))


def library_names() -> tuple[str, ...]:
    """The names of the shipped processes, sorted (``inbound-lead``, ...)."""
    return tuple(sorted(p.stem for p in _root().glob("*.yaml")))


def shipped_path(name: str) -> Path | None:
    """The file of the shipped process ``name`` (a bare name, no folder or suffix), or None."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    path = _root() / f"{name}.yaml"
    try:
        return path if path.is_file() else None
    except OSError:  # a name longer than the file system allows names nothing shipped
        return None


def library_path(name: str) -> Path:
    """The file of a shipped process; ``DefinitionError`` if there is none by that name."""
    path = shipped_path(name)
    if path is None:
        names = library_names()
        raise DefinitionError(
            [
                Problem(
                    f"no shipped process named '{name}'{did_you_mean(name, names)} "
                    f"(shipped: {', '.join(names)})",
                    "unknown-library-process",
                    "<library>",
                )
            ]
        )
    return path
