"""Charts rendered offline: a Vega-Lite spec to inline SVG with vl-convert, in a ``<figure>``.

The SVG is Vega's own (axes, ticks and labels laid out by Vega), with three additions: the
root ``<svg>`` gets ``class="chart"``, ``data-chart="ID"``, ``role="img"`` and the title as
its ``aria-label``; and every mark that Vega describes (``aria-label``) also gets a ``<title>``
child, which browsers show as a tooltip, with no script. Nothing refers to another host.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache
from html import escape
from typing import Any

from leadflow.engine.reports._charts import Chart

__all__ = ["MISSING", "available", "figure", "figures", "to_svg"]

MISSING = "Charts need the charts extra (pip install 'leadflow[charts]'): the tables follow."
"""What a page says instead of a chart when altair or vl-convert is not installed."""

_MARK = re.compile(r'<(path|text) aria-label="([^"]*)" role="graphics-symbol"([^>]*?)(/?)>')


def available() -> bool:
    """Whether altair and vl-convert are installed."""
    try:
        import altair  # noqa: F401
        import vl_convert  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=128)
def _render(spec_json: str) -> str:
    import vl_convert

    svg: str = vl_convert.vegalite_to_svg(json.loads(spec_json))
    return svg


def _titled(match: re.Match[str]) -> str:
    tag, label, rest, closed = match.groups()
    head = f'<{tag} aria-label="{label}" role="graphics-symbol"{rest}>'
    return head + f"<title>{label}</title>" + (f"</{tag}>" if closed else "")


def to_svg(chart_id: str, title: str, spec: dict[str, Any]) -> str:
    """The spec drawn as SVG, marked up as this module's docstring says."""
    svg = _render(json.dumps(spec, sort_keys=True))
    svg = svg.replace(
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'version="1.1" class="marks"',
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{escape(chart_id)}" '
        f'role="img" aria-label="{escape(title)}"',
        1,
    )
    return _MARK.sub(_titled, svg)


def figure(chart: Chart) -> str:
    """The chart as ``<figure>``: its title as the caption, then the SVG, or a sentence when
    there is no data (``<p class="no-data">``) or no chart library."""
    caption = f"<figcaption>{escape(chart.title)}</figcaption>"
    if chart.spec is None:
        body = f'<p class="no-data" data-chart="{escape(chart.id)}">{escape(chart.empty)}</p>'
    else:
        body = to_svg(chart.id, chart.title, chart.spec)
    return f'<figure class="chart">{caption}{body}</figure>'


def figures(build: Callable[[], list[Chart]]) -> str:
    """The figures of the charts ``build`` makes; one sentence instead when altair or
    vl-convert is not installed (``build`` is then not called)."""
    if not available():
        return f'<p class="no-data">{escape(MISSING)}</p>'
    return "".join(figure(chart) for chart in build())
