"""Journeys: which process a new lead starts in, chosen from its fields (``journeys.yaml``).

A deployment declares an ordered list of rules; the first rule whose ``when`` (CEL over
``lead``, the new lead's data) holds names the process. A rule without ``when`` matches every
lead and may only be the last one::

    journeys:
      - {when: 'lead.segment == "hospital"', process: hospital-journey}
      - {when: 'lead.segment == "school"', process: school-journey}
      - {process: inbound-lead}

:func:`load_journeys` reports every problem with ``file:line:col``, like definitions do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from pydantic import Field, ValidationError

from ._base import PROCESS_PATTERN, _Model
from ._errors import DefinitionError, Problem
from ._loader import _clean_path, _value_problem
from ._source import _is_one_line
from .expressions import CEL_VARIABLES, _tokens, check_expression
from .suggest import allowed, did_you_mean
from .yaml_source import Document, SourceError, parse_document

__all__ = ["JourneyRule", "Journeys", "check_journeys", "load_journeys"]

Path = tuple[str | int, ...]


class JourneyRule(_Model):
    """One rule: new leads whose data satisfy ``when`` start in ``process``."""

    when: str | None = None
    """A CEL expression over ``lead`` (the new lead's data); absent: every lead (the default,
    only allowed as the last rule). An expression that errors (an unset field) does not match."""
    process: str = Field(pattern=PROCESS_PATTERN, max_length=64)
    """The deployed process the lead starts in (its latest version, or a canary's)."""


class Journeys(_Model):
    """The ordered journey rules of a deployment: the first that matches a new lead wins."""

    rules: tuple[JourneyRule, ...] = Field(alias="journeys")
    """The rules, in order (``journeys:`` in YAML); at least one."""


@dataclass(frozen=True, slots=True)
class _Finding:
    message: str
    code: str
    path: Path
    offset: int | None = None


_ONLY_LEAD = " (a journey rule reads only lead, the new lead's data)"


def _where(path: Path) -> str:
    if len(path) >= 2 and path[0] == "journeys" and isinstance(path[1], int):
        return f"journey rule {path[1] + 1}"
    return "journeys"


def _expression_findings(index: int, when: str) -> list[_Finding]:
    path: Path = ("journeys", index, "when")
    where = _where(path)
    program, issues = check_expression(when, set(), allow_unknown_fields=True)
    found = [
        _Finding(
            f"{where}: {i.message.split(' (available:')[0]}{_ONLY_LEAD}", i.code, path, i.offset
        )
        if i.code == "cel-unknown-variable"
        else _Finding(f"{where}: {i.message}", i.code, path, i.offset)
        for i in issues
    ]
    if program is None:
        return found
    toks = _tokens(when)
    for name in program.variables():
        if name == "lead" or name not in CEL_VARIABLES:
            continue
        offset = next(
            (
                off
                for k, (kind, text, off) in enumerate(toks)
                if kind == "ident" and text == name and (k == 0 or toks[k - 1][1] != ".")
            ),
            0,
        )
        message = f"{where}: '{name}' is not known before the lead starts{_ONLY_LEAD}"
        found.append(_Finding(message, "cel-unknown-variable", path, offset))
    return found


def _findings(journeys: Journeys) -> list[_Finding]:
    if not journeys.rules:
        message = (
            "journeys: needs at least one rule ({when: <CEL over lead>, process: <name>}; "
            "the last may leave out when)"
        )
        return [_Finding(message, "no-journey-rules", ("journeys",))]
    found: list[_Finding] = []
    last = len(journeys.rules) - 1
    for index, rule in enumerate(journeys.rules):
        if rule.when is None and index != last:
            message = (
                f"journey rule {index + 1}: a rule without 'when' matches every lead, so it must "
                f"be the last rule (the rules after it could never match)"
            )
            found.append(_Finding(message, "default-not-last", ("journeys", index)))
        if rule.when is not None:
            found.extend(_expression_findings(index, rule.when))
    return found


def check_journeys(journeys: Journeys) -> Journeys:
    """Run the checks :func:`load_journeys` runs on a model built in Python; return it, or raise
    :class:`DefinitionError` (the problems then carry no position)."""
    found = _findings(journeys)
    if found:
        raise DefinitionError([Problem(f.message, f.code, "<journeys>") for f in found])
    return journeys


def load_journeys(source: str | os.PathLike[str], *, file: str | None = None) -> Journeys:
    """Load journey rules from a path, or from YAML/JSON text (read as ``load_definition``
    reads its source). Raises :class:`DefinitionError` carrying every problem, located."""
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and _is_one_line(source) and os.path.isfile(source)
    ):
        name = file or str(source)
        try:
            raw = FsPath(source).read_bytes()
        except OSError as exc:
            problem = Problem(f"cannot read the file: {exc.strerror}", "unreadable-file", name)
            raise DefinitionError([problem]) from exc
        return _load(raw, name)
    if _is_one_line(source) and source.strip() and ":" not in source:
        raise DefinitionError([Problem("no such file", "unreadable-file", file or source)])
    return _load(source, file or "<string>")


def _load(text: str | bytes, file: str) -> Journeys:
    try:
        doc = parse_document(text, file)
    except SourceError as exc:
        raise DefinitionError(exc.problems) from None
    if not isinstance(doc.data, dict):
        message = "a journeys document is a mapping with one key, journeys: a list of rules"
        raise DefinitionError([doc.problem((), message, "not-a-mapping")])
    try:
        journeys = Journeys.model_validate(doc.data, by_alias=True, by_name=False)
    except ValidationError as exc:
        problems = [_problem(err, doc) for err in exc.errors()]
        raise DefinitionError(dict.fromkeys(problems)) from None
    found = _findings(journeys)
    if found:
        raise DefinitionError([_locate(f, doc) for f in found])
    return journeys


def _locate(finding: _Finding, doc: Document) -> Problem:
    if finding.offset is not None:
        line, column = doc.offset_position(finding.path, finding.offset)
    else:
        line, column = doc.position(finding.path)
    return Problem(finding.message, finding.code, doc.file, line, column)


def _problem(err: Any, doc: Document) -> Problem:
    """One pydantic error as a located problem (the wording of definitions' loader)."""
    path, _ = _clean_path(tuple(err["loc"]), doc.data)
    kind = err["type"]
    where = _where(path)
    name = path[-1] if path and isinstance(path[-1], str) else ""
    if kind == "missing":
        return doc.problem(path[:-1], f"{where}: missing required key '{name}'", "missing-key")
    if kind == "extra_forbidden":
        model = JourneyRule if len(path) >= 3 else Journeys
        keys = [f.alias or key for key, f in model.model_fields.items()]
        message = f"{where}: unknown key '{name}'{did_you_mean(str(name), keys)}"
        return doc.problem(
            path, f"{message} (allowed: {allowed(keys, 20)})", "unknown-key", key=True
        )
    if kind == "string_pattern_mismatch":
        message = (
            f"{where}: {err.get('input')!r} is not a valid process name; use lower-case words "
            "joined by '-' or '_' (inbound-lead)"
        )
        return doc.problem(path, message, "invalid-name")
    return _value_problem(kind, err, path, doc, where, str(name))
