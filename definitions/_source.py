"""Where a definition's text comes from: a file, the text itself, or a shipped process by name.

Every place that takes a definition (``load_definition``, ``lint_source``, ``Engine.deploy``
and the CLI commands built on them) reads it through :func:`read_source`, so each accepts the
same three forms: a path, YAML/JSON text, or the name of a shipped process (``inbound-lead``).
A file of that name in the working directory wins over the shipped process.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from ._errors import DefinitionError, Problem
from ._library import library_names, shipped_path

__all__ = ["read_source"]


def _is_one_line(source: str) -> bool:
    return "\n" not in source and len(source) < 4096


def _missing(message: str, name: str, shown: str) -> DefinitionError:
    """A missing file, with a hint at the shipped processes when the name is close to one."""
    names = library_names()
    bare = os.path.basename(name)
    stem = Path(bare).stem if Path(bare).suffix in (".yaml", ".yml", ".json") else bare
    if stem in names:
        hint = f" (the shipped process '{stem}' is named without a folder or suffix: {stem})"
    elif bare == name and (close := difflib.get_close_matches(stem, names, n=1)):
        hint = f" (did you mean the shipped process '{close[0]}'?)"
    elif bare == name == stem:
        hint = f", nor a shipped process of that name ({', '.join(names)})"
    else:
        hint = ""
    return DefinitionError([Problem(f"{message}{hint}", "unreadable-file", shown)])


def read_source(source: str | os.PathLike[str], file: str | None = None) -> tuple[str | bytes, str]:
    """The definition's text and the name its problems show (``file`` overrides the name).

    A ``Path``, or a one-line string, is a file when one exists there; otherwise the name of a
    shipped process; otherwise (for a string without ``:``, which no YAML mapping lacks) a
    missing file. Anything else is the text itself. Raises :class:`DefinitionError`
    (``unreadable-file``) for a file that is missing or unreadable.
    """
    one_line = isinstance(source, str) and _is_one_line(source)
    if isinstance(source, os.PathLike) or one_line:
        path = os.fspath(source)
        if not os.path.exists(path) and (shipped := shipped_path(path.strip())) is not None:
            return shipped.read_bytes(), file or f"library/{path.strip()}.yaml"
        if isinstance(source, os.PathLike) or os.path.exists(path):
            name = file or path
            try:
                return Path(path).read_bytes(), name
            except FileNotFoundError as exc:
                raise _missing(f"cannot read the file: {exc.strerror}", path, name) from None
            except OSError as exc:
                raise DefinitionError(
                    [Problem(f"cannot read the file: {exc.strerror}", "unreadable-file", name)]
                ) from exc
    assert isinstance(source, str)
    if one_line and source.strip() and ":" not in source and not source.lstrip().startswith("{"):
        raise _missing("no such file", source, file or source)
    return source, file or "<string>"
