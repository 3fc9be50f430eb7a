"""Process diagrams: a definition (and, with a database, where its live leads sit) drawn.

:func:`build_diagram` turns a definition and an optional :class:`HeatMap` (from
:func:`stage_heat`) into plain :class:`Diagram` data; :func:`render_mermaid` and
:func:`render_dot` lay it out as Mermaid or Graphviz DOT text, and :func:`graphviz` runs
Graphviz's ``dot`` to make SVG or PNG (:class:`GraphvizError` says what to do when it fails).
"""

from leadflow.engine.graph._dot import render_dot
from leadflow.engine.graph._graphviz import DEFAULT_TIMEOUT, MISSING_DOT, GraphvizError, graphviz
from leadflow.engine.graph._heat import (
    HEAT_COLOURS,
    HeatMap,
    StageHeat,
    format_age,
    heat_buckets,
    heat_level,
    stage_heat,
)
from leadflow.engine.graph._mermaid import LOST, WON, render_mermaid
from leadflow.engine.graph._model import Diagram, Edge, Node, build_diagram

__all__ = [
    "DEFAULT_TIMEOUT",
    "HEAT_COLOURS",
    "LOST",
    "MISSING_DOT",
    "WON",
    "Diagram",
    "Edge",
    "GraphvizError",
    "HeatMap",
    "Node",
    "StageHeat",
    "build_diagram",
    "format_age",
    "graphviz",
    "heat_buckets",
    "heat_level",
    "render_dot",
    "render_mermaid",
    "stage_heat",
]
