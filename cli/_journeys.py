"""``leadflow journeys``: which process a new lead starts in, chosen from its fields.

    leadflow journeys set journeys.yaml --db URL
    leadflow journeys show --db URL [--json]

``set`` checks the rules (every problem with ``file:line:col``) and that every process they name
is deployed, then replaces the current rules; nothing is stored on error. Errors print one
``error:`` line (see :mod:`leadflow.cli._common`), never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from leadflow.cli._common import AsJson, Db, console, handled, open_engine, print_json
from leadflow.definitions import Journeys

__all__ = ["journeys_app"]

journeys_app = typer.Typer(
    help="Journeys: the process a new lead starts in, chosen by rules over its fields.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _as_json(journeys: Journeys) -> dict[str, object]:
    return journeys.model_dump(mode="json", by_alias=True)


@journeys_app.command("set")
@handled
def journeys_set(
    db: Db,
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="The journeys YAML (journeys: a list of rules).")
    ],
    as_json: AsJson = False,
) -> None:
    """Replace the journey rules with those of FILE (every process named must be deployed)."""
    with open_engine(db) as engine:
        journeys = engine.set_journeys(file)
    if as_json:
        print_json(_as_json(journeys))
        return
    count = len(journeys.rules)
    typer.echo(f"set {count} journey {'rule' if count == 1 else 'rules'} from {file}")


@journeys_app.command("show")
@handled
def journeys_show(db: Db, as_json: AsJson = False) -> None:
    """The current journey rules, in the order they are tried."""
    with open_engine(db) as engine:
        journeys = engine.journeys()
    if as_json:
        print_json(None if journeys is None else _as_json(journeys))
        return
    if journeys is None:
        typer.echo("no journeys are set (leadflow journeys set FILE --db URL)")
        return
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("#", "when", "process"):
        table.add_column(column)
    for number, rule in enumerate(journeys.rules, 1):
        table.add_row(str(number), rule.when or "(every other lead)", rule.process)
    console().print(table)
