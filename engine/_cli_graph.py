"""Diagrams of a process definition as text: Mermaid ``stateDiagram-v2`` and Graphviz DOT.

Both show the same things: the initial stage, every transition (``"*"`` sources expanded to the
open stages) labelled with its trigger, guard criteria and ``requires`` fields, each stage's win
probability and exit criteria, and closed stages styled as won or lost. No Graphviz is needed:
the output is text to paste into a Markdown file or to pipe into ``dot -Tsvg``.
"""

from __future__ import annotations

import json

from leadflow.definitions import Criterion, ProcessDefinition, Stage, Transition

__all__ = ["render_dot", "render_mermaid"]

_WON_FILL, _WON_STROKE = "#d1fae5", "#047857"
_LOST_FILL, _LOST_STROKE = "#fee2e2", "#b91c1c"


def _criterion(c: Criterion) -> str:
    text = f"{c.id}: {c.message}"
    return f"{text} (if {c.when})" if c.when else text


def _stage_lines(name: str, stage: Stage) -> list[str]:
    """The text shown inside a stage: title, probability, closed flag."""
    parts: list[str] = []
    if stage.title and stage.title != name:
        parts.append(stage.title)
    facts: list[str] = []
    if stage.probability is not None:
        facts.append(f"{stage.probability}% to win")
    if stage.closed:
        facts.append(f"closed {stage.closed}")
    if facts:
        parts.append(", ".join(facts))
    return parts


def _edge_lines(transition: Transition) -> list[str]:
    """The text on a transition's arrow: trigger, guard criteria, required fields."""
    head = transition.name + (" (reopen)" if transition.reopen else "")
    lines = [head]
    lines += [f"guard {_criterion(c)}" for c in transition.guard]
    if transition.requires:
        lines.append("requires " + ", ".join(transition.requires))
    return lines


def _edges(definition: ProcessDefinition) -> list[tuple[str, str, Transition]]:
    return [
        (source, t.to, t) for t in definition.transitions for source in definition.source_stages(t)
    ]


# -- Mermaid -----------------------------------------------------------------------------------


_MERMAID_ESCAPES = str.maketrans(
    {"#": "#35;", ":": "#58;", ";": "#59;", "<": "#lt;", ">": "#gt;", '"': "#quot;"}
)


def _mm(text: str) -> str:
    """Escape text for a Mermaid label: entity codes for what ends or breaks a statement."""
    return " ".join(text.split()).translate(_MERMAID_ESCAPES)


def render_mermaid(definition: ProcessDefinition) -> str:
    """The process as a Mermaid ``stateDiagram-v2``."""
    title = definition.title or definition.process
    out = [
        "---",
        f"title: {json.dumps(f'{title} ({definition.process} v{definition.version})')}",
        "---",
        "stateDiagram-v2",
        "    direction LR",
        f"    classDef won fill:{_WON_FILL},stroke:{_WON_STROKE},stroke-width:2px",
        f"    classDef lost fill:{_LOST_FILL},stroke:{_LOST_STROKE},stroke-width:2px",
        f"    [*] --> {definition.initial_stage}",
    ]
    for name, stage in definition.stages.items():
        lines = _stage_lines(name, stage)
        if lines:
            out.append(f"    {name} : {'<br/>'.join(_mm(line) for line in lines)}")
    for name, stage in definition.stages.items():
        if stage.exit_criteria:
            out.append(f"    note right of {name}")
            out.append("        exit criteria")
            out += [f"        {_mm(_criterion(c))}" for c in stage.exit_criteria]
            out.append("    end note")
    for source, target, transition in _edges(definition):
        label = "<br/>".join(_mm(line) for line in _edge_lines(transition))
        out.append(f"    {source} --> {target} : {label}")
    for name, stage in definition.stages.items():
        if stage.closed:
            out.append(f"    {name} --> [*]")
    for name, stage in definition.stages.items():
        if stage.closed:
            out.append(f"    class {name} {stage.closed}")
    return "\n".join(out) + "\n"


# -- Graphviz DOT ------------------------------------------------------------------------------


def _dot(text: str) -> str:
    """A DOT double-quoted string."""
    text = " ".join(text.split())
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_label(lines: list[str]) -> str:
    """Lines joined by DOT's centred line breaks, inside one quoted string."""
    return '"' + "\\n".join(_dot(line)[1:-1] for line in lines) + '"'


def render_dot(definition: ProcessDefinition) -> str:
    """The process as a Graphviz DOT digraph (render with ``dot -Tsvg``)."""
    title = f"{definition.title or definition.process} ({definition.process} v{definition.version})"
    out = [
        f"digraph {_dot(definition.process)} {{",
        f"    graph [rankdir=LR, labelloc=t, label={_dot(title)}, fontname=Helvetica];",
        "    node [shape=box, style=rounded, fontname=Helvetica];",
        "    edge [fontname=Helvetica, fontsize=10];",
        '    "__start__" [shape=point, width=0.15, label=""];',
        f'    "__start__" -> {_dot(definition.initial_stage)};',
    ]
    for name, stage in definition.stages.items():
        lines = [name, *_stage_lines(name, stage)]
        if stage.exit_criteria:
            lines.append("exit criteria:")
            lines += [_criterion(c) for c in stage.exit_criteria]
        attrs = [f"label={_dot_label(lines)}"]
        if stage.initial:
            attrs.append("penwidth=2")
        if stage.closed == "won":
            attrs += [
                'style="rounded,filled"',
                f'fillcolor="{_WON_FILL}"',
                f'color="{_WON_STROKE}"',
            ]
        elif stage.closed == "lost":
            attrs += [
                'style="rounded,filled"',
                f'fillcolor="{_LOST_FILL}"',
                f'color="{_LOST_STROKE}"',
            ]
        if stage.closed:
            attrs.append("peripheries=2")
        out.append(f"    {_dot(name)} [{', '.join(attrs)}];")
    for source, target, transition in _edges(definition):
        attrs = [f"label={_dot_label(_edge_lines(transition))}"]
        if transition.reopen:
            attrs.append("style=dashed")
        if definition.stages[target].closed == "lost":
            attrs.append(f'color="{_LOST_STROKE}"')
        out.append(f"    {_dot(source)} -> {_dot(target)} [{', '.join(attrs)}];")
    out.append("}")
    return "\n".join(out) + "\n"
