"""A process diagram as a Graphviz DOT digraph (``dot -Tsvg`` draws it).

Labels are DOT double-quoted strings: backslashes and quotes are escaped, newlines in the text
become spaces (lines are DOT's ``\\n``), and ``&`` becomes ``&amp;`` because Graphviz decodes
HTML entities in labels (``&lt;`` would otherwise be drawn as ``<``). Backward arrows are dashed
blue, reopen arrows dotted purple, arrows into a lost stage red; neither backward nor reopen
arrows pull the layout (``constraint=false``), so the main path reads left to right. With heat,
open stages are filled by level and a ``Live leads`` cluster holds the legend.
"""

from __future__ import annotations

import itertools

from leadflow.definitions import ProcessDefinition
from leadflow.engine.graph._heat import HEAT_COLOURS, HeatMap
from leadflow.engine.graph._mermaid import LOST, WON
from leadflow.engine.graph._model import Diagram, Edge, Node, build_diagram

__all__ = ["dot_text", "render_dot"]

_EDGE_STYLE = {
    "forward": [],
    "backward": ["style=dashed", 'color="#1d4ed8"', 'fontcolor="#1d4ed8"', "constraint=false"],
    "reopen": ["style=dotted", 'color="#7c3aed"', 'fontcolor="#7c3aed"', "constraint=false"],
    "lost": [f'color="{LOST[1]}"'],
}


def _escape(text: str) -> str:
    text = " ".join(text.split())
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")


def _q(text: str) -> str:
    """A DOT double-quoted string (an id or a one-line label)."""
    return f'"{_escape(text)}"'


def _label(lines: list[str] | tuple[str, ...]) -> str:
    """Lines joined by DOT's centred line breaks, inside one quoted string."""
    return '"' + "\\n".join(_escape(line) for line in lines) + '"'


def _node(node: Node) -> str:
    lines = [node.name, *node.lines, *([node.heat] if node.heat else [])]
    attrs = [f"label={_label(lines)}"]
    if node.initial:
        attrs.append("penwidth=2")
    if node.closed:
        fill, stroke = WON if node.closed == "won" else LOST
        attrs += ['style="rounded,filled"', f'fillcolor="{fill}"', f'color="{stroke}"']
        attrs.append("peripheries=2")
    elif node.level:
        fill, ink = HEAT_COLOURS[node.level - 1]
        attrs += ['style="rounded,filled"', f'fillcolor="{fill}"', f'fontcolor="{ink}"']
    return f"    {_q(node.name)} [{', '.join(attrs)}];"


def _edge(edge: Edge) -> str:
    attrs = [f"label={_label(edge.lines)}", *_EDGE_STYLE[edge.kind]]
    return f"    {_q(edge.source)} -> {_q(edge.target)} [{', '.join(attrs)}];"


def _legend(diagram: Diagram) -> list[str]:
    out = [
        "    subgraph cluster_live_leads {",
        f"        label={_label(diagram.legend_title)}; fontsize=10; style=rounded;",
    ]
    keys: list[str] = []
    for entry in diagram.legend:
        fill, ink = HEAT_COLOURS[entry.level - 1]
        keys.append(f'"__heat_{entry.level}__"')
        out.append(
            f'        {keys[-1]} [label={_q(entry.label)}, style="rounded,filled", '
            f'fillcolor="{fill}", fontcolor="{ink}", fontsize=10];'
        )
    if diagram.elsewhere:
        keys.append('"__heat_elsewhere__"')
        lines = ["not in this version:", *diagram.elsewhere]
        out.append(f"        {keys[-1]} [label={_label(lines)}, fontsize=10];")
    if not keys:
        out.append('        "__heat_none__" [label="no live leads", fontsize=10];')
    # invisible arrows lay the scale out in one row, few leads to most
    out += [f"        {a} -> {b} [style=invis];" for a, b in itertools.pairwise(keys)]
    out.append("    }")
    return out


def dot_text(diagram: Diagram) -> str:
    """``diagram`` in Graphviz DOT syntax."""
    out = [
        f"digraph {_q(diagram.process)} {{",
        f"    graph [rankdir={diagram.direction}, labelloc=t, label={_q(diagram.title)}, "
        "fontname=Helvetica];",
        "    node [shape=box, style=rounded, fontname=Helvetica];",
        "    edge [fontname=Helvetica, fontsize=10];",
        '    "__start__" [shape=point, width=0.15, label=""];',
        f'    "__start__" -> {_q(diagram.initial)};',
    ]
    out += [_node(node) for node in diagram.nodes]
    out += [_edge(edge) for edge in diagram.edges]
    if diagram.legend_title:
        out += _legend(diagram)
    out.append("}")
    return "\n".join(out) + "\n"


def render_dot(definition: ProcessDefinition, heat: HeatMap | None = None) -> str:
    """The process as a Graphviz DOT digraph; with ``heat``, the live overlay."""
    return dot_text(build_diagram(definition, heat))
