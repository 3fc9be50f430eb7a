"""What a process diagram shows, before any diagram language: stages, arrows, their annotations.

:func:`build_diagram` turns a definition (and optionally its live :class:`HeatMap`) into plain
:class:`Diagram` data; the Mermaid and DOT renderers only lay it out and escape it. So every
format shows the same facts:

- a stage: its title, win probability, closed kind, the SLA clocks running there
  (``SLA speed_to_call 5m business``) and paused there (``SLA call_cadence paused``), the size of
  its playbook, its exit criteria (ids) and, with heat, ``N live · median 3d 4h``;
- an arrow: its trigger, guards (ids, with the CEL when short), ``requires`` fields; backward and
  reopen arrows and arrows into a lost stage are kinds of their own for the styles.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from leadflow.definitions import Criterion, ProcessDefinition, Stage, Transition
from leadflow.engine.graph._heat import HeatMap, format_age, heat_buckets, heat_level

__all__ = ["Diagram", "Edge", "LegendEntry", "Node", "build_diagram"]

SHORT_CEL = 32
"""CEL guards up to this many characters are shown in full next to their id."""

MAX_LEFT_TO_RIGHT = 5
"""Processes with up to this many stages are drawn left to right, longer ones top to bottom
(seven annotated stages in a row made ``b2b-opportunity`` a 5113x479 px strip)."""

EdgeKind = Literal["forward", "backward", "reopen", "lost"]


@dataclass(frozen=True, slots=True)
class Node:
    """A stage as drawn."""

    name: str
    closed: Literal["won", "lost"] | None
    initial: bool
    lines: tuple[str, ...]
    """Annotation lines under the stage's name (title, probability, SLAs, playbook, exits)."""
    heat: str | None = None
    """``N live · median 3d 4h`` when drawn with heat (open stages only)."""
    level: int = 0
    """Heat colour level, 0 (no leads or no heat) to 5."""


@dataclass(frozen=True, slots=True)
class Edge:
    """One arrow: a transition from one of its source stages."""

    source: str
    target: str
    kind: EdgeKind
    lines: tuple[str, ...]
    """Trigger (``↩ revise (back)``, ``⟲ recycle (reopen)``), guards, required fields."""


@dataclass(frozen=True, slots=True)
class LegendEntry:
    """One step of the heat scale."""

    level: int
    label: str
    """``1 live``, ``2-4 live``."""


@dataclass(frozen=True, slots=True)
class Diagram:
    """A whole process diagram."""

    process: str
    title: str
    """``Inbound lead response (inbound-lead v2)``."""
    initial: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    legend_title: tuple[str, ...] = ()
    """With heat, the legend's heading lines: ``Live leads: 12 (all versions)``, the time."""
    legend: tuple[LegendEntry, ...] = ()
    elsewhere: tuple[str, ...] = ()
    """With heat: live leads in stages this version lacks (``old_stage: 3 live``)."""

    @property
    def direction(self) -> Literal["LR", "TB"]:
        """``LR`` (left to right) up to :data:`MAX_LEFT_TO_RIGHT` stages, else ``TB``."""
        return "LR" if len(self.nodes) <= MAX_LEFT_TO_RIGHT else "TB"


def _guard(c: Criterion) -> str:
    cel = getattr(c, "cel", None)
    text = c.id
    if isinstance(cel, str) and len(cel) <= SHORT_CEL:
        text = f"{c.id} [{cel}]"
    return f"{text} (if {c.when})" if c.when and len(c.when) <= SHORT_CEL else text


def _slas_in(definition: ProcessDefinition, name: str, stage: Stage) -> list[str]:
    lines: list[str] = []
    for sla_id, sla in definition.slas.items():
        runs = name in sla.stages or ("*" in sla.stages and stage.closed is None)
        if runs and name not in sla.pause_in:
            lines.append(f"SLA {sla_id} {sla.target_text}")
        elif name in sla.pause_in:
            lines.append(f"SLA {sla_id} paused")
    return lines


def _stage_lines(definition: ProcessDefinition, name: str, stage: Stage) -> list[str]:
    lines: list[str] = []
    if stage.title and stage.title.casefold() != name.replace("_", " ").casefold():
        lines.append(stage.title)  # "New" under "new" says nothing new
    facts: list[str] = []
    if stage.probability is not None:
        facts.append(f"{stage.probability}% to win")
    if stage.closed:
        facts.append(f"closed {stage.closed}")
    if facts:
        lines.append(", ".join(facts))
    lines += _slas_in(definition, name, stage)
    if stage.playbook:
        n = len(stage.playbook)
        lines.append(f"playbook: {n} {'step' if n == 1 else 'steps'}")
    if stage.exit_criteria:
        lines.append("exit: " + ", ".join(c.id for c in stage.exit_criteria))
    return lines


def _edge_kind(definition: ProcessDefinition, transition: Transition) -> EdgeKind:
    if transition.reopen:
        return "reopen"
    if transition.backward:
        return "backward"
    if definition.stages[transition.to].closed == "lost":
        return "lost"
    return "forward"


def _edge_lines(transition: Transition, kind: EdgeKind) -> list[str]:
    head = transition.name
    if kind == "backward":
        head = f"↩ {head} (back)"
    elif kind == "reopen":
        head = f"⟲ {head} (reopen)"
    lines = [head]
    lines += [f"if {_guard(c)}" for c in transition.guard]
    if transition.requires:
        lines.append("requires " + ", ".join(transition.requires))
    return lines


def _range(lowest: int, highest: int) -> str:
    return f"{lowest} live" if lowest == highest else f"{lowest}-{highest} live"


def build_diagram(definition: ProcessDefinition, heat: HeatMap | None = None) -> Diagram:
    """The diagram of ``definition``; with ``heat``, each open stage shows its live leads."""
    nodes: list[Node] = []
    busiest = heat.busiest if heat else 0
    for name, stage in definition.stages.items():
        lines = tuple(_stage_lines(definition, name, stage))
        live = heat.stages.get(name) if heat else None
        if heat is None or stage.closed:
            nodes.append(Node(name, stage.closed, stage.initial, lines))
        elif live is None:
            nodes.append(Node(name, None, stage.initial, lines, "0 live"))
        else:
            text = f"{live.leads} live · median {format_age(live.median_age)}"
            nodes.append(
                Node(name, None, stage.initial, lines, text, heat_level(live.leads, busiest))
            )
    edges = []
    for transition in definition.transitions:
        kind = _edge_kind(definition, transition)
        lines = tuple(_edge_lines(transition, kind))
        for source in definition.source_stages(transition):
            edges.append(Edge(source, transition.to, kind, lines))
    title = f"{definition.title or definition.process} ({definition.process} v{definition.version})"
    diagram = Diagram(
        definition.process, title, definition.initial_stage, tuple(nodes), tuple(edges)
    )
    if heat is None:
        return diagram
    versions = "all versions" if heat.version is None else f"v{heat.version}"
    elsewhere = tuple(
        f"{stage}: {live.leads} live"
        for stage, live in heat.stages.items()
        if stage not in definition.stages or definition.stages[stage].closed
    )
    return replace(
        diagram,
        legend_title=(
            f"Live leads: {heat.total} ({versions})",
            f"at {heat.as_of:%Y-%m-%d %H:%M} UTC; fill by leads, median time in stage",
        ),
        legend=tuple(LegendEntry(level, _range(lo, hi)) for level, lo, hi in heat_buckets(busiest)),
        elsewhere=elsewhere,
    )
