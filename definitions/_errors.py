"""The root of every error leadflow raises, and the definition errors.

The tree (engine errors live in :mod:`leadflow.engine`)::

    LeadflowError                      code: a stable, machine-readable string
    ├── DefinitionError (ValueError)   a definition failed to load; .problems lists every one
    └── (engine) ...                   see leadflow.engine._errors

``LeadflowError`` lives here, in the language package, because ``definitions`` may not import
``engine`` while both raise errors that a host wants to catch with one ``except``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DefinitionError", "LeadflowError", "Problem"]


class LeadflowError(Exception):
    """Base class of every error leadflow raises on purpose."""

    code: str = "leadflow-error"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a definition, with where it is."""

    message: str
    """A sentence saying what is wrong and what is allowed."""
    code: str
    """A stable kebab-case identifier of the kind of problem (``unknown-stage``)."""
    file: str = "<string>"
    """The file name, or ``<string>`` for text that came from no file."""
    line: int = 1
    """1-based line of the offending node."""
    column: int = 1
    """1-based column of the offending node."""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class DefinitionError(LeadflowError, ValueError):
    """A definition could not be loaded; ``problems`` holds every problem found, in file order."""

    code = "definition-invalid"

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(
            sorted(problems, key=lambda p: (p.file, p.line, p.column, p.message))
        )
        super().__init__("\n".join(str(p) for p in self.problems))
