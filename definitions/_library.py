"""The processes shipped with leadflow (``definitions/library/*.yaml``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ._errors import DefinitionError, Problem
from ._loader import load_definition
from ._model import ProcessDefinition
from .suggest import did_you_mean

__all__ = ["library_names", "library_path", "load_library"]


def _root() -> Path:
    return Path(str(resources.files("leadflow.definitions") / "library"))


def library_names() -> tuple[str, ...]:
    """The names of the shipped processes, sorted (``inbound-lead``, ...)."""
    return tuple(sorted(p.stem for p in _root().glob("*.yaml")))


def library_path(name: str) -> Path:
    """The file of a shipped process; ``DefinitionError`` if there is none by that name."""
    path = _root() / f"{name}.yaml"
    if not path.is_file():
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


def load_library(name: str) -> ProcessDefinition:
    """Load a shipped process by name."""
    return load_definition(library_path(name), file=f"library/{name}.yaml")
