"""Lead-to-account matching: a lead whose email domain or (fuzzy) company name matches an
imported account goes to the account's owner, with the match and its score in the history;
free-mail domains never match; the rest goes by the routing rules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from leadflow.definitions import load_definition
from leadflow.engine import Engine, reports
from leadflow.engine.routing import (
    InvalidAccounts,
    dry_run,
    import_accounts,
    list_accounts,
    read_accounts,
)
from leadflow.engine.testing import ManualClock

FIXTURE = Path(__file__).parents[2] / "definitions" / "routing" / "accounts.yaml"
P = "accounts"
MON = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
CRM = [
    {"id": "001", "name": "Acme Inc.", "domain": "https://www.acme.com/about", "owner": "zoe"},
    {"id": "002", "name": "Initech LLC", "domain": None, "owner": "yan"},
    {"id": "003", "name": "Globex Corporation", "domain": "globex.io", "owner": "xia"},
]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The accounts process with the crm list imported: SQLite, then PostgreSQL."""
    clock = ManualClock(MON)
    with Engine(db_url, clock=clock, create=True) as e:
        e.deploy(FIXTURE)
        import_accounts(e.store, CRM, at=MON, account_list="crm")
        yield e


def start(engine: Engine, lead_id: str, email: str, **data: Any) -> str:
    """Start a lead; its owner."""
    return engine.start(P, lead_id, {"email": email, **data}).owner or ""


def test_an_email_domain_match_goes_to_the_account_owner_with_the_score(engine: Engine) -> None:
    """ana@acme.com goes to zoe, Acme's owner; the history says which account, on what, how
    sure; the decision is recorded as @account (not a team's turn)."""
    assert start(engine, "l1", "ana@ACME.com") == "zoe"
    reason = engine.history(P, "l1")[0].details["reason"]
    assert reason == "account match: email domain acme.com = Acme Inc. (001), score 1.00"
    with engine.store.transaction("routes") as tx:
        tx.cur.execute("SELECT team, owner FROM lf_routes")
        assert tx.cur.fetchall() == [("@account", "zoe")]


def test_subdomains_match_their_parent_and_free_mail_never_matches(engine: Engine) -> None:
    """eu.acme.com is Acme; gmail.com and the definition's own free-mail domain go by the rules."""
    assert start(engine, "l1", "bo@eu.acme.com") == "zoe"
    assert start(engine, "l2", "acme.fan@gmail.com") == "ana"
    assert start(engine, "l3", "x@mail.example.org") == "ben"
    assert engine.history(P, "l2")[0].details["reason"] == "round robin in sdr (routing rule 1)"


def test_company_names_match_normalised_and_fuzzy(engine: Engine) -> None:
    """'The INITECH, L.L.C.' equals Initech (1.00); 'Initec' is close enough at fuzzy 0.9
    (0.92); 'Initiative' is not; a domain match comes before the name."""
    assert start(engine, "l1", "a@x.test", company="The INITECH, L.L.C.") == "yan"
    assert engine.history(P, "l1")[0].details["reason"].endswith("score 1.00")
    assert start(engine, "l2", "b@x.test", company="Initec") == "yan"
    assert engine.history(P, "l2")[0].details["reason"] == (
        "account match: company name initec = Initech LLC (002), score 0.92"
    )
    assert start(engine, "l3", "c@x.test", company="Initiative") == "ana"
    assert start(engine, "l4", "d@globex.io", company="Initech") == "xia"


def test_exact_names_only_by_default(db_url: str) -> None:
    """Without fuzzy (1.0), 'Initec' matches nothing and goes by the rules."""
    text = FIXTURE.read_text().replace("  fuzzy: 0.9\n", "")
    with Engine(db_url, clock=ManualClock(MON), create=True) as engine:
        engine.deploy(load_definition(text))
        import_accounts(engine.store, CRM, at=MON, account_list="crm")
        assert start(engine, "l1", "b@x.test", company="Initec") == "ana"
        assert start(engine, "l2", "b@x.test2", company="initech") == "yan"


def test_a_pass_never_returns_the_lead_to_the_account_owner(engine: Engine) -> None:
    """zoe passes an Acme lead: the rules route it, noting the match they could not use."""
    assert start(engine, "l1", "ana@acme.com") == "zoe"
    lead = engine.pass_lead(P, "l1", "conflict of interest", actor="zoe")
    assert lead.owner == "ana"
    reason = engine.history(P, "l1")[-1].details["reason"]
    assert "but zoe is the current owner" in reason


def test_new_accounts_are_seen_at_once_and_replace_removes(engine: Engine) -> None:
    """An import after routing started is used by the next lead; --replace drops the rest."""
    assert start(engine, "l1", "a@x.test", company="Hooli") == "ana"
    done = import_accounts(
        engine.store,
        [{"id": "004", "name": "Hooli", "owner": "wes"}, {**CRM[0], "owner": "vic"}],
        at=MON + timedelta(hours=1),
        account_list="crm",
    )
    assert (done.added, done.updated, done.removed) == (1, 1, 0)
    assert start(engine, "l2", "b@x.test", company="hooli inc") == "wes"
    assert start(engine, "l3", "c@acme.com") == "vic"
    done = import_accounts(engine.store, CRM[:1], at=MON, account_list="crm", replace=True)
    assert (done.added, done.updated, done.removed) == (0, 1, 3)
    assert [a.account for a in list_accounts(engine.store, "crm")] == ["001"]
    assert start(engine, "l4", "d@x.test", company="Hooli") == "ben"


def test_bad_accounts_are_all_listed_and_nothing_is_written(engine: Engine) -> None:
    """Rows without an id or owner, with a bad domain, or naming nothing are refused together."""
    bad = [
        {"id": "", "name": "A", "owner": "o"},
        {"id": "9", "name": "B", "domain": "not a site", "owner": "o"},
        {"id": "10", "owner": "o"},
        {"id": "11", "name": "C"},
        {"id": "12", "name": "D", "owner": "o"},
    ]
    with pytest.raises(InvalidAccounts) as caught:
        import_accounts(engine.store, bad, at=MON, account_list="crm")
    text = str(caught.value)
    assert text.startswith("4 bad accounts, nothing imported: account 1: id:")
    assert "account 2: domain: 'not a site' is not a domain" in text
    assert "account 3: give a name or a domain" in text
    assert "account 4: owner:" in text
    assert len(list_accounts(engine.store, "crm")) == 3
    with pytest.raises(InvalidAccounts, match="account list 'no way'"):
        import_accounts(engine.store, CRM, at=MON, account_list="no way")


def test_accounts_from_a_file_and_in_the_dry_run_and_fairness_report(
    engine: Engine, tmp_path: Path
) -> None:
    """A CSV with a website column imports; the dry run shows the match; the fairness report
    has an @account row per owner."""
    path = tmp_path / "accounts.csv"
    path.write_text("id,name,website,owner\n005,Umbrella plc,umbrella.co.uk,uma\n")
    import_accounts(engine.store, read_accounts(path), at=MON, account_list="crm")
    leads = [("n1", {"email": "q@umbrella.co.uk"}), ("n2", {"email": "q@x.test"})]
    got = dry_run(engine.store, engine.definition(P), leads, MON)
    assert [(r.team, r.owner) for r in got] == [("@account", "uma"), ("sdr", "ana")]
    assert got[0].account is not None
    assert got[0].account.score == 1.0
    assert got[0].as_dict()["account"]["account"] == "005"
    start(engine, "l1", "a@acme.com")
    rows = {(r.team, r.member): r.assigned for r in reports.fairness(engine, P).rows}
    assert rows[("@account", "zoe")] == 1


def test_a_reroute_keeps_a_lead_with_its_account_owner(db_url: str) -> None:
    """A segment change that reroutes leads leaves an Acme lead with zoe, Acme's owner; a lead
    of no account is rerouted by the rules as usual."""
    text = FIXTURE.read_text().replace("stages:\n", "reroute:\n  - {on: [segment]}\nstages:\n", 1)
    with Engine(db_url, clock=ManualClock(MON), create=True) as engine:
        engine.deploy(load_definition(text))
        import_accounts(engine.store, CRM, at=MON, account_list="crm")
        assert start(engine, "l1", "ana@acme.com") == "zoe"
        assert engine.update(P, "l1", {"segment": "enterprise"}).owner == "zoe"
        assert [e.kind for e in engine.history(P, "l1")] == ["started", "updated"]
