"""Charts rendered offline: a Vega-Lite spec to inline SVG with vl-convert, in a ``<figure>``.

The SVG is Vega's own (axes, ticks and labels laid out by Vega), with three additions: the
root ``<svg>`` gets ``class="chart"``, ``data-chart="ID"``, ``role="img"`` and the title as
its ``aria-label``; and every mark that Vega describes (``aria-label``) also gets a ``<title>``
child, which browsers show as a tooltip, with no script. Nothing refers to another host.

With ``spec=True`` (the web app's map page) each figure also carries its Vega-Lite spec as
data, ``<script type="application/json" data-chart-spec="ID">`` (never run by the browser,
and written so that no ``</script>`` can end it early), which a page script may draw as an
interactive view in place of the SVG; the SVG stays where the script does not run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache
from html import escape
from typing import Any

from leadflow.engine.reports._charts import Chart

__all__ = ["MISSING", "available", "figure", "figures", "spec_data", "to_svg"]

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


def spec_data(chart_id: str, spec: dict[str, Any]) -> str:
    """The spec as a ``<script type="application/json">`` data block, ``<``, ``>`` and ``&``
    written as JSON escapes, so the block's text never holds markup (the page script names
    the drawn view by the figure's caption)."""
    text = json.dumps(spec, separators=(",", ":"), sort_keys=True)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" data-chart-spec="{escape(chart_id)}">{text}</script>'


def figure(chart: Chart, *, spec: bool = False) -> str:
    """The chart as ``<figure>``: its title as the caption, then the SVG (and with ``spec``
    its spec as data, see the module's docstring), or a sentence when there is no data
    (``<p class="no-data">``) or no chart library."""
    caption = f"<figcaption>{escape(chart.title)}</figcaption>"
    if chart.spec is None:
        body = f'<p class="no-data" data-chart="{escape(chart.id)}">{escape(chart.empty)}</p>'
    else:
        body = to_svg(chart.id, chart.title, chart.spec)
        if spec:
            body += spec_data(chart.id, chart.spec)
    return f'<figure class="chart">{caption}{body}</figure>'


def figures(build: Callable[[], list[Chart]], *, spec: bool = False) -> str:
    """The figures of the charts ``build`` makes (with ``spec``: carrying their specs); one
    sentence instead when altair or vl-convert is not installed (``build`` is then not
    called)."""
    if not available():
        return f'<p class="no-data">{escape(MISSING)}</p>'
    return "".join(figure(chart, spec=spec) for chart in build())
