"""Structural checks that need the whole definition; they run on every load.

Each check is a small function that yields :class:`Finding` objects naming the offending ids;
:func:`run_checks` collects them all so one load reports every problem at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ._auto_loops import loop_witness
from ._model import (
    CelCriterion,
    ChecklistCriterion,
    Criterion,
    FieldSetCriterion,
    ProcessDefinition,
)
from .expressions import check_expression
from .suggest import allowed, did_you_mean

__all__ = ["CHECKS", "Finding", "run_checks"]

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Finding:
    """A problem found by a check, at a path into the definition's data."""

    path: Path
    message: str
    code: str
    offset: int | None = None
    """For expressions: the 0-based character offset inside the scalar at ``path``."""
    key: bool = False
    """Point at the key that introduced ``path`` rather than at its value."""


def check_one_initial_stage(d: ProcessDefinition) -> Iterator[Finding]:
    """Exactly one stage has ``initial: true``."""
    initial = [name for name, stage in d.stages.items() if stage.initial]
    if not initial:
        yield Finding(
            ("stages",),
            f"no stage is marked 'initial: true'; mark the stage new leads start in "
            f"(one of: {allowed(d.open_stages)})",
            "no-initial-stage",
            key=True,
        )
    for name in initial[1:]:
        yield Finding(
            ("stages", name, "initial"),
            f"stage '{name}': only one stage may be initial, and '{initial[0]}' already is",
            "several-initial-stages",
        )


def check_open_and_closed_stages(d: ProcessDefinition) -> Iterator[Finding]:
    """At least one closed stage exists (an open one is implied by the initial check)."""
    if not any(stage.closed for stage in d.stages.values()):
        yield Finding(
            ("stages",),
            "no stage is closed; mark the end stages with 'closed: won' or 'closed: lost'",
            "no-closed-stage",
            key=True,
        )


def check_transition_stages_exist(d: ProcessDefinition) -> Iterator[Finding]:
    """Every ``from`` and ``to`` names a declared stage (``"*"`` allowed in ``from``)."""
    for i, t in enumerate(d.transitions):
        for j, source in enumerate(t.sources):
            if source != "*" and source not in d.stages:
                path: Path = ("transitions", i, "from") + ((j,) if len(t.sources) > 1 else ())
                yield Finding(
                    path,
                    f"transition '{t.name}': unknown stage '{source}'"
                    f"{did_you_mean(source, d.stages)}",
                    "unknown-stage",
                )
        if "*" in t.sources and len(t.sources) > 1:
            yield Finding(
                ("transitions", i, "from"),
                f"transition '{t.name}': '*' already means every open stage; "
                "do not list other stages next to it",
                "star-with-stages",
            )
        if t.to not in d.stages:
            yield Finding(
                ("transitions", i, "to"),
                f"transition '{t.name}': unknown stage '{t.to}'{did_you_mean(t.to, d.stages)}",
                "unknown-stage",
            )


def _duplicates(ids: Iterator[str] | list[str]) -> Iterator[tuple[int, str]]:
    seen: set[str] = set()
    for index, item in enumerate(ids):
        if item in seen:
            yield index, item
        seen.add(item)


def check_unique_ids(d: ProcessDefinition) -> Iterator[Finding]:
    """Criterion and playbook ids are unique where declared; `requires` repeats no field."""
    for name, stage in d.stages.items():
        for key, ids, what in (
            ("playbook", [p.id for p in stage.playbook], "playbook item"),
            ("exit_criteria", [c.id for c in stage.exit_criteria], "exit criterion"),
        ):
            for k, item in _duplicates(ids):
                yield Finding(
                    ("stages", name, key, k, "id"),
                    f"stage '{name}': {what} id '{item}' is used twice; ids must be unique",
                    "duplicate-id",
                )
    for i, t in enumerate(d.transitions):
        for k, item in _duplicates([c.id for c in t.guard]):
            yield Finding(
                ("transitions", i, "guard", k, "id"),
                f"transition '{t.name}': guard id '{item}' is used twice; ids must be unique",
                "duplicate-id",
            )
        for k, item in _duplicates(list(t.requires)):
            yield Finding(
                ("transitions", i, "requires", k),
                f"transition '{t.name}': 'requires' names '{item}' twice",
                "duplicate-id",
            )


def _stage_refs_resolve(d: ProcessDefinition) -> bool:
    """Whether every ``from``/``to`` names a stage (graph checks would only add noise if not)."""
    return all(
        t.to in d.stages and all(s == "*" or s in d.stages for s in t.sources)
        for t in d.transitions
    )


def check_closed_stages_have_no_exits(d: ProcessDefinition) -> Iterator[Finding]:
    """Only transitions marked ``reopen: true`` leave a closed stage."""
    for i, t in enumerate(d.transitions):
        for j, source in enumerate(t.sources):
            stage = d.stages.get(source)
            if stage is not None and stage.closed and not t.reopen:
                yield Finding(
                    ("transitions", i, "from") + ((j,) if len(t.sources) > 1 else ()),
                    f"transition '{t.name}' leaves closed stage '{source}'; closed stages are "
                    "final unless the transition says 'reopen: true'",
                    "exit-from-closed-stage",
                )
        if t.reopen and not any(
            d.stages[s].closed for s in t.sources if s in d.stages and s != "*"
        ):
            yield Finding(
                ("transitions", i, "reopen"),
                f"transition '{t.name}' is marked 'reopen' but leaves no closed stage",
                "reopen-without-closed-stage",
            )


def _graph(d: ProcessDefinition) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in d.stages}
    for t in d.transitions:
        if t.to not in d.stages:
            continue
        for source in d.source_stages(t):
            if source in edges:
                edges[source].add(t.to)
    return edges


def _reach(edges: dict[str, set[str]], start: str) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for nxt in edges[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def check_every_stage_reachable(d: ProcessDefinition) -> Iterator[Finding]:
    """Every stage can be reached from the initial stage."""
    initial = [name for name, stage in d.stages.items() if stage.initial]
    if len(initial) != 1 or not _stage_refs_resolve(d):
        return
    reached = _reach(_graph(d), initial[0])
    for name in d.stages:
        if name not in reached:
            yield Finding(
                ("stages", name),
                f"stage '{name}' cannot be reached from the initial stage '{initial[0]}'; "
                "add a transition into it or remove it",
                "unreachable-stage",
                key=True,
            )


def check_every_open_stage_can_close(d: ProcessDefinition) -> Iterator[Finding]:
    """From every open stage some path leads to a closed stage (no dead ends)."""
    edges = _graph(d)
    closed = {name for name, stage in d.stages.items() if stage.closed}
    if not closed or not _stage_refs_resolve(d):
        return
    for name in d.open_stages:
        if not _reach(edges, name) & closed:
            yield Finding(
                ("stages", name),
                f"stage '{name}' is a dead end: no sequence of transitions leads from it to a "
                f"closed stage ({allowed(sorted(closed))})",
                "dead-end-stage",
                key=True,
            )


def _criteria(d: ProcessDefinition) -> Iterator[tuple[Path, str, Criterion, tuple[str, ...]]]:
    """(path, owner description, criterion, stages it is evaluated in) for every criterion."""
    for name, stage in d.stages.items():
        for k, c in enumerate(stage.exit_criteria):
            yield ("stages", name, "exit_criteria", k), f"stage '{name}'", c, (name,)
    for i, t in enumerate(d.transitions):
        for k, c in enumerate(t.guard):
            yield ("transitions", i, "guard", k), f"transition '{t.name}'", c, d.source_stages(t)


def check_field_references(d: ProcessDefinition) -> Iterator[Finding]:
    """``field_set`` and ``requires`` name declared fields (unless ``extra: allow``)."""
    if d.extra == "allow":
        return
    for path, owner, c, _ in _criteria(d):
        if isinstance(c, FieldSetCriterion) and c.field_set not in d.fields:
            yield Finding(
                (*path, "field_set"),
                f"{owner} criterion '{c.id}': unknown field '{c.field_set}'"
                f"{did_you_mean(c.field_set, d.fields)}",
                "unknown-field",
            )
    for i, t in enumerate(d.transitions):
        for key, names in (("requires", t.requires), ("clears", t.clears)):
            for j, field in enumerate(names):
                if field not in d.fields:
                    yield Finding(
                        ("transitions", i, key, j),
                        f"transition '{t.name}' {key} unknown field '{field}'"
                        f"{did_you_mean(field, d.fields)}",
                        "unknown-field",
                    )


def check_cleared_fields_optional(d: ProcessDefinition) -> Iterator[Finding]:
    """A transition never clears a required field (the lead would break its own contract)."""
    for i, t in enumerate(d.transitions):
        for j, field in enumerate(t.clears):
            spec = d.fields.get(field)
            if spec is not None and spec.required:
                yield Finding(
                    ("transitions", i, "clears", j),
                    f"transition '{t.name}' clears required field '{field}'; "
                    "only optional fields can be cleared",
                    "clears-required-field",
                )


def check_checklists(d: ProcessDefinition) -> Iterator[Finding]:
    """Checklist items name playbook items of every stage the criterion is evaluated in."""
    for path, owner, c, stages in _criteria(d):
        if not isinstance(c, ChecklistCriterion):
            continue
        for j, item in enumerate(c.checklist):
            for stage_name in stages:
                stage = d.stages.get(stage_name)
                ids = [p.id for p in stage.playbook] if stage else []
                if stage is not None and item not in ids:
                    yield Finding(
                        (*path, "checklist", j),
                        f"{owner} criterion '{c.id}': '{item}' is not a playbook item of stage "
                        f"'{stage_name}'{did_you_mean(item, ids)}"
                        + (f" (items: {allowed(ids)})" if ids else " (it has no playbook)"),
                        "unknown-playbook-item",
                    )
                    break


def check_expressions(d: ProcessDefinition) -> Iterator[Finding]:
    """CEL expressions compile and read only declared variables and fields."""
    for path, owner, c, _ in _criteria(d):
        exprs: list[tuple[str, str]] = []
        if isinstance(c, CelCriterion):
            exprs.append(("cel", c.cel))
        if c.when is not None:
            exprs.append(("when", c.when))
        for key, expr in exprs:
            _, issues = check_expression(expr, d.fields, allow_unknown_fields=d.extra == "allow")
            for issue in issues:
                yield Finding(
                    (*path, key),
                    f"{owner} criterion '{c.id}': {issue.message}",
                    issue.code,
                    offset=issue.offset,
                )


def check_automatic_transitions(d: ProcessDefinition) -> Iterator[Finding]:
    """``auto.when`` compiles and reads declared fields; automatic transitions form no loop (a
    lead could move around it forever, since moving changes no data)."""
    autos = [(i, t) for i, t in enumerate(d.transitions) if t.auto is not None]
    for i, t in autos:
        assert t.auto is not None
        _, issues = check_expression(t.auto.when, d.fields, allow_unknown_fields=d.extra == "allow")
        for issue in issues:
            yield Finding(
                ("transitions", i, "auto", "when"),
                f"transition '{t.name}' auto: {issue.message}",
                issue.code,
                offset=issue.offset,
            )
    edges: dict[str, list[tuple[int, str]]] = {}
    for i, t in autos:
        for source in d.source_stages(t):
            edges.setdefault(source, []).append((i, t.to))
    reported: set[frozenset[int]] = set()
    for start in edges:
        for loop in _loops_from(start, edges):
            key = frozenset(i for i, _ in loop)
            if key in reported:
                continue
            reported.add(key)
            stages = [start, *(to for _, to in loop)]
            steps = [(stages[k], _when(d, i)) for k, (i, _) in enumerate(loop)]
            witness = loop_witness(d, steps)
            if witness is None:
                continue
            shown = ", ".join(f"{k} = {v!r}" for k, v in witness.items()) or "any data"
            yield Finding(
                ("transitions", min(key), "auto"),
                f"automatic transitions form a loop ({' -> '.join(stages)}): with {shown} "
                "every condition on it holds, so a lead would move around it forever; make "
                "the conditions exclude each other, or make one transition manual",
                "auto-loop",
            )


def _when(d: ProcessDefinition, index: int) -> str:
    auto = d.transitions[index].auto
    assert auto is not None
    return auto.when


def _loops_from(
    start: str, edges: dict[str, list[tuple[int, str]]]
) -> Iterator[list[tuple[int, str]]]:
    """Paths of automatic transitions from ``start`` back to it (each stage once)."""
    todo: list[tuple[str, list[tuple[int, str]]]] = [(start, [])]
    while todo:
        stage, path = todo.pop()
        for i, to in edges.get(stage, ()):
            if to == start:
                yield [*path, (i, to)]
            elif to not in {s for _, s in path} and len(path) < len(edges):
                todo.append((to, [*path, (i, to)]))


CHECKS: tuple[Callable[[ProcessDefinition], Iterator[Finding]], ...] = (
    check_one_initial_stage,
    check_open_and_closed_stages,
    check_transition_stages_exist,
    check_unique_ids,
    check_closed_stages_have_no_exits,
    check_every_stage_reachable,
    check_every_open_stage_can_close,
    check_field_references,
    check_cleared_fields_optional,
    check_checklists,
    check_expressions,
    check_automatic_transitions,
)
"""Every structural check, in the order their findings are most useful to read."""


def run_checks(d: ProcessDefinition) -> list[Finding]:
    """Run every check and return all findings."""
    return [finding for check in CHECKS for finding in check(d)]
