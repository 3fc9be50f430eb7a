"""``leadflow report sla`` (the SLA board) and ``leadflow away`` (out-of-office periods)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from leadflow.cli._common import CliError, Db, console, handled, open_engine, print_json
from leadflow.cli._report import Format, FormatOpt, ProcessOpt, parse_time
from leadflow.cli._report_format import csv_table
from leadflow.cli._units import duration, fitted_table, percent, print_fitted
from leadflow.engine.reports import SlaBoard, sla_board

__all__ = ["away_app", "sla"]


class By(StrEnum):
    """What the board groups clocks by."""

    owner = "owner"
    team = "team"


_COLUMNS = (
    "owner",
    "policy",
    "handled",
    "met",
    "breached",
    "stopped",
    "pending",
    "met_rate",
    "median_response",
    "median_response_calendar",
    "p90_response",
    "p90_response_calendar",
    "reassigned",
)
_CSV_COLUMNS = (*_COLUMNS, "target", "cycles")
"""CSV keeps the table's columns first; the columns added later come at the end."""

_DROP = ("stopped", "pending", "handled", "p90_response_calendar", "p90_response")
"""At a narrow terminal these go first; the owner, policy, met, met rate and the median in
business and in calendar time stay."""
_HEADERS = {"median_response_calendar": "calendar median", "p90_response_calendar": "calendar p90"}
"""Response times in calendar (wall) time, beside the business-time ones."""


def _shown(board: SlaBoard) -> list[str]:
    """The table's columns: target only when an SLA of the board has a matrix, cycles only when
    a clock was re-armed."""
    names = list(_COLUMNS)
    if any(r.target for r in board.rows):
        names.insert(2, "target")
    if any(r.cycles for r in board.rows):
        names.append("cycles")
    return names


def _cell(name: str, row: dict[str, Any]) -> Text:
    value = row[name]
    if name == "owner":
        return Text(str(value or "(nobody)"))
    if name == "met_rate":
        return Text(percent(value))
    if name in ("median_response", "p90_response", *_HEADERS):
        return Text(duration(value))
    return Text("" if value is None else str(value))


def _rows(board: SlaBoard) -> list[list[Text]]:
    names = _shown(board)
    return [[_cell(n, r.as_dict()) for n in names] for r in board.rows]


def _columns(board: SlaBoard) -> list[tuple[str, bool]]:
    return [
        (
            board.by if name == "owner" else _HEADERS.get(name, name.replace("_", " ")),
            name in _NUMBERS,
        )
        for name in _shown(board)
    ]


_NUMBERS = frozenset((*_COLUMNS[2:], "cycles"))


def _table(board: SlaBoard, width: int = 200) -> Table:
    return fitted_table(_columns(board), _rows(board), width)[0]


def _csv(board: SlaBoard) -> str:
    header = [board.by if c == "owner" else c for c in _CSV_COLUMNS]
    rows = (r.as_dict() for r in board.rows)
    return csv_table(
        header, (["" if row[c] is None else row[c] for c in _CSV_COLUMNS] for row in rows)
    )


@handled
def sla(
    db: Db,
    process: ProcessOpt,
    by: Annotated[By, typer.Option("--by", help="Group by owner or team.")] = By.owner,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="DATE", help="Clocks decided at or after (UTC)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", metavar="DATE", help="Clocks decided before (UTC).")
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """SLA board: met, breached and pending clocks, response times and reassignments."""
    with open_engine(db) as engine:
        board = sla_board(
            engine,
            process,
            by=by.value,
            since=parse_time(since, "--since"),
            until=parse_time(until, "--until"),
        )
    if fmt is Format.json:
        print_json(board.as_dict())
    elif fmt is Format.csv:
        typer.echo(_csv(board), nl=False)
    else:
        out = console()
        out.print(f"[bold]SLA board: {process}, by {board.by}[/bold]")
        names = _shown(board)
        print_fitted(out, _columns(board), _rows(board), [names.index(c) for c in _DROP])


away_app = typer.Typer(
    help="Out-of-office periods: routing skips a member while one covers the moment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

Member = Annotated[str, typer.Argument(metavar="MEMBER", help="The member's owner id.")]


def _when(text: str, option: str) -> datetime:
    value = parse_time(text, option)
    assert value is not None
    return value


@away_app.command("set")
@handled
def away_set(
    db: Db,
    member: Member,
    start: Annotated[str, typer.Option("--from", metavar="DATE", help="First moment away.")],
    end: Annotated[str, typer.Option("--until", metavar="DATE", help="Back at this moment.")],
    note: Annotated[str | None, typer.Option("--note", help="Why (vacation, sick).")] = None,
) -> None:
    """Record that MEMBER is away from --from until --until."""
    with open_engine(db) as engine:
        ident = engine.set_away(member, _when(start, "--from"), _when(end, "--until"), note)
    typer.echo(f"{member} is away: period {ident}")


@away_app.command("import")
@handled
def away_import(
    db: Db,
    member: Member,
    ics: Annotated[
        str,
        typer.Option("--ics", metavar="FILE|URL", help="An iCalendar file or https:// feed."),
    ],
    tz: Annotated[
        str, typer.Option("--tz", metavar="ZONE", help="The member's timezone (all-day events).")
    ] = "UTC",
    days: Annotated[int, typer.Option("--days", min=1, max=3650, help="How far ahead.")] = 365,
) -> None:
    """Read MEMBER's days off (all-day busy events, out-of-office) from a calendar.

    Run it again any time: only new periods are added."""
    text = _read_ics(ics)
    with open_engine(db) as engine:
        done = engine.import_away(member, text, timezone=tz, days=days)
    typer.echo(
        f"{member}: {done.added} period(s) added, {done.kept} already there, "
        f"{done.skipped} event(s) not away"
    )


def _read_ics(source: str) -> bytes:
    if source.startswith(("https://", "http://")):
        import httpx

        try:
            answer = httpx.get(source, timeout=30, follow_redirects=True)
            answer.raise_for_status()
        except httpx.HTTPError as exc:
            raise CliError(f"--ics {source}: {exc}") from None
        return answer.content
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise CliError(f"--ics {source}: {exc.strerror}") from None


@away_app.command("clear")
@handled
def away_clear(
    db: Db,
    member: Member,
    at: Annotated[
        str | None, typer.Option("--at", metavar="DATE", help="Back as of (default: now).")
    ] = None,
) -> None:
    """MEMBER is back: periods covering the moment end there, later ones are dropped."""
    with open_engine(db) as engine:
        changed = engine.clear_away(member, parse_time(at, "--at"))
    typer.echo(f"{member}: {changed} period(s) changed")


@away_app.command("list")
@handled
def away_list(
    db: Db,
    member: Annotated[str | None, typer.Argument(metavar="[MEMBER]")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Out-of-office periods, earliest first."""
    with open_engine(db) as engine:
        periods = engine.list_away(member)
    if as_json:
        print_json(
            [
                {
                    "id": p.id,
                    "member": p.member,
                    "starts_at": p.starts_at.isoformat(),
                    "ends_at": p.ends_at.isoformat(),
                    "note": p.note,
                }
                for p in periods
            ]
        )
        return
    table = Table(box=box.SIMPLE_HEAD)
    for name in ("id", "member", "from", "until", "note"):
        table.add_column(name)
    for p in periods:
        table.add_row(
            str(p.id),
            p.member,
            f"{p.starts_at:%Y-%m-%d %H:%M}",
            f"{p.ends_at:%Y-%m-%d %H:%M}",
            p.note or "",
        )
    console().print(table)
