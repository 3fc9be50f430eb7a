"""A process diagram as a Mermaid ``stateDiagram-v2`` (paste into Markdown; GitHub draws it).

Stage names are the state ids, except names Mermaid reads as keywords (``state``, ``note``,
``class``, ...), which get an alias id and their name as the label. Labels are escaped with
Mermaid's entity codes (``#58;`` for ``:``, ``#lt;`` for ``<``), so no text from a definition
can end a statement, open a block or inject markup. State diagrams cannot style single arrows:
backward and reopen arrows say so in their label instead (``↩ revise (back)``). With heat, open
stages are filled by level and a ``Live leads`` block holds the legend.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from leadflow.definitions import ProcessDefinition
from leadflow.engine.graph._heat import HEAT_COLOURS, HeatMap
from leadflow.engine.graph._model import Diagram, build_diagram

__all__ = ["mermaid_text", "render_mermaid"]

WON = ("#d1fae5", "#047857")
LOST = ("#fee2e2", "#b91c1c")
"""Fill and stroke of closed stages (shared with the DOT renderer)."""

_KEYWORDS = frozenset(
    {"state", "note", "class", "classdef", "style", "default", "click", "href", "end", "direction"}
)
"""Words Mermaid's state diagram lexer takes as keywords (compared case-insensitively)."""

_ESCAPES = str.maketrans(
    {
        "#": "#35;",
        "&": "#38;",
        ":": "#58;",
        ";": "#59;",
        "<": "#lt;",
        ">": "#gt;",
        '"': "#quot;",
        "{": "#123;",
        "}": "#125;",
        "`": "#96;",
        "\\": "#92;",
        "|": "#124;",
    }
)


def _mm(text: str) -> str:
    """Text for a Mermaid label: one line, with entity codes for everything Mermaid parses."""
    return " ".join(text.split()).translate(_ESCAPES)


_TITLE_LOOKALIKES = str.maketrans({"&": " and ", "<": "\u2039", ">": "\u203a"})
_TITLE_ESCAPES = {c: f"\\u{ord(c):04x}" for c in "%{}#;"}


def _title(text: str) -> str:
    """The front-matter title as a YAML double-quoted string.

    Mermaid shows ``&``, ``<`` and ``>`` of a title as entity text (``&amp;``), so the title
    says ``and`` and single angle quotes instead; ``%{}#;`` are written as YAML ``\\u`` escapes so
    that no Mermaid directive or entity can be spelled in the source.
    """
    plain = " ".join(text.translate(_TITLE_LOOKALIKES).split())
    quoted = json.dumps(plain, ensure_ascii=False)
    return "".join(_TITLE_ESCAPES.get(c, c) for c in quoted)


def _label(lines: Iterable[str]) -> str:
    return "<br/>".join(_mm(line) for line in lines)


def _ids(diagram: Diagram) -> dict[str, str]:
    """The Mermaid id of each stage: its name, or an alias when the name is a keyword."""
    taken = {n.name for n in diagram.nodes}
    ids: dict[str, str] = {}
    for node in diagram.nodes:
        alias = node.name
        while alias.lower() in _KEYWORDS or (alias != node.name and alias in taken):
            alias += "_"
        taken.add(alias)
        ids[node.name] = alias
    return ids


def _fresh(base: str, taken: set[str]) -> str:
    while base in taken:
        base += "_"
    taken.add(base)
    return base


def mermaid_text(diagram: Diagram) -> str:
    """``diagram`` in Mermaid ``stateDiagram-v2`` syntax."""
    ids = _ids(diagram)
    out = [
        "---",
        f"title: {_title(diagram.title)}",
        "---",
        "stateDiagram-v2",
        f"    direction {diagram.direction}",
        f"    classDef won fill:{WON[0]},stroke:{WON[1]},stroke-width:2px",
        f"    classDef lost fill:{LOST[0]},stroke:{LOST[1]},stroke-width:2px",
    ]
    heated = bool(diagram.legend_title)
    if heated:
        out += [
            f"    classDef heat{level} fill:{fill},color:{ink},stroke:#7f2704"
            for level, (fill, ink) in enumerate(HEAT_COLOURS, start=1)
        ]
    for node in diagram.nodes:
        if ids[node.name] != node.name:
            out.append(f'    state "{_mm(node.name)}" as {ids[node.name]}')
    out.append(f"    [*] --> {ids[diagram.initial]}")
    for node in diagram.nodes:
        # several descriptions: Mermaid draws the first as the heading, the others under a rule
        # (an aliased stage has its name as heading already)
        heading = [node.name] if ids[node.name] == node.name else []
        for line in [*heading, *node.lines, *([node.heat] if node.heat else [])]:
            out.append(f"    {ids[node.name]} : {_mm(line)}")
    for edge in diagram.edges:
        out.append(f"    {ids[edge.source]} --> {ids[edge.target]} : {_label(edge.lines)}")
    out += [f"    {ids[n.name]} --> [*]" for n in diagram.nodes if n.closed]
    out += [f"    class {ids[n.name]} {n.closed}" for n in diagram.nodes if n.closed]
    out += [f"    class {ids[n.name]} heat{n.level}" for n in diagram.nodes if n.level]
    if heated:
        out += _legend(diagram, set(ids.values()))
    return "\n".join(out) + "\n"


def _legend(diagram: Diagram, taken: set[str]) -> list[str]:
    block = _fresh("live_leads", taken)
    out = [f'    state "{_mm(" · ".join(diagram.legend_title))}" as {block} {{']
    classes: list[str] = []
    for entry in diagram.legend:
        key = _fresh(f"{block}_{entry.level}", taken)
        out.append(f"        {key} : {_mm(entry.label)}")
        classes.append(f"    class {key} heat{entry.level}")
    if diagram.elsewhere:
        key = _fresh(f"{block}_elsewhere", taken)
        for line in ["not in this version:", *diagram.elsewhere]:
            out.append(f"        {key} : {_mm(line)}")
    if not diagram.legend and not diagram.elsewhere:
        out.append(f"        {_fresh(f'{block}_none', taken)} : no live leads")
    out.append("    }")
    return out + classes


def render_mermaid(definition: ProcessDefinition, heat: HeatMap | None = None) -> str:
    """The process as a Mermaid ``stateDiagram-v2``; with ``heat``, the live overlay."""
    return mermaid_text(build_diagram(definition, heat))
