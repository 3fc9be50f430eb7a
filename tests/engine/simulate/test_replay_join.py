"""Replays from several CSV files joined on a key, with every adjusted row reported.

Small hand-made files shaped like the Olist marketing funnel (qualified leads in one file,
closed deals in another) give exact assertions: which leads are won, which rows were adjusted
and how, which bad rows stop the replay (and that nothing was written then). The real Olist
files are replayed too when they are in shared/datasets.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from leadflow.definitions import library_path
from leadflow.engine import Engine
from leadflow.engine.simulate import (
    ReplayDataError,
    ReplaySpec,
    SpecError,
    load_spec,
    parse_spec,
    simulate,
)

ROOT = Path(__file__).parents[3]
EXAMPLES = ROOT / "examples" / "simulate"
FUNNEL = EXAMPLES / "olist-funnel.yaml"
INBOUND = library_path("inbound-lead")
DATASETS = Path("/work/shared/datasets")

LEADS = """mql_id,first_contact_date,landing_page_id,origin
a,2018-02-01,lp1,social
b,2018-02-03,lp2,email
c,2018-02-05,lp1,organic_search
d,2018-02-07,lp3,
e,2018-02-09,lp3,paid_search
"""
DEALS = """mql_id,sr_id,won_date,business_segment,declared_monthly_revenue
a,rep1,10/02/2018 14:30,pet,1000
b,rep2,01/02/2018 09:00,toys,0
c,rep1,20/02/2018 10:00,pet,
c,rep2,21/02/2018 10:00,toys,5
z,rep1,01/03/2018 10:00,pet,
"""
SPEC = """replay:
  path: leads.csv
  join:
    - path: deals.csv
      on: mql_id
  lead_id: mql_id
  created: [first_contact_date]
  stage_times: {won: won_date}
  owner: sr_id
  fields: {origin: origin, landing_page: landing_page_id}
  stage_fields:
    won: {business_segment: business_segment, declared_monthly_revenue: declared_monthly_revenue}
  time_formats: {won_date: "%d/%m/%Y %H:%M"}
  timezone: America/Sao_Paulo
"""


def funnel_spec(folder: Path, deals: str = DEALS, extra: str = "") -> ReplaySpec:
    """The spec above, with its two CSV files written into ``folder``."""
    (folder / "leads.csv").write_text(LEADS, encoding="utf-8")
    (folder / "deals.csv").write_text(deals, encoding="utf-8")
    path = folder / "spec.yaml"
    path.write_text(SPEC + extra, encoding="utf-8")
    spec = load_spec(path)
    assert isinstance(spec, ReplaySpec)
    return spec


def test_two_files_joined_on_a_key_and_every_adjusted_row_reported(tmp_path: Path) -> None:
    """Deals join onto their leads (left join): a, b and c are won, d and e stay MQLs; the deal
    won two days before its first contact is played at the contact and reported, the second
    deal of c and the deal of an unknown lead are left out and reported with file:row."""
    url = f"sqlite:///{tmp_path / 'olist.db'}"
    result = simulate(FUNNEL, funnel_spec(tmp_path), db=url)
    assert result.leads == 5
    assert result.stages == {"mql": 2, "won": 3, "lost": 0}
    assert result.refused == {}
    assert result.adjusted == {
        "before-created": 1,
        "duplicate-join-key": 1,
        "unmatched-join-row": 1,
    }
    by_kind = {a.kind: a for a in result.adjustments}
    early = by_kind["before-created"]
    assert (early.row, early.lead_id, early.column, early.value) == (
        "deals.csv:3",
        "b",
        "won_date",
        "01/02/2018 09:00",
    )
    assert "is 1d15h before created (first_contact_date" in early.detail
    assert by_kind["duplicate-join-key"].row == "deals.csv:5"
    assert "deals.csv:4" in by_kind["duplicate-join-key"].detail
    assert (by_kind["unmatched-join-row"].row, by_kind["unmatched-join-row"].lead_id) == (
        "deals.csv:6",
        "z",
    )
    with Engine(url) as engine:
        b = engine.get("olist-funnel", "b")
        assert b.stage == "won"
        assert b.owner == "rep2"
        (won,) = [h for h in engine.history("olist-funnel", "b") if h.to_stage == "won"]
        assert won.at.isoformat() == "2018-02-03T02:00:00+00:00"  # midnight in Sao Paulo
        c = engine.get("olist-funnel", "c")
        assert c.data["business_segment"] == "pet"  # the first deal row of c
        assert "declared_monthly_revenue" not in c.data  # empty in that row: left unset
        a = engine.get("olist-funnel", "a")
        assert a.data["declared_monthly_revenue"] == 1000.0
        assert engine.get("olist-funnel", "d").data == {"landing_page": "lp3"}


def test_bad_rows_are_located_and_nothing_is_written(tmp_path: Path) -> None:
    """An unreadable date and a revenue that is not a number stop the replay before the
    database exists, each named with the file and line that holds it."""
    deals = DEALS.replace("10/02/2018 14:30", "yesterday").replace(",toys,0", ",toys,lots")
    db = tmp_path / "never.db"
    with pytest.raises(ReplayDataError) as info:
        simulate(FUNNEL, funnel_spec(tmp_path, deals), db=f"sqlite:///{db}")
    text = [str(p) for p in info.value.problems]
    assert len(text) == 2
    assert text[0].startswith(f"{tmp_path / 'deals.csv'}:2:1: column won_date: 'yesterday'")
    assert "format %d/%m/%Y %H:%M" in text[0]
    assert text[1].startswith(f"{tmp_path / 'deals.csv'}:3:1: column declared_monthly_revenue")
    assert "'lots' is not a number" in text[1]
    assert not db.exists()


def test_bad_rows_skip_leaves_them_out_and_reports_them(tmp_path: Path) -> None:
    """With ``bad_rows: skip`` the same rows are left out (their leads with them) and listed
    under their kind; the other leads replay."""
    deals = DEALS.replace("10/02/2018 14:30", "yesterday").replace(",toys,0", ",toys,lots")
    result = simulate(FUNNEL, funnel_spec(tmp_path, deals, "  bad_rows: skip\n"))
    assert result.leads == 3
    assert result.stages == {"mql": 2, "won": 1, "lost": 0}
    assert {(a.kind, a.row, a.lead_id) for a in result.adjustments} >= {
        ("bad-time", "deals.csv:2", "a"),
        ("bad-value", "deals.csv:3", "b"),
    }
    assert result.metrics()["adjusted rows"] == len(result.adjustments) == 4


def test_wide_rows_with_a_stage_report_missing_and_out_of_order_times(tmp_path: Path) -> None:
    """With a stage column: a won deal with no close date is closed at its engage time and an
    engage date after the close date is played at the close, both reported; a lead id seen
    twice keeps its first row; a stage the spec does not know is a located error."""
    rows = (
        "id,stage,engaged,closed\n"
        "w1,Won,2017-01-02,\n"
        "w2,Won,2017-01-09,2017-01-05\n"
        "w1,Lost,2017-01-03,2017-01-04\n"
        "p1,Engaging,2017-01-01,\n"
    )
    data = tmp_path / "deals.csv"
    data.write_text(rows, encoding="utf-8")
    text = (
        "replay:\n  path: deals.csv\n  lead_id: id\n  created: [engaged]\n  stage: stage\n"
        "  stages: {Engaging: engaging, Won: won, Lost: lost}\n"
        "  stage_times: {engaging: engaged, won: closed, lost: closed}\n"
    )
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(text, encoding="utf-8")
    result = simulate(EXAMPLES / "maven-crm.yaml", load_spec(spec_file))
    assert result.stages == {"prospecting": 0, "engaging": 1, "won": 2, "lost": 0}
    found = {(a.kind, a.row, a.lead_id, a.column) for a in result.adjustments}
    assert found == {
        ("missing-time", "deals.csv:2", "w1", "closed"),
        ("out-of-order", "deals.csv:3", "w2", "closed"),
        ("duplicate-lead", "deals.csv:4", "w1", "id"),
    }
    data.write_text(rows + "x1,Dormant,2017-01-01,\n", encoding="utf-8")
    with pytest.raises(ReplayDataError, match=r"deals.csv:6:1: column stage: 'Dormant' is not"):
        simulate(EXAMPLES / "maven-crm.yaml", load_spec(spec_file))


def test_join_spec_mistakes_are_located(tmp_path: Path) -> None:
    """A join without a key, a time format that is no format, columns that clash and columns
    no file has (a misspelt one would read as empty in every row) are reported with the spec
    file's line and column, the clash naming prefix: and a typo the closest column."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "replay:\n  path: a.csv\n  join:\n    - path: b.csv\n      on: []\n"
        "  lead_id: id\n  created: [t]\n  stage_times: {won: w}\n"
        "  time_formats: {w: dd/mm/yyyy}\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError) as info:
        load_spec(bad)
    text = [str(p) for p in info.value.problems]
    assert any(t.startswith(f"{bad}:4:7: replay.join.0: on: name at least one key") for t in text)
    shape = "replay:\n  path: a.csv\n  join: [{path: b.csv, on: 5}]\n  lead_id: id\n"
    with pytest.raises(SpecError, match=r"^s.yaml:3:24: replay.join.0.on: give a column, a list"):
        parse_spec(shape + "  created: [t]\n  stage_times: {won: w}\n", "s.yaml")
    formats = f"{bad}:9:3: replay.time_formats"
    assert any(t.startswith(formats) and "'dd/mm/yyyy'" in t for t in text)
    clash = DEALS.replace("business_segment", "origin")
    with pytest.raises(SpecError) as info:
        simulate(FUNNEL, funnel_spec(tmp_path, clash))
    spec = tmp_path / "spec.yaml"
    assert [str(p) for p in info.value.problems] == [
        f"{spec}:5:7: replay.join.0.on: column 'origin' of deals.csv is also in the rows it "
        "joins onto; set prefix: to tell them apart",
        f"{spec}:12:11: replay.stage_fields.won.business_segment: 'business_segment' is not a "
        "column of leads.csv or deals.csv (mql_id, first_contact_date, landing_page_id, origin, "
        "sr_id, won_date, declared_monthly_revenue)",
    ]
    typo = SPEC.replace("{won: won_date}", "{won: won_dat}").replace("on: mql_id", "on: mqlid")
    (tmp_path / "spec.yaml").write_text(typo, encoding="utf-8")
    (tmp_path / "deals.csv").write_text(DEALS, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        simulate(FUNNEL, load_spec(spec))
    assert [str(p) for p in info.value.problems] == [
        f"{spec}:5:7: replay.join.0.on: 'mqlid' is not a column of leads.csv; did you mean "
        "'mql_id'?",
        f"{spec}:5:7: replay.join.0.on: 'mqlid' is not a column of deals.csv; did you mean "
        "'mql_id'?",
        f"{spec}:8:17: replay.stage_times.won: 'won_dat' is not a column of leads.csv or "
        "deals.csv; did you mean 'won_date'?",
    ]
    missing = funnel_spec(tmp_path).model_copy(update={"join": []})
    with pytest.raises(SpecError, match=r"spec.yaml:8:17: replay.stage_times.won: 'won_date' is "):
        simulate(FUNNEL, missing)  # without the join, won_date would be empty on every row


def olist_files() -> tuple[Path, Path]:
    """The real Olist marketing funnel files in shared/datasets (any folder), or a skip."""
    for leads in sorted(DATASETS.glob("*/olist_marketing_qualified_leads_dataset.csv")):
        deals = leads.parent / "olist_closed_deals_dataset.csv"
        if deals.exists():
            return leads, deals
    pytest.skip(
        f"the Olist marketing funnel files (olist_marketing_qualified_leads_dataset.csv and "
        f"olist_closed_deals_dataset.csv) are not in a folder of {DATASETS}"
    )


@pytest.mark.slow
def test_olist_funnel_replays_every_lead_and_reports_its_adjustments() -> None:
    """The example spec on the real files: one lead per MQL row, one won lead per closed deal
    row, and every deal won before its first contact reported, never moved in silence."""
    leads, deals = olist_files()
    spec = load_spec(EXAMPLES / "olist.yaml")
    assert isinstance(spec, ReplaySpec)
    join = spec.join[0].model_copy(update={"path": deals})
    spec = spec.model_copy(update={"path": leads, "join": [join]})
    with leads.open(newline="", encoding="utf-8") as f:
        mqls = {r["mql_id"]: r["first_contact_date"] for r in csv.DictReader(f)}
    with deals.open(newline="", encoding="utf-8") as f:
        won = {r["mql_id"]: r["won_date"] for r in csv.DictReader(f)}
    result = simulate(FUNNEL, spec)
    assert result.leads == len(mqls)
    assert result.stages["won"] == len(won.keys() & mqls.keys())
    early = {m for m, w in won.items() if m in mqls and w[:10] < mqls[m]}
    counts = Counter(a.kind for a in result.adjustments)
    assert {a.lead_id for a in result.adjustments if a.kind == "before-created"} == early
    assert counts["unmatched-join-row"] == len(won.keys() - mqls.keys())


def test_activity_times_record_the_first_contact_in_time_order(tmp_path: Path) -> None:
    """A call column records a call at its time, before a stage change at the same time: the
    lead called before (or as) it was contacted moves on, the one never called or called only
    after its contact time is refused, and a call before the creation is reported."""
    data = tmp_path / "leads.csv"
    data.write_text(
        "id,email,created,called,contacted\n"
        "a,a@x.io,2026-02-02T15:00:00Z,2026-02-02T15:00:00Z,2026-02-02T15:00:00Z\n"
        "b,b@x.io,2026-02-02T16:00:00Z,,2026-02-02T16:30:00Z\n"
        "c,c@x.io,2026-02-02T17:00:00Z,2026-02-02T18:00:00Z,2026-02-02T17:30:00Z\n"
        "d,d@x.io,2026-02-02T19:00:00Z,2026-02-01T19:00:00Z,2026-02-02T19:30:00Z\n",
        encoding="utf-8",
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "replay:\n  path: leads.csv\n  lead_id: id\n  created: [created]\n"
        "  stage_times: {contacted: contacted}\n  activity_times: {call: called}\n"
        "  fields: {email: email}\n",
        encoding="utf-8",
    )
    result = simulate(INBOUND, load_spec(spec))
    assert result.stages["contacted"] == 2  # a and d
    assert result.refused == {"fire contact": 2}  # b never called, c called too late
    ((kind, row, lead, column),) = [
        (a.kind, a.row, a.lead_id, a.column) for a in result.adjustments
    ]
    assert (kind, row, lead, column) == ("before-created", "leads.csv:5", "d", "called")


SALESFORCE = DATASETS / "salesforce_de_sample" / "Opportunity.csv"


def test_salesforce_sample_deals_closed_before_they_were_created_are_reported(
    tmp_path: Path,
) -> None:
    """The real Salesforce sample export: its 31 opportunities replay into their stages, and
    the 18 won deals, whose close dates lie before the records' creation (the org was made
    after the demo dates), are each reported as before-created with their file:row."""
    if not SALESFORCE.exists():
        pytest.skip(f"the Salesforce sample is not at {SALESFORCE}")
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(
        f"replay:\n  path: {SALESFORCE}\n  lead_id: Id\n  created: [CreatedDate]\n"
        "  stage: StageName\n"
        "  stages: {Prospecting: prospecting, Qualification: qualification, Needs Analysis: "
        "needs_analysis, Value Proposition: value_proposition, Id. Decision Makers: "
        "decision_makers, Perception Analysis: perception_analysis, Proposal/Price Quote: "
        "proposal, Negotiation/Review: negotiation, Closed Won: won, Closed Lost: lost}\n"
        "  stage_times: {won: CloseDate, lost: CloseDate}\n"
        "  fields: {name: Name, amount: Amount, lead_source: LeadSource}\n",
        encoding="utf-8",
    )
    with SALESFORCE.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    definition = ROOT / "tests" / "definitions" / "simulate" / "salesforce-opportunity.yaml"
    result = simulate(definition, load_spec(spec_file))
    assert result.leads == len(rows) == 31
    assert result.stages["won"] == sum(r["StageName"] == "Closed Won" for r in rows) == 18
    assert result.refused == {}
    early = {
        (f"Opportunity.csv:{n}", r["Id"])
        for n, r in enumerate(rows, 2)
        if r["StageName"] == "Closed Won" and r["CloseDate"] < r["CreatedDate"]
    }
    assert len(early) == 18
    assert result.adjusted == {"before-created": 18}
    assert {(a.row, a.lead_id) for a in result.adjustments} == early


def test_steps_after_the_end_are_reported_not_dropped(tmp_path: Path) -> None:
    """With end: before some of the data, a win after it is not played and a lead created after
    it is not started; both are reported, and an end before every lead is an error."""
    spec = funnel_spec(tmp_path, extra="  end: 2018-02-08T00:00:00Z\n")
    result = simulate(FUNNEL, spec)
    assert result.leads == 4  # e (9 February) starts after the end
    ends = {(a.row, a.lead_id, a.column) for a in result.adjustments if a.kind == "after-end"}
    assert ends == {
        ("deals.csv:2", "a", "won_date"),  # won 10 February
        ("deals.csv:4", "c", "won_date"),  # won 20 February
        ("leads.csv:6", "e", "first_contact_date"),
    }
    assert result.stages["won"] == 1  # b only
    early = funnel_spec(tmp_path, extra="  end: 2017-01-01T00:00:00Z\n")
    with pytest.raises(SpecError, match=r"spec.yaml:15:3: replay.end: every lead starts after"):
        simulate(FUNNEL, early)


def test_an_integer_field_takes_whole_numbers_only(tmp_path: Path) -> None:
    """A score of 3.5 is a bad row naming its column (it was cut to 3); 4.0 is the integer 4."""
    data = tmp_path / "leads.csv"
    data.write_text(
        "id,email,created,score,contacted\n"
        "a,a@x.io,2026-02-02T15:00:00Z,3.5,\n"
        "c,c@x.io,2026-02-02T17:00:00Z,4.0,\n",
        encoding="utf-8",
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "replay:\n  path: leads.csv\n  lead_id: id\n  created: [created]\n"
        "  stage_times: {contacted: contacted}\n  fields: {email: email, score: score}\n",
        encoding="utf-8",
    )
    with pytest.raises(ReplayDataError) as info:
        simulate(INBOUND, load_spec(spec))
    assert [str(p) for p in info.value.problems] == [
        f"{data}:2:1: column score: '3.5' is not an integer (field score) (lead a)",
    ]
    data.write_text(data.read_text(encoding="utf-8").replace("3.5", "61"), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'ok.db'}"
    assert simulate(INBOUND, load_spec(spec), db=url).stages["new"] == 2
    with Engine(url) as engine:
        assert engine.get("inbound-lead", "c").data["score"] == 4
