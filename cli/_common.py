"""What every ``leadflow`` command shares: error reporting, options, JSON and --data parsing.

Errors never show a traceback: :func:`handled` turns a :class:`LeadflowError` (or a
:class:`CliError`) into one ``error:`` line on stderr and exit code 1, and anything unexpected
into ``error: internal error: ...`` and exit code 3. Usage errors are click's (exit code 2).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from leadflow.definitions import DefinitionError, LeadflowError
from leadflow.engine import Engine, GuardFailed, max_value_bytes_from_env
from leadflow.engine.access import Actor as AccessActor

__all__ = [
    "Actor",
    "AsJson",
    "CliError",
    "Data",
    "Db",
    "LeadId",
    "Output",
    "Process",
    "Role",
    "Team",
    "acting",
    "console",
    "dump",
    "fail",
    "handled",
    "open_engine",
    "parse_data",
    "print_json",
    "when",
    "write_or_print",
]

P = ParamSpec("P")
R = TypeVar("R")


class CliError(Exception):
    """A problem with the command's input (bad --data, unreadable file); exits with 1."""


# -- errors ------------------------------------------------------------------------------------


def fail(message: str, details: list[str] | None = None, code: int = 1) -> NoReturn:
    """Print ``error: message`` (and indented detail lines) to stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    for line in details or []:
        typer.echo(f"  {line}", err=True)
    raise typer.Exit(code)


def _report(exc: LeadflowError) -> NoReturn:
    if isinstance(exc, GuardFailed):
        count = len(exc.unmet)
        fail(
            f"lead '{exc.lead_id}' in '{exc.process}': cannot '{exc.trigger}' from stage "
            f"'{exc.stage}': {count} {'criterion' if count == 1 else 'criteria'} unmet",
            [f"- {c.id}: {c.message}" for c in exc.unmet],
        )
    if isinstance(exc, DefinitionError) and len(exc.problems) == 1:
        fail(str(exc.problems[0]))
    if isinstance(exc, DefinitionError):
        count = len(exc.problems)
        fail(
            f"the definition has {count} {'problem' if count == 1 else 'problems'}",
            [str(p) for p in exc.problems],
        )
    fail(" ".join(str(exc).split()) or exc.code)


def handled(func: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command body so that every error becomes one ``error:`` line, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except LeadflowError as exc:
            _report(exc)
        except CliError as exc:
            fail(str(exc))
        except Exception as exc:
            fail(f"internal error: {type(exc).__name__}: {exc}", code=3)

    return wrapper


# -- options -----------------------------------------------------------------------------------

Db = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="LEADFLOW_DB",
        show_envvar=True,
        metavar="URL",
        help="Database URL: sqlite:///leadflow.db or postgresql+psycopg://user@host/db.",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
Data = Annotated[
    str | None,
    typer.Option("--data", "-d", metavar="JSON", help="Lead data as a JSON object, or @file.json."),
]
Actor = Annotated[str | None, typer.Option("--actor", help="Who does this (recorded in history).")]
Role = Annotated[
    str | None,
    typer.Option(
        "--role",
        help="Act with this role's access rules (admin, ops, manager, rep, viewer, board, or a "
        "definition's own); needs --actor.",
    ),
]
Team = Annotated[str | None, typer.Option("--team", help="The team the --role acts for.")]


def acting(actor: str | None, role: str | None, team: str | None) -> str | AccessActor | None:
    """The actor to pass to the engine: with ``--role``, one whose access rules apply."""
    if role is None:
        if team is not None:
            raise CliError("--team goes with --role (the team the role acts for)")
        return actor
    if actor is None:
        raise CliError("--role needs --actor: the owner id the role acts as (e.g. sdr_ana)")
    return AccessActor(actor, role, team)


Process = Annotated[
    str, typer.Argument(metavar="PROCESS", help="The process id, e.g. inbound-lead.")
]
LeadId = Annotated[str, typer.Argument(metavar="LEAD_ID", help="The lead's id.")]
Output = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
]


# -- input and output --------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dump(value: Any) -> str:
    """``value`` as compact one-line JSON (times as ISO 8601)."""
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout."""
    typer.echo(json.dumps(value, indent=2, default=_json_default, ensure_ascii=False))


def console() -> Console:
    """A rich console on the current stdout (made per command: tests swap sys.stdout)."""
    return Console(highlight=False, soft_wrap=False)


def when(value: datetime) -> str:
    """A time for people: ``2026-01-05 09:00:00`` (UTC)."""
    return value.strftime("%Y-%m-%d %H:%M:%S")


def parse_data(raw: str | None, *, option: str = "--data") -> dict[str, Any] | None:
    """``--data``: a JSON object given inline or as ``@path``; :class:`CliError` otherwise."""
    if raw is None:
        return None
    text = raw
    if raw.startswith("@"):
        try:
            text = Path(raw[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot read {option} file {raw[1:]}: {exc.strerror or exc}") from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{option} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise CliError(f"{option} must be a JSON object, not {type(value).__name__}")
    return value


def write_or_print(text: str, output: Path | None) -> None:
    """Write ``text`` to ``output`` (saying so on stderr), or print it when there is none."""
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror or exc}") from exc
    typer.echo(f"wrote {output}", err=True)


def _missing_sqlite_file(db: str) -> str | None:
    """The path of a file SQLite database that does not exist yet, else None."""
    try:
        url = make_url(db)
    except ArgumentError:
        return None  # the engine reports a malformed URL itself
    path = url.database
    if url.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return None
    return None if Path(path).exists() else path


@contextmanager
def open_engine(db: str, *, may_create: bool = False) -> Iterator[Engine]:
    """An :class:`Engine` on ``db``, closed afterwards.

    Only commands that set things up (``deploy``) may create a new SQLite file: for the others a
    mistyped path would silently create an empty database and then report "nothing deployed".
    """
    missing = None if may_create else _missing_sqlite_file(db)
    if missing is not None:
        raise CliError(
            f"no database at {missing}; check the path, or deploy a definition there first "
            "(leadflow deploy FILE --db URL)"
        )
    try:
        limit = max_value_bytes_from_env(os.environ)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    engine = Engine(db, max_value_bytes=limit)
    try:
        yield engine
    finally:
        engine.close()
