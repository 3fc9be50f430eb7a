"""``leadflow accounts import|list`` and the account match in ``leadflow route --dry-run``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from leadflow.cli import app
from leadflow.engine import Engine

ACCOUNTS = Path(__file__).parents[1] / "definitions" / "routing" / "accounts.yaml"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "80"})
    return result.exit_code, result.stdout, result.stderr


def test_import_list_and_route_to_the_account_owner(tmp_path: Path) -> None:
    """Accounts imported from a CSV with its own column names are listed and matched by the
    dry run (rule column ``acct``, the match and its score in why)."""
    url = f"sqlite:///{tmp_path / 'lf.db'}"
    with Engine(url) as engine:
        engine.deploy(ACCOUNTS)
    crm = tmp_path / "crm.csv"
    crm.write_text(
        "Account ID,Account Name,Website,Account Owner\n001,Acme Inc.,www.acme.com,zoe\n"
    )
    columns = ["--id-column", "Account ID", "--name-column", "Account Name"]
    columns += ["--domain-column", "Website", "--owner-column", "Account Owner"]
    code, out, err = run("accounts", "import", str(crm), "--db", url, "--list", "crm", *columns)
    assert code == 0, err
    assert out.strip() == "accounts in crm: 1 added, 0 updated, 0 removed"
    code, out, _ = run("accounts", "list", "--db", url, "--list", "crm", "--json")
    assert json.loads(out) == [
        {"id": "001", "name": "Acme Inc.", "domain": "acme.com", "owner": "zoe"}
    ]
    leads = tmp_path / "leads.csv"
    leads.write_text("lead_id,email\nl1,ana@acme.com\nl2,bo@x.test\n")
    code, out, err = run("route", str(ACCOUNTS), str(leads), "--dry-run", "--db", url)
    assert code == 0, err
    assert "acct" in out
    assert "zoe" in out
    assert "account match: email domain acme.com" in " ".join(out.split())


def test_a_bad_accounts_file_changes_nothing(tmp_path: Path) -> None:
    """An account without an owner fails the whole import with the row named."""
    url = f"sqlite:///{tmp_path / 'lf.db'}"
    with Engine(url) as engine:
        engine.deploy(ACCOUNTS)
    crm = tmp_path / "crm.csv"
    crm.write_text("id,name,domain,owner\n001,Acme,acme.com,zoe\n002,Initech,,\n")
    code, _, err = run("accounts", "import", str(crm), "--db", url, "--list", "crm")
    assert code == 1
    assert "1 bad accounts, nothing imported: account 2: owner:" in " ".join(err.split())
    code, out, _ = run("accounts", "list", "--db", url, "--list", "crm")
    assert "0 accounts in crm" in out
