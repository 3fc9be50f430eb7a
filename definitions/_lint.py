"""``leadflow lint``: warnings about definitions that load but are probably wrong.

Load-time checks refuse definitions that cannot run (unknown names, unreachable stages); lint
rules find what runs but misbehaves: comparisons of a field with a literal of another type,
conditions that never hold, transitions that are never taken, SLA marks that cannot act, teams
nobody routes to, access rules that leave a trigger or a field to no role. Each rule has a
stable code (``LF`` and three digits: ``LF0xx`` the lint section itself, ``LF1xx`` CEL,
``LF2xx`` stages and transitions, ``LF3xx`` SLAs, ``LF4xx`` teams, routing, calendars,
subscriptions and fields), a kebab-case name, a default severity and a section in ``docs/lint.md``.

A definition silences a code with a reason in its ``lint`` section (see :mod:`._lint_model`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import (
    _lint_rules_access,
    _lint_rules_cel,
    _lint_rules_flow,
    _lint_rules_routing,
    _lint_rules_sla,
    _lint_rules_sla_cycles,
    _lint_rules_sla_targets,
)
from ._errors import DefinitionError
from ._lint_model import LintSettings
from ._lint_rules_base import Issue, Path, Rule, Severity, rule
from ._loader import validate_data_document
from ._model import ProcessDefinition
from ._source import read_source
from .suggest import did_you_mean
from .yaml_source import Document, SourceError, parse_document

__all__ = [
    "RULES",
    "SEVERITIES",
    "LintFinding",
    "LintResult",
    "find_rule",
    "lint",
    "lint_source",
]

SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")
"""Severities from the least to the most severe."""


def _none(_: ProcessDefinition) -> Iterator[Issue]:
    return iter(())


_suppression_without_reason = rule(
    "LF001", "suppression-without-reason", "warning", "A lint suppression gives no reason"
)(_none)
_unknown_code = rule("LF002", "unknown-lint-code", "warning", "A lint suppression names no rule")(
    _none
)
_unused_suppression = rule(
    "LF003", "unused-suppression", "info", "A lint suppression matches no finding"
)(_none)

RULES: tuple[Rule, ...] = tuple(
    sorted(
        (
            _suppression_without_reason,
            _unknown_code,
            _unused_suppression,
            *_lint_rules_cel.RULES,
            *_lint_rules_flow.RULES,
            *_lint_rules_sla.RULES,
            *_lint_rules_sla_targets.RULES,
            *_lint_rules_sla_cycles.RULES,
            *_lint_rules_access.RULES,
            *_lint_rules_routing.RULES,
        ),
        key=lambda r: r.code,
    )
)
"""Every lint rule, in code order."""

_BY_KEY: dict[str, Rule] = {r.code.upper(): r for r in RULES} | {r.name: r for r in RULES}


def find_rule(code: str) -> Rule | None:
    """The rule with code (``LF201``, any case) or name (``shadowed-transition``), or None."""
    return _BY_KEY.get(code.strip().upper()) or _BY_KEY.get(code.strip().lower())


@dataclass(frozen=True, slots=True)
class LintFinding:
    """One thing lint found: which rule, how severe, what to do, and where."""

    code: str
    """The rule's stable code (``LF201``)."""
    name: str
    """The rule's kebab-case name (``shadowed-transition``)."""
    severity: Severity
    """``error``, ``warning`` or ``info``."""
    message: str
    """A sentence naming the ids involved and what to do."""
    path: Path = ()
    """Where in the definition's data (``("transitions", 2, "name")``)."""
    file: str | None = None
    """The file the definition came from (None when linted without its source)."""
    line: int | None = None
    """1-based line, when the source is known."""
    column: int | None = None
    """1-based column, when the source is known."""

    @property
    def doc(self) -> str:
        """The rule's section of the documentation (``docs/lint.md#lf201-...``)."""
        return f"docs/lint.md#{self.code.lower()}-{self.name}"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}: " if self.file else ""
        return f"{where}{self.code} [{self.severity}] {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping of the finding."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "name": self.name,
            "severity": self.severity,
            "message": self.message,
            "path": list(self.path),
            "doc": self.doc,
        }


def _finding(r: Rule, issue: Issue, doc: Document | None) -> LintFinding:
    if doc is None:
        return LintFinding(r.code, r.name, r.severity, issue.message, issue.path)
    if issue.offset is not None:
        line, column = doc.offset_position(issue.path, issue.offset)
    else:
        line, column = doc.position(issue.path, key=issue.key)
    return LintFinding(
        r.code, r.name, r.severity, issue.message, issue.path, doc.file, line, column
    )


def _settings_of(definition: ProcessDefinition) -> LintSettings:
    return definition.lint


def lint(
    definition: ProcessDefinition,
    source: Document | None = None,
    settings: LintSettings | None = None,
) -> list[LintFinding]:
    """Run every rule on ``definition``; return the findings its suppressions leave.

    ``source`` is the parsed document the definition came from (:func:`lint_source` passes
    it): findings then carry ``file:line:col``. ``settings`` are the definition's ``lint``
    section (read from the definition itself when it has one).
    """
    settings = settings if settings is not None else _settings_of(definition)
    found = [(r, issue) for r in RULES for issue in r.check(definition)]
    ignored: dict[str, int] = {}
    meta: list[tuple[Rule, Issue]] = []
    for k, s in enumerate(settings.ignore):
        path: Path = ("lint", "ignore", k)
        target = find_rule(s.code)
        if target is None:
            codes = [r.code for r in RULES] + [r.name for r in RULES]
            meta.append(
                (
                    _unknown_code,
                    Issue(
                        (*path, "code"),
                        f"lint ignore: '{s.code}' is not a lint code{did_you_mean(s.code, codes)}"
                        " (codes: LF001 ... see docs/lint.md)",
                    ),
                )
            )
            continue
        ignored.setdefault(target.code, k)
        if not (s.reason or "").strip():
            meta.append(
                (
                    _suppression_without_reason,
                    Issue(
                        path,
                        f"lint ignore of {target.code} ({target.name}) gives no reason; add "
                        "reason: '...' saying why the rule does not apply to this process",
                    ),
                )
            )
    matched = {r.code for r, _ in found if r.code in ignored}
    for code, k in ignored.items():
        if code not in matched:
            meta.append(
                (
                    _unused_suppression,
                    Issue(
                        ("lint", "ignore", k),
                        f"lint ignore of {code} matches no finding; remove it",
                    ),
                )
            )
    kept = [(r, i) for r, i in found if r.code not in ignored] + meta
    findings = [_finding(r, issue, source) for r, issue in kept]
    order = {r.code: n for n, r in enumerate(RULES)}
    return sorted(findings, key=lambda f: (f.line or 0, f.column or 0, order[f.code], f.message))


@dataclass(frozen=True, slots=True)
class LintResult:
    """A definition loaded for lint, and what lint found in it."""

    definition: ProcessDefinition
    findings: list[LintFinding]
    file: str


def lint_source(source: str | os.PathLike[str], *, file: str | None = None) -> LintResult:
    """Load a definition (a path or YAML/JSON text, as ``load_definition`` takes) and lint it.

    Raises :class:`DefinitionError` when it does not load.
    """
    text, name = read_source(source, file)
    try:
        doc = parse_document(text, name, collect=True)
    except SourceError as exc:
        raise DefinitionError(exc.problems) from None
    definition = validate_data_document(doc)
    settings = _settings_of(definition)
    return LintResult(definition, lint(definition, doc, settings), name)
