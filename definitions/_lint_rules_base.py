"""What every lint rule shares: the rule record, the issue it yields, walks over the definition.

A rule is a small function ``(definition) -> Iterator[Issue]`` wrapped by :func:`rule`, which
gives it a stable code (``LF201``), a kebab-case name, a default severity and a title; its
docstring says what it finds. Issues carry a path into the definition's data (as the loader's
positions know it), so a finding in a file gets its ``file:line:col``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from ._model import CelCriterion, Criterion, ProcessDefinition

__all__ = [
    "CelSite",
    "CriterionSite",
    "Issue",
    "Path",
    "Rule",
    "Severity",
    "cel_sites",
    "criterion_sites",
    "rule",
]

Path = tuple[str | int, ...]
Severity = Literal["error", "warning", "info"]
Check = Callable[[ProcessDefinition], Iterator["Issue"]]


@dataclass(frozen=True, slots=True)
class Issue:
    """Something a rule found, at ``path`` into the definition's data."""

    path: Path
    message: str
    offset: int | None = None
    """For CEL expressions: the 0-based character offset inside the scalar at ``path``."""
    key: bool = False
    """Point at the mapping key that introduced ``path`` rather than at its value."""


@dataclass(frozen=True, slots=True)
class Rule:
    """A lint rule: its stable code and name, default severity, title and check function."""

    code: str
    """``LF`` and three digits; never reused for another rule."""
    name: str
    """A kebab-case name, accepted wherever the code is (suppressions)."""
    severity: Severity
    """``error``: certainly misbehaves at run time; ``warning``: probably wrong;
    ``info``: worth a look."""
    title: str
    """One line saying what the rule finds."""
    check: Check

    @property
    def anchor(self) -> str:
        """The anchor of the rule's section in ``docs/lint.md`` (``lf201-overlapping-...``)."""
        return f"{self.code.lower()}-{self.name}"

    @property
    def doc(self) -> str:
        """The rule's docstring: what it finds and why."""
        return " ".join((self.check.__doc__ or self.title).split())


def rule(code: str, name: str, severity: Severity, title: str) -> Callable[[Check], Rule]:
    """Make a check function a :class:`Rule`."""

    def wrap(check: Check) -> Rule:
        return Rule(code, name, severity, title, check)

    return wrap


@dataclass(frozen=True, slots=True)
class CriterionSite:
    """A criterion with where it is and what owns it."""

    path: Path
    owner: str
    """``stage 'qualified' exit criterion 'budget_known'`` or ``transition 'win' guard 'x'``."""
    criterion: Criterion
    stage: str | None
    """The stage whose exit criterion it is (None for guards)."""
    transition: int | None
    """The index of the transition whose guard it is (None for exit criteria)."""


def criterion_sites(d: ProcessDefinition) -> Iterator[CriterionSite]:
    """Every exit criterion and guard of the definition."""
    for name, stage in d.stages.items():
        for k, c in enumerate(stage.exit_criteria):
            owner = f"stage '{name}' exit criterion '{c.id}'"
            yield CriterionSite(("stages", name, "exit_criteria", k), owner, c, name, None)
    for i, t in enumerate(d.transitions):
        for k, c in enumerate(t.guard):
            owner = f"transition '{t.name}' guard '{c.id}'"
            yield CriterionSite(("transitions", i, "guard", k), owner, c, None, i)


@dataclass(frozen=True, slots=True)
class CelSite:
    """A CEL expression of the definition, with its path and a description of its owner."""

    path: Path
    owner: str
    expression: str


def cel_sites(d: ProcessDefinition) -> Iterator[CelSite]:
    """Every CEL expression: criteria and their ``when``, SLA conditions, routing rules, sharing
    rules."""
    for site in criterion_sites(d):
        c = site.criterion
        if isinstance(c, CelCriterion):
            yield CelSite((*site.path, "cel"), site.owner, c.cel)
        if c.when is not None:
            yield CelSite((*site.path, "when"), f"{site.owner} ('when')", c.when)
    for sid, sla in d.slas.items():
        if sla.pause_when is not None:
            yield CelSite(("slas", sid, "pause_when"), f"SLA '{sid}' pause_when", sla.pause_when)
        if sla.applies_when is not None:
            where = f"SLA '{sid}' applies_when"
            yield CelSite(("slas", sid, "applies_when"), where, sla.applies_when)
        for k, target in enumerate(sla.targets):
            if target.when is not None:
                where = f"SLA '{sid}' target rule '{target.label(k)}'"
                yield CelSite(("slas", sid, "targets", k, "when"), where, target.when)
        if sla.fulfilled_by is not None and sla.fulfilled_by.cel is not None:
            yield CelSite(
                ("slas", sid, "fulfilled_by", "cel"),
                f"SLA '{sid}' fulfilled_by",
                sla.fulfilled_by.cel,
            )
    for i, r in enumerate(d.routing):
        if r.when is not None:
            yield CelSite(("routing", i, "when"), f"routing rule {i + 1}", r.when)
    for i, rr in enumerate(d.reroute):
        if rr.when is not None:
            yield CelSite(("reroute", i, "when"), f"reroute rule {i + 1}", rr.when)
    if d.match_account is not None and d.match_account.when is not None:
        yield CelSite(("match_account", "when"), "match_account", d.match_account.when)
    for i, t in enumerate(d.transitions):
        if t.auto is not None:
            where = f"transition '{t.name}' auto"
            yield CelSite(("transitions", i, "auto", "when"), where, t.auto.when)
    for i, share in enumerate(d.access.sharing):
        yield CelSite(("access", "sharing", i, "when"), f"sharing rule {i + 1}", share.when)
