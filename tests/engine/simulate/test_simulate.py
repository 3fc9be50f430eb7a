"""``leadflow simulate``: generated and replayed leads on simulated time.

Small runs (a few hundred leads) of the shipped inbound-lead process with the example generator
spec, the Maven CRM sample replayed with the example spec, a hand-written JSONL event history,
spec errors with their positions, and the CLI through typer's runner.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from leadflow.cli._simulate import simulate_command
from leadflow.definitions import library_path
from leadflow.engine import Engine
from leadflow.engine.simulate import (
    GeneratorSpec,
    SpecError,
    compare,
    load_spec,
    parse_spec,
    simulate,
)

ROOT = Path(__file__).parents[3]
EXAMPLES = ROOT / "examples" / "simulate"
MAVEN_CSV = Path("/work/shared/datasets/maven_crm_sales_opportunities/sales_pipeline.csv")
INBOUND = library_path("inbound-lead")


def generator(leads: int = 120, **reps: str) -> GeneratorSpec:
    """The example generator spec with fewer leads and, optionally, other default response."""
    spec = load_spec(EXAMPLES / "inbound-generator.yaml")
    assert isinstance(spec, GeneratorSpec)
    update: dict[str, object] = {"leads": leads}
    if reps:
        text = (
            "generator: {leads: 1, arrivals: {per_hour: 1}, reps: {default: {response: "
            f"{{dist: lognormal, median: {reps['median']}, sigma: 0.5}}}}}}}}"
        )
        other = parse_spec(text)
        assert isinstance(other, GeneratorSpec)
        update["reps"] = other.reps
    return spec.model_copy(update=update)


def test_same_seed_same_result_other_seed_differs() -> None:
    """Two runs with one seed report identical figures; another seed reports other figures."""
    spec = generator(100)
    a = simulate(INBOUND, spec, seed=5)
    b = simulate(INBOUND, spec, seed=5)
    c = simulate(INBOUND, spec, seed=6)
    assert a.metrics() == b.metrics()
    assert a.leads == 100
    assert a.metrics() != c.metrics()


def test_progress_advances_with_simulated_time_and_is_full_only_at_the_end() -> None:
    """progress(done, total) follows simulated time: one total, never backwards, many steps,
    and full only once, when the run is over (it used to count leads started, which reach the
    total at the last arrival while days of calls and SLA sweeps still follow)."""
    seen: list[tuple[int, int]] = []
    result = simulate(INBOUND, generator(120), seed=3, progress=lambda d, t: seen.append((d, t)))
    totals = {t for _, t in seen}
    assert len(totals) == 1
    total = totals.pop()
    span = (result.ended_at - result.started_at).total_seconds() // 3600
    assert total == span
    done = [d for d, _ in seen]
    assert done == sorted(done)
    assert seen[-1] == (total, total)
    assert done.count(total) == 1
    assert len(set(done)) > 20


def test_slower_reps_breach_speed_to_call_more_often_and_compare_says_so() -> None:
    """Reps answering in about 30 minutes breach the 5-minute SLA far more often than reps
    answering in about 1 minute; compare() reports a positive breach-rate delta."""
    fast = simulate(INBOUND, generator(120, median="1m"), seed=2)
    slow = simulate(INBOUND, generator(120, median="30m"), seed=2)

    def rate(result: object) -> float:
        sla = {s.policy: s for s in result.sla}  # type: ignore[attr-defined]
        value = sla["speed_to_call"].breach_rate
        assert value is not None
        return float(value)

    assert rate(slow) > rate(fast) + 0.3
    deltas = {d.metric: d for d in compare(fast, slow)}
    delta = deltas["sla speed_to_call breach rate"].delta
    assert delta is not None
    assert delta > 0.3
    assert slow.reassignments > fast.reassignments


def test_each_lead_changes_in_time_order_and_reassigned_leads_are_called_by_the_new_owner(
    tmp_path: Path,
) -> None:
    """In a file database: every lead's history is in time order, and after an SLA mark gives a
    lead to another rep, the next call on it is that rep's."""
    url = f"sqlite:///{tmp_path / 'sim.db'}"
    result = simulate(INBOUND, generator(80, median="20m"), seed=3, db=url)
    assert result.reassignments > 0
    with Engine(url) as engine:
        checked = 0
        for n in range(1, 81):
            history = engine.history("inbound-lead", f"sim-{n:07d}")
            times = [h.at for h in history]
            assert times == sorted(times)
            owner = None
            for h in history:
                if h.kind == "sla" and h.details.get("owner"):
                    owner = h.details["owner"]
                elif owner is not None and h.kind == "activity":
                    assert h.actor == owner
                    checked += 1
                    owner = None
        assert checked > 0


def maven_spec() -> object:
    """The example Maven replay spec (skip when the sample is not on this machine)."""
    if not MAVEN_CSV.exists():
        pytest.skip(f"the Maven CRM sample is not at {MAVEN_CSV}")
    spec = load_spec(EXAMPLES / "maven.yaml")
    return spec.model_copy(update={"path": MAVEN_CSV})


@pytest.mark.slow
def test_maven_replay_stage_counts_match_the_csv() -> None:
    """After replaying the 8,800 opportunities, leads per stage equal the CSV's deal_stage
    counts, every engaged deal went through engaging, nothing was refused and every undated
    prospect is reported."""
    spec = maven_spec()
    with MAVEN_CSV.open(newline="", encoding="utf-8") as f:
        counts = Counter(r["deal_stage"] for r in csv.DictReader(f))
    result = simulate(EXAMPLES / "maven-crm.yaml", spec)  # type: ignore[arg-type]
    names = {"Prospecting": "prospecting", "Engaging": "engaging", "Won": "won", "Lost": "lost"}
    assert result.stages == {names[k]: v for k, v in counts.items()}
    assert result.leads == 8800
    assert result.refused == {}
    # prospects carry no date: each is reported as started at the end of the data
    assert result.adjusted == {"undated-start": counts["Prospecting"]}
    engaged = {s.to: s.reached for s in result.funnel}["engaging"]
    assert engaged == 8800 - counts["Prospecting"]
    assert result.sla[0].breached > 0


def test_jsonl_events_replay_stage_changes_and_activities(tmp_path: Path) -> None:
    """A long-format history: calls are recorded (so the contact guard passes), stage events
    move leads along the definition's path, and a refused change is counted."""
    rows = [
        {"id": "a", "t": "2026-02-02T15:00:00Z", "type": "created", "email": "a@x.io"},
        {"id": "a", "t": "2026-02-02T15:02:00Z", "type": "dial"},
        {"id": "a", "t": "2026-02-02T15:03:00Z", "type": "Contacted"},
        {"id": "b", "t": "2026-02-02T16:00:00Z", "type": "created", "email": "b@x.io"},
        {"id": "b", "t": "2026-02-02T16:30:00Z", "type": "Contacted"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    spec = parse_spec(
        f"""replay:
  path: {path}
  lead_id: id
  events: {{time: t, type: type}}
  stages: {{Contacted: contacted}}
  activities: {{dial: call}}
  fields: {{email: email}}
  owner: rep
"""
    )
    result = simulate(INBOUND, spec)
    assert result.leads == 2
    assert result.stages["contacted"] == 1
    assert result.stages["new"] == 1
    assert result.refused == {"fire contact": 1}  # b was never called: the guard refuses


def test_spec_problems_name_file_line_column_and_what_is_allowed(tmp_path: Path) -> None:
    """Malformed specs fail with every problem located; a spec that does not fit the
    definition names the unknown trigger and the allowed ones."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "generator:\n  leads: 0\n  arrivals: {per_hour: 5, profile: nightly}\n  colour: red\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError) as info:
        load_spec(bad)
    text = [str(p) for p in info.value.problems]
    assert any(t.startswith(f"{bad}:2:3: generator.leads") for t in text)
    assert any(":3:" in t and "'flat' or 'business'" in t for t in text)
    assert any(":4:3: generator.colour" in t for t in text)
    spec = parse_spec(
        "generator:\n  leads: 3\n  arrivals: {per_hour: 5}\n"
        "  stages:\n    new: {outcomes: [{trigger: contakt}]}\n",
        "typo.yaml",
    )
    with pytest.raises(SpecError, match=r"typo.yaml:5:.*'contakt' is not a trigger \(contact"):
        simulate(INBOUND, spec)
    with pytest.raises(SpecError, match="exactly one of the keys replay or generator"):
        parse_spec("{}")


def app() -> typer.Typer:
    """A typer app with the command wired the way cli.py wires it."""
    application = typer.Typer()
    application.command("simulate")(simulate_command)
    application.command("other")(lambda: None)
    return application


def test_cli_table_json_compare_and_errors(tmp_path: Path) -> None:
    """The CLI prints a table, JSON with deltas for --compare (no progress bar in it), and one
    error line for a bad spec or format."""
    runner = CliRunner()
    spec = EXAMPLES / "inbound-generator.yaml"
    args = ["simulate", str(INBOUND), "--spec", str(spec), "--leads", "40", "--no-progress"]
    table = runner.invoke(app(), args)
    assert table.exit_code == 0, table.output
    assert "sla speed_to_call breach rate" in table.output
    faster = tmp_path / "faster.yaml"
    faster.write_text(
        INBOUND.read_text(encoding="utf-8")
        .replace("target: 5m business", "target: 15m business")
        .replace("at: 10m business", "at: 20m business"),
        encoding="utf-8",
    )
    both = runner.invoke(app(), [*args[:-1], "--compare", str(faster), "--format", "json"])
    assert both.exit_code == 0, both.output
    out = json.loads(both.stdout)
    deltas = {d["metric"]: d for d in out["deltas"]}
    assert deltas["sla speed_to_call breach rate"]["delta"] < 0
    assert out["a"]["leads"] == out["b"]["leads"] == 40
    broken = tmp_path / "broken.yaml"
    broken.write_text("generator: {leads: x}\n", encoding="utf-8")
    bad = runner.invoke(app(), ["simulate", str(INBOUND), "--spec", str(broken)])
    assert bad.exit_code == 1
    assert "error: the spec has" in bad.output
    assert "Traceback" not in bad.output
    wrong = runner.invoke(app(), [*args, "--format", "xml"])
    assert wrong.exit_code == 1
    assert "error: --format must be table or json" in wrong.output


def test_generated_text_is_typed_by_the_field_it_fills() -> None:
    """``choice:`` keys are text in YAML; an integer field gets whole numbers, so no start is
    refused for a type (it was every start before)."""
    spec = generator(40).model_copy(
        update={"data": {"email": "l{n}@x.io", "score": {"choice": {"90": 1, "45": 1}}}}
    )
    result = simulate(INBOUND, spec, seed=4)
    assert result.leads == 40
    assert "start" not in result.refused


def test_refusals_come_with_their_reasons_and_an_example(tmp_path: Path) -> None:
    """Starts the field contract refuses are counted by error code with the first message, and
    the CLI prints them under the figures."""
    spec = generator(30).model_copy(
        update={"data": {"email": "l{n}@x.io", "score": {"choice": {"ninety": 1, "50": 1}}}}
    )
    result = simulate(INBOUND, spec, seed=4)
    (row,) = [r for r in result.refusals if r.change == "start"]
    assert row.code == "invalid-data"
    assert row.count == result.refused["start"] > 0
    assert "score" in row.example
    assert row.example.startswith("sim-")
    assert result.as_dict()["refusals"][0]["code"]  # JSON carries them too
    text = (EXAMPLES / "inbound-generator.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("{uniform: [40, 99]}", '{choice: {ninety: 1, "50": 1}}'))
    args = ["simulate", str(INBOUND), "--spec", str(bad), "--leads", "30", "--no-progress"]
    shown = CliRunner().invoke(app(), args, terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "refused changes, by reason" in shown.output
    assert "invalid-data" in shown.output


def test_batch_releases_run_in_simulated_time(tmp_path: Path) -> None:
    """Leads routed to a team held for a weekly release wait in its queue until Sunday 18:00
    New York time in the simulation too; then the release deals them out."""
    release = Path(__file__).parents[2] / "definitions" / "sla" / "release.yaml"
    spec = parse_spec(
        "generator:\n"
        "  leads: 12\n"
        "  start: 2026-01-05T15:00:00Z\n"
        "  arrivals: {per_hour: 1, profile: flat}\n"
        "  horizon: 8d\n"
        '  data: {email: "l{n}@x.io"}\n'
    )
    url = f"sqlite:///{tmp_path / 'sim.db'}"
    result = simulate(release, spec, seed=2, db=url)
    assert result.leads == 12
    assert result.schedule_runs >= 1
    with Engine(url) as engine:
        owners = Counter(engine.get("sla-release", f"sim-{n:07d}").owner for n in range(1, 13))
        released = [h for h in engine.history("sla-release", "sim-0000001") if h.kind == "assigned"]
    assert set(owners) == {"xena", "yuri"}  # nobody left waiting in queue:ae
    assert released[0].actor == "schedule:weekly_release"
    assert released[0].at == datetime(2026, 1, 11, 23, 0, tzinfo=UTC)
