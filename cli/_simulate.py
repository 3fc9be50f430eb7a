"""``leadflow simulate DEFINITION --spec SPEC [--compare OTHER]``: what-if runs on simulated time.

Wired by the lead in cli.py as ``app.command("simulate")(simulate_command)``. The run happens in
a throwaway in-memory database, or with ``--db PATH`` in a new SQLite file kept for the reports
(:mod:`._simulate_db`); a rich progress bar goes to stderr (never with ``--format json``, never
with ``--no-progress``); the result is a table or JSON on stdout, with the rows a replay
adjusted under it (``--adjustments FILE`` writes them all).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from leadflow.cli._adjustments import adjustments_table, write_adjustments
from leadflow.cli._common import console, fail, handled
from leadflow.cli._simulate_db import kept_database, target_path
from leadflow.definitions import ProcessDefinition, load_definition
from leadflow.engine.simulate import (
    MetricDelta,
    ReplayDataError,
    SimulationResult,
    SpecError,
    compare,
    load_spec,
    simulate,
)

__all__ = ["simulate_command"]


def _number(value: float | None, metric: str = "") -> str:
    if value is None:
        return "-"
    if "rate" in metric or "conversion" in metric:
        return f"{value:.1%}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _delta(row: MetricDelta) -> tuple[str, str]:
    if row.delta is None:
        return "-", "-"
    if "rate" in row.metric or "conversion" in row.metric:
        absolute = f"{row.delta * 100:+.1f} pp"
    elif float(row.delta).is_integer():
        absolute = f"{int(row.delta):+,}"
    else:
        absolute = f"{row.delta:+,.2f}"
    return absolute, f"{row.relative:+.1%}" if row.relative is not None else "-"


def _summary(result: SimulationResult) -> str:
    return (
        f"{result.process} v{result.version}: {result.leads:,} leads ({result.source}, seed "
        f"{result.seed}), simulated {result.started_at.astimezone(UTC):%Y-%m-%d %H:%M} -> "
        f"{result.ended_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC, {result.changes:,} changes and "
        f"{result.marks:,} SLA marks in {result.wall_seconds:.1f} s "
        f"({result.leads_per_second:,.0f} leads/s)"
    )


def _one(result: SimulationResult) -> Table:
    table = Table(title=_summary(result), title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in result.metrics().items():
        table.add_row(name, _number(value, name))
    return table


def _both(a: SimulationResult, b: SimulationResult) -> Table:
    table = Table(title=f"A: {_summary(a)}\nB: {_summary(b)}", title_justify="left")
    for name, justify in (("metric", "left"), ("A", "right"), ("B", "right"), ("B - A", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("change", justify="right")
    for row in compare(a, b):
        table.add_row(
            row.metric, _number(row.a, row.metric), _number(row.b, row.metric), *_delta(row)
        )
    return table


def _refusals(result: SimulationResult, label: str) -> Table:
    """Why changes were refused: by change and error code, with one example each."""
    total = sum(r.count for r in result.refusals)
    table = Table(title=f"{label}{total:,} refused changes, by reason", title_justify="left")
    table.add_column("change")
    table.add_column("reason")
    table.add_column("count", justify="right")
    table.add_column("example", overflow="fold")
    for row in result.refusals:
        table.add_row(row.change, row.code, f"{row.count:,}", row.example)
    return table


def _run(
    name: str,
    definition: ProcessDefinition,
    spec: Any,
    seed: int,
    leads: int | None,
    show: bool,
    db: str = "sqlite://",
) -> SimulationResult:
    if not show:
        return simulate(definition, spec, seed=seed, leads=leads, db=db)
    columns = (
        TextColumn(f"simulating {name}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("simulated hours"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(file=sys.stderr), transient=True) as bar:
        task = bar.add_task("hours", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return simulate(definition, spec, seed=seed, leads=leads, db=db, progress=advance)


@handled
def simulate_command(
    definition: Annotated[
        Path,
        typer.Argument(
            help="The process definition: a YAML/JSON file or a shipped process by name."
        ),
    ],
    spec: Annotated[
        Path, typer.Option("--spec", help="The simulation spec: a replay or a generator.")
    ],
    compare_with: Annotated[
        Path | None,
        typer.Option(
            "--compare",
            metavar="OTHER",
            help="Run this definition (file or shipped name) too; print deltas.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same result).")] = 1,
    leads: Annotated[
        int | None, typer.Option("--leads", min=1, help="Override the generator's lead count.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="No progress bar on stderr.")
    ] = False,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="PATH",
            help="Keep the run in this new SQLite file (a path or sqlite:///URL) for "
            "leadflow report and the forecast; written only when the run succeeds.",
        ),
    ] = None,
    adjustments: Annotated[
        Path | None,
        typer.Option(
            "--adjustments",
            metavar="FILE",
            help="Write every row the replay adjusted (a time moved, a row left out) to this "
            "file: CSV, or JSON for a .json name.",
        ),
    ] = None,
) -> None:
    """Simulate a process on replayed or generated leads, on simulated time."""
    if fmt not in ("table", "json"):
        fail(f"--format must be table or json, not {fmt!r}")
    if db is not None and compare_with is not None:
        fail("--db keeps one run: leave out --compare (or run each definition with its own --db)")
    if adjustments is not None and not adjustments.parent.is_dir():
        fail(f"--adjustments {adjustments}: the folder {adjustments.parent} does not exist")
    target = target_path(db) if db is not None else None
    try:
        source = load_spec(spec)
        # every input is read and checked before any work starts (--compare's file too)
        definitions = [(p.name, load_definition(p)) for p in (definition, compare_with) if p]
        show = fmt == "table" and not no_progress
        with kept_database(target) as url:
            first, *others = [_run(n, d, source, seed, leads, show, url) for n, d in definitions]
        second = others[0] if others else None
    except ReplayDataError as exc:
        fail(
            "the data has bad rows; nothing was written (bad_rows: skip in the spec leaves "
            "them out and reports them)",
            [str(p) for p in exc.problems],
        )
    except SpecError as exc:
        if len(exc.problems) == 1:
            fail(str(exc.problems[0]))
        fail(f"the spec has {len(exc.problems)} problems", [str(p) for p in exc.problems])
    if adjustments is not None:
        write_adjustments(first.adjustments, adjustments)
        typer.echo(f"wrote {len(first.adjustments):,} adjusted rows to {adjustments}", err=True)
    if target is not None:
        hint = f"leadflow report funnel --process {first.process} --db sqlite:///{target}"
        typer.echo(f"kept the run in {target}: {hint}", err=True)
    if fmt == "json":
        out: dict[str, Any] = {"a": first.as_dict()} if second else first.as_dict()
        if second is not None:
            out["b"] = second.as_dict()
            out["deltas"] = [
                {"metric": r.metric, "a": r.a, "b": r.b, "delta": r.delta, "relative": r.relative}
                for r in compare(first, second)
            ]
        typer.echo(json.dumps(out, indent=2, default=str))
        return
    console().print(_one(first) if second is None else _both(first, second))
    shown = [("", first)] if second is None else [("A: ", first), ("B: ", second)]
    for label, result in shown:
        if result.refusals:
            console().print(_refusals(result, label))
    if first.adjustments:  # both runs read the same rows
        console().print(adjustments_table(first.adjustments))
