"""``leadflow graph``: draw a process as Mermaid, DOT, SVG or PNG, optionally with live heat.

    leadflow graph inbound-lead.yaml                      # Mermaid on stdout
    leadflow graph inbound-lead.yaml -f svg -o lead.svg   # Graphviz draws it
    leadflow graph inbound-lead --db $LEADFLOW_DB -f png -o live.png

The argument is a definition file or, with ``--db``, a deployed process id (the latest version,
or ``--definition-version N``). With ``--db`` every open stage also shows its live leads and
their median time in stage, filled on a colour scale with a legend (``--definition-version``
then counts only that version's leads). ``LEADFLOW_DB`` is not read here: drawing a file never
touches a database unless ``--db`` asks for it. The diagram itself is built in
:mod:`._graph_model` and written by :mod:`._graph_mermaid` and :mod:`._graph_dot`.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import typer

from leadflow.cli._common import CliError, open_engine, write_or_print
from leadflow.definitions import ProcessDefinition, library_names, load_definition
from leadflow.engine import Engine
from leadflow.engine.graph import (
    GraphvizError,
    HeatMap,
    graphviz,
    render_dot,
    render_mermaid,
    stage_heat,
)
from leadflow.engine.reports import default_as_of

__all__ = ["GraphFormat", "draw", "parse_format", "render_dot", "render_mermaid"]

_PROCESS_ID = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")


class GraphFormat(StrEnum):
    """What ``leadflow graph`` writes: diagram text, or a picture drawn by Graphviz."""

    mermaid = "mermaid"
    dot = "dot"
    svg = "svg"
    png = "png"


def _heat(engine: Engine, process: str, version: int | None, as_of: datetime | None) -> HeatMap:
    """The live leads per stage as of ``as_of``, or now, or (saying so) the process's last
    change when the data is more than a day old."""
    if as_of is None:
        as_of, stale = default_as_of(engine, process)
        if stale:
            typer.echo(
                f"note: the last change to {process} in this database was at "
                f"{as_of:%Y-%m-%d %H:%M} UTC, more than a day ago: time in stage is as of then "
                "(--as-of sets another moment)",
                err=True,
            )
    return stage_heat(engine, process, version, as_of)


def _definition(
    target: str, db: str | None, version: int | None, as_of: datetime | None = None
) -> tuple[ProcessDefinition, HeatMap | None]:
    path = Path(target)
    is_process = not path.is_file() and _PROCESS_ID.match(target) is not None
    if is_process and db is None and target not in library_names():
        raise CliError(
            f"no file '{target}' and no shipped process of that name; to draw the deployed "
            f"process '{target}', add --db URL"
        )
    if is_process and db is None:
        return load_definition(target), None  # a shipped process, by name
    if version is not None and db is None:
        raise CliError("--definition-version chooses leads in a database: it needs --db URL")
    if not is_process:
        definition = load_definition(path)
        if db is None:
            return definition, None
        with open_engine(db) as engine:
            deployed = engine.processes()
            if definition.process not in deployed:
                known = ", ".join(deployed) or "nothing"
                raise CliError(
                    f"process '{definition.process}' of {target} is not deployed in that "
                    f"database (deployed: {known}); no live leads to show"
                )
            return definition, _heat(engine, definition.process, version, as_of)
    assert db is not None
    with open_engine(db) as engine:
        definition = engine.definition(target, version)
        return definition, _heat(engine, target, version, as_of)


def parse_format(text: str) -> GraphFormat:
    """``--format`` text as a :class:`GraphFormat`; :class:`CliError` naming the choices."""
    try:
        return GraphFormat(text.strip().lower())
    except ValueError:
        allowed = ", ".join(f.value for f in GraphFormat)
        raise CliError(
            f"--format: '{text}' is not a diagram format; use one of {allowed}"
        ) from None


def draw(
    target: str,
    fmt: str,
    output: Path | None,
    db: str | None = None,
    version: int | None = None,
    as_of: datetime | None = None,
) -> None:
    """Load ``target``, build its diagram (with heat from ``db`` as of ``as_of``) and write it
    in ``fmt``.

    ``fmt`` is a :class:`GraphFormat` or its text; everything that goes wrong is a
    :class:`CliError` or a :class:`LeadflowError` with a message for the user.
    """
    fmt = parse_format(fmt)
    if fmt is GraphFormat.png and output is None:
        raise CliError("--format png writes binary data: give --output FILE.png")
    if as_of is not None and db is None:
        raise CliError("--as-of is the moment of the live leads in a database: it needs --db URL")
    definition, heat = _definition(target, db, version, as_of)
    if fmt is GraphFormat.mermaid:
        write_or_print(render_mermaid(definition, heat), output)
        return
    dot = render_dot(definition, heat)
    if fmt is GraphFormat.dot:
        write_or_print(dot, output)
        return
    try:
        picture = graphviz(dot, "svg" if fmt is GraphFormat.svg else "png")
    except GraphvizError as exc:
        raise CliError(str(exc)) from exc
    if fmt is GraphFormat.svg:
        write_or_print(picture.decode("utf-8"), output)
        return
    assert output is not None
    try:
        output.write_bytes(picture)
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror or exc}") from exc
    typer.echo(f"wrote {output}", err=True)
