"""The process map's reports as charts: pipeline, funnel, time in stage, stuck, loss reasons,
owners and the forecast, the same charts ``leadflow report --html`` draws (Vega-Lite specs
rendered to inline SVG on the server). Each figure also carries its spec as JSON data, which
``static/charts.js`` draws with the vendored Vega (``static/vendor/``) as an interactive view
(tooltips, highlight on click) in place of the SVG; without script the SVG stays.

The reports run with the role's hidden fields left out, as the API's do; the stuck leads,
a report that lists leads, is drawn (as counts per stage) only for roles that read such
reports. A report that cannot be worked out says why in its section.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from markupsafe import Markup

from leadflow.definitions import ProcessDefinition
from leadflow.engine import Engine, reports
from leadflow.engine.access import Actor, explain_access, hidden_fields

__all__ = ["ReportSection", "report_sections"]


@dataclass(frozen=True, slots=True)
class ReportSection:
    """One report on the map page: its anchor, heading and charts (or why there are none)."""

    id: str
    title: str
    charts: Markup
    note: str = ""
    report: reports.Report | None = None


def report_sections(
    engine: Engine, process: str, actor: Actor, definition: ProcessDefinition
) -> list[ReportSection]:
    """The map page's report sections for ``actor``, in the page's order."""
    hidden = hidden_fields(actor.role, definition)
    lists_leads = explain_access(actor, "lead_reports", None, definition).allowed
    runs: list[tuple[str, str, Callable[[], reports.Report] | None]] = [
        ("pipeline", "Pipeline", lambda: reports.pipeline(engine, process, hidden=hidden)),
        ("funnel", "Funnel", lambda: reports.funnel(engine, process, cohort=None)),
        ("time-in-stage", "Time in stage", lambda: reports.time_in_stage(engine, process)),
        (
            "stuck",
            "Stuck leads",
            (lambda: reports.stuck(engine, process, hidden=hidden)) if lists_leads else None,
        ),
        (
            "loss-reasons",
            "Loss reasons",
            lambda: reports.loss_reasons(engine, process, hidden=hidden),
        ),
        ("owners", "Owners", lambda: reports.owners(engine, process, hidden=hidden)),
        (
            "forecast",
            "Forecast, next 4 months",
            lambda: reports.forecast(engine, process, hidden=hidden),
        ),
    ]
    titles = {name: stage.title or name for name, stage in definition.stages.items()}
    return [_section(anchor, title, run, actor.role, titles) for anchor, title, run in runs]


def _section(
    anchor: str,
    title: str,
    run: Callable[[], reports.Report] | None,
    role: str,
    titles: Mapping[str, str],
) -> ReportSection:
    if run is None:
        note = f"The {role} role does not read reports that list leads."
        return ReportSection(anchor, title, Markup(""), note)
    try:
        report = run()
    except reports.ReportError as exc:
        return ReportSection(anchor, title, Markup(""), str(exc))
    # the figures are SVG from vl-convert and text escaped by the charts module
    figures = reports.chart_figures(lambda: reports.charts_of(report, titles), spec=True)
    return ReportSection(anchor, title, Markup(figures), report=report)
