"""``leadflow lint`` and ``leadflow diff``: the command bodies (``cli.py`` registers them).

Exit codes of ``lint`` follow ruff and eslint: 0 when no finding is at or above ``--fail-on``
(default ``warning``), 1 when one is, 2 when a definition does not load (its problems are
printed in the chosen format). ``diff`` exits with 0, or 1 when a definition does not load.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from leadflow.cli._common import handled, open_engine, print_json
from leadflow.definitions import (
    SEVERITIES,
    DefinitionError,
    LintFinding,
    Problem,
    diff_definitions,
    lint_source,
    load_definition,
)
from leadflow.engine.migration import diff_impact

__all__ = ["DiffFormat", "FailOn", "LintFormat", "diff", "github_annotation", "lint"]


class LintFormat(StrEnum):
    """How ``leadflow lint`` prints findings."""

    text = "text"
    json = "json"
    github = "github"


class FailOn(StrEnum):
    """The least severe finding that makes ``leadflow lint`` exit with 1."""

    error = "error"
    warning = "warning"
    info = "info"


class DiffFormat(StrEnum):
    """How ``leadflow diff`` prints changes."""

    text = "text"
    json = "json"


_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def github_annotation(
    severity: str, message: str, file: str, line: int, column: int, title: str
) -> str:
    """A GitHub Actions workflow command that annotates ``file`` at ``line``/``column``."""
    where = f"file={_escape(file, prop=True)},line={line},col={column}"
    props = f"{where},title={_escape(title, prop=True)}"
    return f"::{_LEVEL[severity]} {props}::{_escape(message)}"


def _problem_dict(p: Problem) -> dict[str, Any]:
    return {
        "file": p.file,
        "line": p.line,
        "column": p.column,
        "code": p.code,
        "message": p.message,
    }


def _print_findings(fmt: LintFormat, findings: list[LintFinding]) -> None:
    for f in findings:
        if fmt is LintFormat.github:
            title = f"{f.code} {f.name}"
            typer.echo(
                github_annotation(
                    f.severity, f.message, f.file or "", f.line or 1, f.column or 1, title
                )
            )
        else:
            typer.echo(str(f))


def _print_problems(fmt: LintFormat, problems: tuple[Problem, ...]) -> None:
    for p in problems:
        if fmt is LintFormat.github:
            title = f"{p.code} (does not load)"
            typer.echo(github_annotation("error", p.message, p.file, p.line, p.column, title))
        else:
            typer.echo(f"{p} [{p.code}]")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


@handled
def lint(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Definition files (YAML or JSON) or shipped process names (inbound-lead)."
        ),
    ],
    fmt: Annotated[
        LintFormat,
        typer.Option("--format", "-f", help="text, json, or github (annotations for CI)."),
    ] = LintFormat.text,
    fail_on: Annotated[
        FailOn,
        typer.Option("--fail-on", help="Exit with 1 on findings this severe or worse."),
    ] = FailOn.warning,
) -> None:
    """Warn about definitions that load but are probably wrong (codes in docs/lint.md)."""
    threshold = SEVERITIES.index(fail_on.value)
    results: list[dict[str, Any]] = []
    broken = failing = 0
    counts: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
    for file in files:
        entry, fails = _lint_file(file, fmt, threshold, counts)
        results.append(entry)
        if fails is None:
            broken += 1
        else:
            failing += fails
    code = 2 if broken else 1 if failing else 0
    _print_outcome(fmt, results, counts, code, len(files), broken)
    if code:
        raise typer.Exit(code)


def _lint_file(
    file: Path, fmt: LintFormat, threshold: int, counts: dict[str, int]
) -> tuple[dict[str, Any], int | None]:
    """Lint and print one file: its JSON entry, and its failing findings (None: did not load)."""
    try:
        result = lint_source(file)
    except DefinitionError as exc:
        entry: dict[str, Any] = {
            "file": str(file),
            "loads": False,
            "problems": [_problem_dict(p) for p in exc.problems],
        }
        if fmt is not LintFormat.json:
            _print_problems(fmt, exc.problems)
        return entry, None
    failing = 0
    for f in result.findings:
        counts[f.severity] += 1
        failing += SEVERITIES.index(f.severity) >= threshold
    entry = {
        "file": str(file),
        "loads": True,
        "process": result.definition.process,
        "version": result.definition.version,
        "findings": [f.as_dict() for f in result.findings],
    }
    if fmt is not LintFormat.json:
        _print_findings(fmt, result.findings)
    return entry, failing


def _print_outcome(
    fmt: LintFormat,
    results: list[dict[str, Any]],
    counts: dict[str, int],
    code: int,
    files: int,
    broken: int,
) -> None:
    """The JSON report, or the text summary line on stderr (github output has none)."""
    if fmt is LintFormat.json:
        print_json({"files": results, "counts": counts, "exit_code": code})
    elif fmt is LintFormat.text:
        total = sum(counts.values())
        parts = [
            _plural(counts[s], s) if s != "info" else f"{counts[s]} info" for s in SEVERITIES[::-1]
        ]
        summary = f"{_plural(total, 'finding')} ({', '.join(parts)}) in {_plural(files, 'file')}"
        if broken:
            summary += f"; {broken} did not load"
        typer.echo(summary, err=True)


@handled
def diff(
    old: Annotated[
        Path, typer.Argument(help="The definition as it is (deployed): a file or a shipped name.")
    ],
    new: Annotated[
        Path, typer.Argument(help="The definition as it will be: a file or a shipped name.")
    ],
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="URL",
            help="Count the open leads of OLD's version each change touches in this database.",
        ),
    ] = None,
    fmt: Annotated[
        DiffFormat, typer.Option("--format", "-f", help="text or json.")
    ] = DiffFormat.text,
) -> None:
    """Say what changed between two versions of a definition, and which live leads it touches."""
    before = load_definition(old)
    after = load_definition(new)
    changes = diff_definitions(before, after)
    if db is None:
        if fmt is DiffFormat.json:
            print_json({"changes": [c.as_dict() for c in changes]})
            return
        for c in changes:
            typer.echo(f"- {c}")
        typer.echo(f"{_plural(len(changes), 'change')}" if changes else "no changes", err=True)
        return
    with open_engine(db) as engine:
        impact = diff_impact(engine, before, after, changes)
    if fmt is DiffFormat.json:
        print_json({"changes": [c.as_dict() for c in changes], "impact": impact.as_dict()})
        return
    for item in impact.changes:
        line = f"- {item.change}"
        if item.change.stages:
            where = ", ".join(item.change.stages)
            line += f"  [{_plural(item.leads, 'open lead')} in {where}"
            if item.unmet is not None:
                line += f"; {item.unmet} do not meet it now"
            line += "]"
        typer.echo(line)
    stages = ", ".join(f"{s} {n}" for s, n in sorted(impact.by_stage.items())) or "none"
    typer.echo(
        f"{_plural(len(changes), 'change')}; {_plural(impact.open_leads, 'open lead')} on "
        f"{impact.process} v{impact.version} ({stages})",
        err=True,
    )
