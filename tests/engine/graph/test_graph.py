"""``leadflow graph``: annotations, formats, escaping, Graphviz, and the live heat overlay."""

from __future__ import annotations

import html
import itertools
import json
import re
import shutil
import statistics
import threading
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from leadflow.cli import app
from leadflow.definitions import load_definition
from leadflow.engine import Engine
from leadflow.engine.graph._dot import _escape as dot_escape
from leadflow.engine.graph._dot import render_dot
from leadflow.engine.graph._graphviz import GraphvizError, graphviz
from leadflow.engine.graph._heat import (
    HEAT_COLOURS,
    HeatMap,
    StageHeat,
    format_age,
    heat_buckets,
    heat_level,
    stage_heat,
)
from leadflow.engine.graph._mermaid import _mm, render_mermaid
from leadflow.engine.testing import DEFAULT_START, ManualClock

HERE = Path(__file__).parents[2]
REFERENCE = HERE / "definitions" / "reference.yaml"
LIBRARY = HERE.parent / "definitions" / "library"
INBOUND = LIBRARY / "inbound-lead.yaml"
B2B = LIBRARY / "b2b-opportunity.yaml"
CLOCKS = HERE / "definitions" / "sla" / "clocks.yaml"
PROCESS = "inbound-lead"
SVG = "{http://www.w3.org/2000/svg}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MISSING_DOT = "install Graphviz (apt install graphviz) or use --format mermaid|dot"

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is missing")

HOSTILE_TITLE = (
    "R&D \"quotes\" <script>alert(1)</script> &lt; %%{init: {'theme':'dark'}}%% # ; : "
    "back\\slash \\n 日本語 🚀"
)
HOSTILE_CEL = 'lead.note == "\\"<>&\\""'
HOSTILE = f"""
process: hostile-names
version: 3
title: {json.dumps(HOSTILE_TITLE, ensure_ascii=False)}
fields:
  note: {{type: string}}
slas:
  everywhere: {{stages: "*", target: 3d}}
stages:
  state:
    initial: true
    title: "end note"
    exit_criteria:
      - {{id: has_note, field_set: note, message: "a --> b : c"}}
  end:
    title: "}}{{ `tick` | pipe <br/> &amp; \\u00e9t\\u00e9"
  live_leads: {{}}
  won: {{closed: won, title: "Wön → 🎉"}}
  lost: {{closed: lost}}
transitions:
  - name: go
    from: state
    to: end
    guard:
      - {{id: quoted, cel: '{HOSTILE_CEL}', message: m}}
  - {{name: advance, from: end, to: live_leads}}
  - {{name: win, from: live_leads, to: won}}
  - {{name: back, from: end, to: state, backward: true}}
  - {{name: lose, from: "*", to: lost}}
  - {{name: recycle, from: lost, to: state, reopen: true}}
"""


@pytest.fixture
def runner() -> CliRunner:
    """A runner that keeps stdout and stderr apart."""
    return CliRunner()


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A definition whose titles and CEL hold every character the diagram languages parse."""
    path = tmp_path / "hostile.yaml"
    path.write_text(HOSTILE, encoding="utf-8")
    return path


def run(runner: CliRunner, *args: str, **kwargs: Any) -> Result:
    """Invoke ``leadflow`` with ``args``."""
    return runner.invoke(app, list(args), **kwargs)


def one_error(result: Result) -> str:
    """Assert a failure with exit code 1 and one ``error:`` line, no traceback; return it."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


def svg_texts(svg: str | bytes) -> list[str]:
    """The text of every ``<text>`` element of an SVG document (which must be well-formed)."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


# -- annotations -------------------------------------------------------------------------------


def test_mermaid_shows_slas_playbooks_exits_guards_and_styles() -> None:
    """Mermaid stages show titles, SLA clocks, playbook size and exits; arrows guards and marks."""
    text = render_mermaid(load_definition(INBOUND))
    assert text.startswith('---\ntitle: "Inbound lead response (inbound-lead v2)"\n---\n')
    for line in (
        "new : new",
        "won : Won#58; handed to sales",
        "new : 5% to win",
        "new : SLA speed_to_call 5m business",
        "new : SLA call_cadence 2w",
        "new : playbook#58; 3 steps",
        "contacted : exit#58; budget_known",
        "won : 100% to win, closed won",
        "new --> contacted : contact<br/>if called",
        "contacted --> qualified : qualify<br/>if score_ok [lead.score #gt;= 60]<br/>if dm_known",
        "qualified --> lost : lose<br/>if five_attempts<br/>requires lost_reason",
        "lost --> new : ⟲ recycle (reopen)<br/>if recyclable",
        "class won won",
        "class lost lost",
    ):
        assert f"    {line}\n" in text, line
    assert "contacted : SLA" not in text  # the SLAs run only in new
    assert "new : New\n" not in text  # a title that only capitalises the name is left out
    assert "heat" not in text  # no overlay without a database


def test_dot_shows_annotations_and_styles_backward_reopen_and_lost_arrows() -> None:
    """DOT nodes carry the annotations; backward, reopen and lost arrows get their own styles."""
    inbound = render_dot(load_definition(INBOUND))
    assert (
        '"new" [label="new\\n5% to win\\nSLA speed_to_call 5m business\\n'
        'SLA call_cadence 2w\\nplaybook: 3 steps", penwidth=2];'
    ) in inbound
    assert '"contacted" -> "lost" [label="lose\\nif five_attempts\\nrequires lost_reason", ' in (
        inbound
    )
    assert 'color="#b91c1c"];' in inbound
    assert '"lost" -> "new" [label="⟲ recycle (reopen)\\nif recyclable", style=dotted' in inbound
    b2b = render_dot(load_definition(B2B))
    revise = next(line for line in b2b.splitlines() if '"negotiation" -> "proposal"' in line)
    assert "↩ revise (back)" in revise
    assert "style=dashed" in revise
    assert "constraint=false" in revise
    assert "exit: owner_assigned, contact_named, meeting_booked" in b2b


def test_paused_and_wildcard_slas_are_shown_where_they_apply(hostile: Path) -> None:
    """A stage in ``pause_in`` shows the clock paused; a ``"*"`` SLA runs in every open stage."""
    clocks = render_dot(load_definition(CLOCKS))
    waiting = next(line for line in clocks.splitlines() if line.startswith('    "waiting" ['))
    assert "SLA respond paused" in waiting
    assert waiting.count("SLA respond") == 1  # paused, not also running
    working = next(line for line in clocks.splitlines() if line.startswith('    "working" ['))
    assert "SLA answer 2d" in working
    assert "SLA rot 1w3d" in working
    text = render_dot(load_definition(hostile))
    for stage in ("state", "end", "live_leads"):
        node = next(line for line in text.splitlines() if line.startswith(f'    "{stage}" ['))
        assert "SLA everywhere 3d" in node
    closed = next(line for line in text.splitlines() if line.startswith('    "won" ['))
    assert "SLA" not in closed


def test_clock_lines_use_no_glyph_a_fresh_machine_lacks() -> None:
    """SLA clocks read ``SLA id target``: Debian's default fonts have no U+23F1/U+23F8."""
    for path in (INBOUND, B2B, CLOCKS):
        definition = load_definition(path)
        for text in (render_dot(definition), render_mermaid(definition)):
            assert "\u23f1" not in text
            assert "\u23f8" not in text
            assert all(ord(ch) < 0x2300 or ch == "\u27f2" for ch in text), path


def test_rank_direction_follows_the_stage_count() -> None:
    """Up to five stages run left to right; more (b2b-opportunity's seven) top to bottom."""
    inbound, b2b = load_definition(INBOUND), load_definition(B2B)
    assert len(inbound.stages) == 5
    assert len(b2b.stages) == 7
    assert "rankdir=LR" in render_dot(inbound)
    assert "    direction LR" in render_mermaid(inbound)
    assert "rankdir=TB" in render_dot(b2b)
    assert "    direction TB" in render_mermaid(b2b)


@needs_dot
def test_b2b_opportunity_renders_with_a_sane_aspect_ratio(tmp_path: Path) -> None:
    """The rendered b2b-opportunity PNG is no longer a 5113x479 strip."""
    png = tmp_path / "b2b.png"
    result = CliRunner().invoke(app, ["graph", str(B2B), "-f", "png", "-o", str(png)])
    assert result.exit_code == 0, result.output
    head = png.read_bytes()[16:24]
    width, height = int.from_bytes(head[:4], "big"), int.from_bytes(head[4:], "big")
    assert width / height < 3, (width, height)


def test_long_cel_guards_show_only_their_id(tmp_path: Path) -> None:
    """A guard whose CEL is longer than 32 characters shows its id alone."""
    text = REFERENCE.read_text().replace(
        'cel: "lead.score >= 60"', 'cel: "lead.score >= 60 && lead.score <= 100 && true"'
    )
    path = tmp_path / "long.yaml"
    path.write_text(text)
    dot = render_dot(load_definition(path))
    assert "if score_ok\\n" in dot
    assert "lead.score <= 100" not in dot


def test_docs_show_the_current_mermaid_of_the_shipped_inbound_lead() -> None:
    """docs/graph.md holds exactly what ``leadflow graph`` draws for the shipped inbound-lead."""
    doc = (HERE.parent / "docs" / "graph.md").read_text(encoding="utf-8")
    block = doc.split("```mermaid\n", 1)[1].split("```\n", 1)[0]
    assert block == render_mermaid(load_definition(INBOUND))


# -- escaping ----------------------------------------------------------------------------------

_LABEL = r"(?:[^:;#\"<>{}`|\\]|#\w+;|<br/>)*"
"""A label: no character Mermaid parses, except entity codes and the line breaks we put."""
_MERMAID_STATEMENT = re.compile(
    r"^    (?:"
    r"direction (?:LR|TB)"
    r"|classDef \w+ [^\s]+"
    r'|state "[^"\n]*" as \w+(?: \{)?'
    r"|\[\*\] --> \w+"
    r"|\w+ --> \[\*\]"
    r"|class \w+ \w+"
    r"|\}"
    rf"|\w+ (?:--> \w+ )?: {_LABEL}"
    rf"|    \w+ : {_LABEL}"
    r")$"
)
_ENTITIES = {"lt": "<", "gt": ">", "quot": '"'}


def _mermaid_decode(text: str) -> str:
    """What Mermaid displays for an escaped label (entity codes back to characters)."""

    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        return _ENTITIES[code] if code in _ENTITIES else chr(int(code))

    return re.sub(r"#(\w+);", one, text)


def test_mermaid_escapes_hostile_titles_cel_and_keyword_names(hostile: Path) -> None:
    """Every Mermaid line stays one well-formed statement; labels decode to the original text."""
    text = render_mermaid(load_definition(hostile))
    head, body = text.split("---\nstateDiagram-v2\n")
    assert head.count("\n") == 2
    assert "%%" not in head
    assert "{" not in head.split("title:")[1]
    assert "\u2039script\u203aalert(1)\u2039/script\u203a" in head  # single angle quotes
    assert "R and D" in head
    for line in body.splitlines():
        assert _MERMAID_STATEMENT.match(line), line
    # keywords get an alias id and keep their name as the label
    assert '    state "state" as state_\n' in body
    assert '    state "end" as end_\n' in body
    assert "    [*] --> state_\n" in body
    decoded = _mermaid_decode(body)
    assert "}{ `tick` | pipe <br/> &amp; été" in decoded
    assert f"if quoted [{HOSTILE_CEL}]" in decoded
    assert "end_ --> state_ : ↩ back (back)" in decoded


@needs_dot
def test_dot_escapes_hostile_text_so_graphviz_draws_it_verbatim(hostile: Path) -> None:
    """Graphviz renders the hostile DOT, and the SVG text is exactly the definition's text."""
    definition = load_definition(hostile)
    svg = graphviz(render_dot(definition), "svg")
    texts = svg_texts(svg)
    assert f"{' '.join(HOSTILE_TITLE.split())} (hostile-names v3)" in texts
    assert "}{ `tick` | pipe <br/> &amp; été" in texts
    assert f"if quoted [{HOSTILE_CEL}]" in texts
    assert "Wön → 🎉" in texts
    for stage in definition.stages:
        assert stage in texts


def _dot_decode(quoted: str) -> str:
    """What Graphviz displays for one escaped line: DOT string, then label escapes, entities."""
    out: list[str] = []
    i = 0
    while i < len(quoted):
        c = quoted[i]
        if c == "\\" and i + 1 < len(quoted):
            nxt = quoted[i + 1]
            out.append({'"': '"', "\\": "\\", "n": "\n"}.get(nxt, c + nxt))
            i += 2
            continue
        assert c != '"', "an unescaped quote ends the DOT string"
        out.append(c)
        i += 1
    return html.unescape("".join(out))


@given(st.text())
def test_mermaid_labels_round_trip_any_text(text: str) -> None:
    """Any text becomes one Mermaid label line without syntax characters, decoding to itself."""
    label = _mm(text)
    assert "\n" not in label
    assert "\r" not in label
    assert not set(re.sub(r"#\w+;", "", label)) & set(':;#"<>{}`|\\')
    assert _mermaid_decode(label) == " ".join(text.split())


@given(st.text())
def test_dot_labels_round_trip_any_text(text: str) -> None:
    """Any text becomes one DOT string line that Graphviz reads back as the same text."""
    escaped = dot_escape(text)
    assert "\n" not in escaped
    assert _dot_decode(escaped) == " ".join(text.split())


# -- svg and png -------------------------------------------------------------------------------


@needs_dot
@pytest.mark.parametrize("definition", sorted(LIBRARY.glob("*.yaml")), ids=lambda p: p.stem)
def test_svg_is_well_formed_xml_with_every_stage(
    runner: CliRunner, definition: Path, tmp_path: Path
) -> None:
    """``--format svg`` writes well-formed SVG naming every stage of each shipped process."""
    out = tmp_path / "process.svg"
    result = run(runner, "graph", str(definition), "--format", "svg", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert result.stderr == f"wrote {out}\n"
    texts = svg_texts(out.read_bytes())
    for stage in load_definition(definition).stages:
        assert stage in texts


@needs_dot
def test_svg_goes_to_stdout_without_output(runner: CliRunner) -> None:
    """Without ``--output`` the SVG document is printed."""
    result = run(runner, "graph", str(REFERENCE), "-f", "svg")
    assert result.exit_code == 0, result.output
    assert "contacted" in svg_texts(result.stdout)


@needs_dot
def test_png_is_written_to_the_output_file(runner: CliRunner, tmp_path: Path) -> None:
    """``--format png`` writes a PNG file (it starts with the PNG signature)."""
    out = tmp_path / "process.png"
    result = run(runner, "graph", str(INBOUND), "--format", "png", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    assert result.stdout == ""


def test_png_needs_an_output_file(runner: CliRunner) -> None:
    """PNG is binary: without ``--output`` the command fails before drawing anything."""
    line = one_error(run(runner, "graph", str(REFERENCE), "--format", "png"))
    assert line == "error: --format png writes binary data: give --output FILE.png"


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_missing_dot_is_a_clear_error(
    runner: CliRunner, tmp_path: Path, fmt: str, hostile: Path
) -> None:
    """With no ``dot`` on PATH, svg and png fail with how to install Graphviz; no file appears."""
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / f"process.{fmt}"
    result = run(runner, "graph", str(hostile), "-f", fmt, "-o", str(out), env={"PATH": str(empty)})
    assert MISSING_DOT in one_error(result)
    assert not out.exists()


def test_text_formats_need_no_graphviz(runner: CliRunner, tmp_path: Path) -> None:
    """Mermaid and DOT are written with no ``dot`` on PATH."""
    empty = tmp_path / "bin"
    empty.mkdir()
    for fmt in ("mermaid", "dot"):
        result = run(runner, "graph", str(REFERENCE), "-f", fmt, env={"PATH": str(empty)})
        assert result.exit_code == 0, result.output


def test_graphviz_failure_and_timeout_are_reported(tmp_path: Path) -> None:
    """A ``dot`` that fails or hangs becomes a GraphvizError saying what happened."""
    failing = tmp_path / "failing-dot"
    failing.write_text("#!/bin/sh\necho 'Error: syntax error in line 1' >&2\nexit 1\n")
    failing.chmod(0o755)
    with pytest.raises(GraphvizError, match=r"exit code 1\): Error: syntax error in line 1"):
        graphviz("digraph {}", "svg", executable=str(failing))
    hanging = tmp_path / "hanging-dot"
    hanging.write_text("#!/bin/sh\nexec sleep 30\n")
    hanging.chmod(0o755)
    with pytest.raises(GraphvizError, match=r"did not finish within 0.5s"):
        graphviz("digraph {}", "svg", executable=str(hanging), timeout=0.5)


@needs_dot
def test_real_graphviz_rejects_broken_dot() -> None:
    """Graphviz's own syntax error comes back in the GraphvizError message."""
    with pytest.raises(GraphvizError, match="syntax error"):
        graphviz('digraph { "a" -> }', "svg")


# -- command line ------------------------------------------------------------------------------


def test_bad_format_names_the_choices(runner: CliRunner) -> None:
    """An unknown ``--format`` fails naming the formats there are."""
    line = one_error(run(runner, "graph", str(REFERENCE), "--format", "gif"))
    assert (
        line == "error: --format: 'gif' is not a diagram format; use one of mermaid, dot, svg, png"
    )


def test_unknown_process_id_without_db_says_to_add_db(runner: CliRunner) -> None:
    """A process id with no such file, no shipped process and no ``--db`` asks for ``--db``."""
    line = one_error(run(runner, "graph", "my-process"))
    assert line == (
        "error: no file 'my-process' and no shipped process of that name; to draw the deployed "
        "process 'my-process', add --db URL"
    )


def test_definition_version_needs_db(runner: CliRunner) -> None:
    """``--definition-version`` without ``--db`` is refused."""
    line = one_error(run(runner, "graph", str(REFERENCE), "--definition-version", "1"))
    assert "--definition-version chooses leads in a database: it needs --db URL" in line


def test_missing_file_is_a_load_error(runner: CliRunner, tmp_path: Path) -> None:
    """A definition path that does not exist reports the file, not a process lookup."""
    result = run(runner, "graph", str(tmp_path / "nope.yaml"), "--db", f"sqlite:///{tmp_path}/x")
    assert "nope.yaml:1:1: cannot read the file" in one_error(result)


def test_unknown_process_and_undeployed_file_are_errors(
    runner: CliRunner, tmp_path: Path, hostile: Path
) -> None:
    """Drawing a process the database lacks names what is deployed there."""
    url = f"sqlite:///{tmp_path}/lf.db"
    with Engine(url) as engine:
        engine.deploy(REFERENCE)
    line = one_error(run(runner, "graph", "no-such", "--db", url))
    assert line == "error: process 'no-such' is not deployed (deployed: inbound-lead)"
    line = one_error(run(runner, "graph", str(hostile), "--db", url))
    assert "process 'hostile-names' of" in line
    assert "(deployed: inbound-lead)" in line
    line = one_error(run(runner, "graph", PROCESS, "--db", url, "--definition-version", "7"))
    assert (
        line == "error: process 'inbound-lead' version 7 is not deployed (deployed: inbound-lead)"
    )


def test_missing_database_file_is_not_created(runner: CliRunner, tmp_path: Path) -> None:
    """A mistyped SQLite path fails without creating an empty database."""
    db = tmp_path / "typo.db"
    line = one_error(run(runner, "graph", str(REFERENCE), "--db", f"sqlite:///{db}"))
    assert "no database at" in line
    assert not db.exists()


# -- heat overlay ------------------------------------------------------------------------------


def build_pipeline(engine: Engine, start: datetime) -> None:
    """3 leads in new, 4 in contacted, 1 won, 1 lost, at known times after ``start``."""
    hour = timedelta(hours=1)
    for i, offset in enumerate((0, 2, 10)):
        engine.start(PROCESS, f"new-{i}", {"email": f"n{i}@x.io"}, at=start + offset * hour)
    for i, offset in enumerate((1, 2, 3, 5)):
        lead = f"contacted-{i}"
        engine.start(PROCESS, lead, {"email": f"c{i}@x.io"}, at=start)
        engine.record(PROCESS, lead, "call", at=start + offset * hour)
        engine.fire(PROCESS, lead, "contact", at=start + offset * hour)
    data = {"email": "w@x.io", "score": 80, "budget": 1000, "decision_maker": "Dana"}
    engine.start(PROCESS, "won-0", data, at=start)
    engine.record(PROCESS, "won-0", "call", at=start)
    for trigger in ("contact", "qualify", "win"):
        engine.fire(PROCESS, "won-0", trigger, at=start + hour)
    engine.start(PROCESS, "lost-0", {"email": "l@x.io"}, at=start)
    engine.fire(PROCESS, "lost-0", "lose", {"lost_reason": "not_a_fit"}, at=start + hour)


def test_heat_counts_open_leads_with_medians(db_url: str) -> None:
    """Open leads are counted per stage with the median time in stage; closed leads are not."""
    clock = ManualClock(DEFAULT_START)
    with Engine(db_url, clock=clock, create=True) as engine:
        engine.deploy(REFERENCE)
        build_pipeline(engine, DEFAULT_START)
        clock.set(DEFAULT_START + timedelta(days=3))
        heat = stage_heat(engine, PROCESS)
    assert heat.as_of == DEFAULT_START + timedelta(days=3)
    # new: ages 72h, 70h, 62h; contacted: 71h, 70h, 69h, 67h (even: mean of the middle two)
    assert heat.stages == {
        "new": StageHeat(3, timedelta(hours=70)),
        "contacted": StageHeat(4, timedelta(hours=69, minutes=30)),
    }
    assert (heat.total, heat.busiest) == (7, 4)


def test_heat_overlay_in_mermaid_and_dot(sqlite_url: str) -> None:
    """Both text formats show ``N live · median`` per open stage, fills by level, and a legend."""
    clock = ManualClock(DEFAULT_START)
    with Engine(sqlite_url, clock=clock) as engine:
        definition = engine.deploy(REFERENCE)
        build_pipeline(engine, DEFAULT_START)
        clock.set(DEFAULT_START + timedelta(days=3))
        heat = stage_heat(engine, PROCESS)
    mermaid = render_mermaid(definition, heat)
    for line in (
        "new : 3 live · median 2d 22h",
        "contacted : 4 live · median 2d 21h",
        "qualified : 0 live",
        "class new heat4",
        "class contacted heat5",
        f"classDef heat5 fill:{HEAT_COLOURS[4][0]},color:{HEAT_COLOURS[4][1]},stroke:#7f2704",
    ):
        assert f"    {line}\n" in mermaid, line
    assert "won : 0 live" not in mermaid
    assert "class won heat" not in mermaid
    assert "Live leads#58; 7 (all versions) · at 2026-01-08 09#58;00 UTC" in mermaid
    assert "live_leads_4 : 3 live" in mermaid
    assert "live_leads_5 : 4 live" in mermaid
    dot = render_dot(definition, heat)
    assert (
        '"contacted" [label="contacted\\nexit: budget_known\\n4 live · median 2d 21h", '
        f'style="rounded,filled", fillcolor="{HEAT_COLOURS[4][0]}", '
        f'fontcolor="{HEAT_COLOURS[4][1]}"];'
    ) in dot
    assert "subgraph cluster_live_leads {" in dot
    assert '"__heat_4__" -> "__heat_5__" [style=invis];' in dot


@needs_dot
def test_heat_overlay_in_svg(sqlite_url: str) -> None:
    """The SVG drawn from the heat DOT carries the live counts and the legend."""
    clock = ManualClock(DEFAULT_START)
    with Engine(sqlite_url, clock=clock) as engine:
        definition = engine.deploy(REFERENCE)
        build_pipeline(engine, DEFAULT_START)
        clock.set(DEFAULT_START + timedelta(days=3))
        heat = stage_heat(engine, PROCESS)
    texts = svg_texts(graphviz(render_dot(definition, heat), "svg"))
    assert "3 live · median 2d 22h" in texts
    assert "Live leads: 7 (all versions)" in texts
    assert "4 live" in texts


def test_heat_by_version_and_stages_other_versions_have(tmp_path: Path) -> None:
    """Leads of every version count unless one is chosen; stages a version lacks are listed."""
    v2 = tmp_path / "v2.yaml"
    v2.write_text(
        REFERENCE.read_text().replace("version: 1", "version: 2").replace("contacted", "reached"),
        encoding="utf-8",
    )
    clock = ManualClock(DEFAULT_START)
    with Engine(f"sqlite:///{tmp_path}/lf.db", clock=clock) as engine:
        engine.deploy(REFERENCE)
        build_pipeline(engine, DEFAULT_START)
        definition = engine.deploy(v2)
        engine.start(PROCESS, "v2-lead", {"email": "v@x.io"}, at=DEFAULT_START + timedelta(days=1))
        clock.set(DEFAULT_START + timedelta(days=3))
        every = stage_heat(engine, PROCESS)
        only_v2 = stage_heat(engine, PROCESS, version=2)
    assert every.stages["new"].leads == 4
    assert every.total == 8
    assert only_v2.stages == {"new": StageHeat(1, timedelta(days=2))}
    mermaid = render_mermaid(definition, every)
    assert "not in this version#58;" in mermaid
    assert "contacted#58; 4 live" in mermaid
    dot = render_dot(definition, only_v2)
    assert "Live leads: 1 (v2)" in dot
    assert '"new" [label="new\\nplaybook: 1 step\\n1 live · median 2d"' in dot


def test_heat_with_no_live_leads_says_so(sqlite_url: str) -> None:
    """A process with no open leads shows 0 live everywhere and a legend saying so."""
    with Engine(sqlite_url, clock=ManualClock()) as engine:
        definition = engine.deploy(REFERENCE)
        heat = stage_heat(engine, PROCESS)
    assert heat.stages == {}
    assert heat.total == 0
    assert "no live leads" in render_dot(definition, heat)
    assert "live_leads_none : no live leads" in render_mermaid(definition, heat)


def test_legend_ids_avoid_stage_names(hostile: Path) -> None:
    """A stage named like the legend block keeps its id; the legend takes another."""
    definition = load_definition(hostile)
    heat = HeatMap("hostile-names", DEFAULT_START, None, {"live_leads": StageHeat(2, timedelta())})
    text = render_mermaid(definition, heat)
    assert "    live_leads : 2 live · median 0s\n" in text
    assert "as live_leads_ {" in text
    assert "    class live_leads heat5\n" in text


def test_cli_heat_overlay_from_a_database(runner: CliRunner, tmp_path: Path) -> None:
    """``graph PROCESS --db --as-of NOW`` draws the deployed version with live counts measured
    then (without ``--as-of``, data whose last change is days old is measured as of that change).

    The leads are placed relative to the real time: 3 days 4 hours 30 minutes ago shows as
    ``median 3d 4h`` for a long while either side.
    """
    url = f"sqlite:///{tmp_path}/lf.db"
    entered = datetime.now(UTC) - timedelta(days=3, hours=4, minutes=30)
    with Engine(url, clock=ManualClock(entered)) as engine:
        engine.deploy(REFERENCE)
        for i in range(3):
            engine.start(PROCESS, f"lead-{i}", {"email": f"{i}@x.io"}, at=entered)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M")
    result = run(runner, "graph", PROCESS, "--db", url, "--format", "dot", "--as-of", now)
    assert result.exit_code == 0, result.output
    assert '"new" [label="new\\nplaybook: 1 step\\n3 live · median 3d 4h"' in result.stdout
    result = run(runner, "graph", str(REFERENCE), "--db", url, "--as-of", now)
    assert "    new : 3 live · median 3d 4h\n" in result.stdout
    assert "    class new heat5\n" in result.stdout


def test_heat_totals_stay_consistent_while_leads_move(db_url: str) -> None:
    """Counted while another thread moves leads between open stages, the total never changes."""
    clock = ManualClock(DEFAULT_START)
    leads = 30
    with Engine(db_url, clock=clock, create=True) as engine:
        engine.deploy(REFERENCE)
        for i in range(leads):
            engine.start(PROCESS, f"m-{i}", {"email": f"{i}@x.io"})
            engine.record(PROCESS, f"m-{i}", "call")
        done = threading.Event()

        def mover() -> None:
            try:
                for i in range(leads):
                    engine.fire(PROCESS, f"m-{i}", "contact")
            finally:
                done.set()

        thread = threading.Thread(target=mover)
        thread.start()
        seen = []
        while not done.is_set():
            seen.append(stage_heat(engine, PROCESS))
        thread.join()
        seen.append(stage_heat(engine, PROCESS))
    assert all(h.total == leads for h in seen)
    assert seen[-1].stages["contacted"].leads == leads


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=12))
def test_heat_median_matches_the_statistics_median(ages_in_minutes: list[int]) -> None:
    """For any set of leads, the median time in stage equals statistics.median of their ages."""
    now = DEFAULT_START + timedelta(minutes=10_000)
    with Engine("sqlite://", clock=ManualClock(DEFAULT_START)) as engine:
        engine.deploy(REFERENCE)
        for i, age in enumerate(ages_in_minutes):
            at = now - timedelta(minutes=age)
            engine.start(PROCESS, f"h-{i}", {"email": f"{i}@x.io"}, at=at)
        heat = stage_heat(engine, PROCESS, now=now)
    expected = timedelta(minutes=statistics.median(ages_in_minutes))
    assert heat.stages["new"] == StageHeat(len(ages_in_minutes), expected)


# -- heat scale and ages -----------------------------------------------------------------------


@given(st.integers(min_value=1, max_value=5_000))
def test_legend_buckets_partition_the_counts(busiest: int) -> None:
    """The legend's ranges cover 1..busiest without gaps, each with the level heat_level gives."""
    buckets = heat_buckets(busiest)
    assert buckets[0][1] == 1
    assert buckets[-1] == (5, buckets[-1][1], busiest)
    for (_, _, high), (_, low, _) in itertools.pairwise(buckets):
        assert low == high + 1
    for level, low, high in buckets:
        assert heat_level(low, busiest) == level == heat_level(high, busiest)
    assert heat_level(0, busiest) == 0


@pytest.mark.parametrize(
    ("age", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=40), "40s"),
        (timedelta(minutes=12, seconds=5), "12m 5s"),
        (timedelta(hours=5, minutes=12, seconds=59), "5h 12m"),
        (timedelta(hours=3), "3h"),
        (timedelta(days=3, hours=4, minutes=30), "3d 4h"),
        (timedelta(days=3, minutes=30), "3d"),
        (timedelta(days=400), "400d"),
    ],
)
def test_format_age(age: timedelta, text: str) -> None:
    """Ages show their two largest units, truncated, dropping a zero second unit."""
    assert format_age(age) == text
