"""``leadflow accounts import|list``: the CRM's accounts that ``match_account`` matches leads to.

    leadflow accounts import accounts.csv --db $LEADFLOW_DB --list crm --replace
    leadflow accounts list --db $LEADFLOW_DB --list crm

A CSV (a header row) or JSON-lines file with an id, a name, a domain (or a website) and an
owner per account; ``--*-column`` options name other columns. Every row is checked before
anything is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from leadflow.cli._common import AsJson, Db, console, handled, open_engine, print_json
from leadflow.engine.routing import import_accounts, list_accounts, read_accounts

__all__ = ["accounts_app"]

accounts_app = typer.Typer(
    help="Accounts from the CRM that match_account routes leads to: import, list.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

AccountList = Annotated[
    str, typer.Option("--list", metavar="NAME", help="The account list (match_account.accounts).")
]


def _column(key: str) -> object:
    return typer.Option(f"--{key}-column", metavar="COLUMN", help=f"The column of each {key}.")


@accounts_app.command("import")
@handled
def accounts_import(
    file: Annotated[Path, typer.Argument(help="Accounts: CSV with a header row, or JSON lines.")],
    db: Db,
    account_list: AccountList = "default",
    replace: Annotated[
        bool, typer.Option("--replace", help="Remove the list's accounts not in the file.")
    ] = False,
    id_column: Annotated[str, _column("id")] = "id",
    name_column: Annotated[str, _column("name")] = "name",
    domain_column: Annotated[str, _column("domain")] = "domain",
    owner_column: Annotated[str, _column("owner")] = "owner",
) -> None:
    """Add or update accounts (id, name, domain or website, owner) in an account list."""
    given = {"id": id_column, "name": name_column, "domain": domain_column, "owner": owner_column}
    columns = {k: v for k, v in given.items() if v != k}
    rows = read_accounts(file, columns)
    with open_engine(db) as engine:
        done = import_accounts(
            engine.store, rows, at=engine.clock.now(), account_list=account_list, replace=replace
        )
    typer.echo(
        f"accounts in {account_list}: {done.added} added, {done.updated} updated, "
        f"{done.removed} removed"
    )


@accounts_app.command("list")
@handled
def accounts_list(db: Db, account_list: AccountList = "default", as_json: AsJson = False) -> None:
    """Show the accounts of an account list."""
    with open_engine(db) as engine:
        found = list_accounts(engine.store, account_list)
    if as_json:
        print_json(
            [{"id": a.account, "name": a.name, "domain": a.domain, "owner": a.owner} for a in found]
        )
        return
    table = Table(title=f"{len(found)} accounts in {account_list}", title_justify="left")
    for name in ("id", "name", "domain", "owner"):
        table.add_column(name, overflow="fold")
    for a in found:
        table.add_row(a.account, a.name or "-", a.domain or "-", a.owner)
    console().print(table)
