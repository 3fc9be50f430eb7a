"""``leadflow token``: API tokens of the HTTP service.

    leadflow token create --db URL --name ci-bot --role ops
    leadflow token create --db URL --name ann-phone --role rep --team inbound --owner ann
    leadflow token list --db URL [--json]
    leadflow token revoke ci-bot --db URL

``create`` prints the token once, alone on the last line of its output (scripts read it with
``tail -n 1``); the database keeps only a hash of it. Errors print one ``error:`` line (see
:mod:`leadflow.cli._common`), never a traceback.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from leadflow.cli._common import AsJson, Db, console, handled, open_engine, print_json, when
from leadflow.engine.store import ROLES, TokenInfo, TokenStore

__all__ = ["token_app"]

token_app = typer.Typer(
    help="API tokens of the HTTP service: create (shown once), list, revoke.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _describe(info: TokenInfo) -> str:
    scope = [f"role {info.role}"]
    if info.team is not None:
        scope.append(f"team {info.team}")
    if info.owner is not None:
        scope.append(f"owner {info.owner}")
    return f"{info.name} ({', '.join(scope)})"


@token_app.command("create")
@handled
def token_create(
    db: Db,
    name: Annotated[
        str, typer.Option("--name", help="A unique name: letters, digits, '.', '_' or '-'.")
    ],
    role: Annotated[
        str,
        typer.Option(
            "--role",
            help=f"One of: {', '.join(ROLES)}, or a role a deployed definition declares.",
        ),
    ],
    team: Annotated[str | None, typer.Option("--team", help="The team it acts for.")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="The owner id it acts as.")] = None,
    as_json: AsJson = False,
) -> None:
    """Create a token and print it once, alone on the last line; only its hash is stored."""
    # setting up access is a setup step, like deploy: it may create a new SQLite database
    with open_engine(db, may_create=True) as engine:
        custom = {
            custom_role
            for process in engine.processes()
            for custom_role in engine.definition(process).access.roles
        }
        token, info = TokenStore(engine.store).create(
            name, role, team=team, owner=owner, at=datetime.now(UTC), custom_roles=custom
        )
    if as_json:
        print_json({"token": token, **info.as_dict()})
        return
    typer.echo(f"created token {_describe(info)}; it is shown only this once:")
    typer.echo(token)


@token_app.command("list")
@handled
def token_list(db: Db, as_json: AsJson = False) -> None:
    """Every token, revoked ones included (never the token or its hash)."""
    with open_engine(db) as engine:
        infos = TokenStore(engine.store).list()
    if as_json:
        print_json([info.as_dict() for info in infos])
        return
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("name", "role", "team", "owner"):
        table.add_column(column)
    for column in ("created", "last used", "revoked"):
        table.add_column(column, no_wrap=True)
    for info in infos:
        table.add_row(
            info.name,
            info.role,
            info.team or "",
            info.owner or "",
            when(info.created_at),
            "" if info.last_used_at is None else when(info.last_used_at),
            "" if info.revoked_at is None else when(info.revoked_at),
        )
    console().print(table)


@token_app.command("revoke")
@handled
def token_revoke(
    db: Db,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The token's name.")],
    as_json: AsJson = False,
) -> None:
    """Revoke the token NAME: it stops working at once. Revoking it again changes nothing."""
    with open_engine(db) as engine:
        info = TokenStore(engine.store).revoke(name, at=datetime.now(UTC))
    if as_json:
        print_json(info.as_dict())
        return
    assert info.revoked_at is not None
    typer.echo(f"revoked token {_describe(info)} at {when(info.revoked_at)} UTC")
