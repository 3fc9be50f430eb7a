"""``/app/p/{process}/map``: the process diagram with its live leads per stage, and the reports
as charts (see :mod:`._map_reports`), with the time in stage and funnel tables.

The reports replay history (several seconds for 10,000 leads on a busy machine), so each server
works them out once per process and role and keeps them for :data:`REPORTS_FOR` seconds after a
change (the page says as of when); the diagram's live counts are read on every view.

The diagram is the one ``leadflow graph`` draws (Graphviz SVG, inline: nothing is fetched);
where Graphviz's ``dot`` is not installed the page says so and keeps the tables, which carry
the same numbers. Every role that reads aggregate reports may see it (no lead is named).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from leadflow.engine.access import require
from leadflow.engine.graph import GraphvizError, format_age, graphviz, render_dot, stage_heat
from leadflow.service._deps import EngineDep
from leadflow.service.web._auth import User
from leadflow.service.web._map_reports import report_sections
from leadflow.service.web._render import render
from leadflow.service.web._views import live
from leadflow.service.web._wall import WallCache

__all__ = ["REPORTS_FOR", "map_cache", "router"]

router = APIRouter(prefix="/app/p", include_in_schema=False)

REPORTS_FOR = 30.0
"""Seconds the map's reports are reused after a change."""


def map_cache() -> WallCache:
    """The cache of the map pages' reports (one per app)."""
    return WallCache(min_age=REPORTS_FOR, max_age=10 * REPORTS_FOR)


@router.get("/{process}/map", response_class=HTMLResponse)
def process_map(request: Request, process: str, engine: EngineDep, user: User) -> HTMLResponse:
    """The map page."""
    definition = engine.definition(process)
    require(user.actor, "reports", None, definition)
    changes = live(request, f"/app/p/{process}/map")
    heat = stage_heat(engine, process)
    cache: WallCache = request.app.state.maps
    _, (as_of, found) = cache.get(
        f"{process}|{user.actor.role}",
        changes["change"],
        lambda: (engine.clock.now(), report_sections(engine, process, user.actor, definition)),
    )
    sections = {s.id: s for s in found}
    try:
        svg = graphviz(render_dot(definition, heat), "svg").decode("utf-8")
        # dot's own SVG (it escapes every label), without its XML prolog and doctype
        diagram: Markup | None = Markup(svg[svg.index("<svg") :])
        missing = None
    except GraphvizError as exc:
        diagram, missing = None, str(exc)
    stages: list[dict[str, Any]] = []
    for name in definition.open_stages:
        live_stage = heat.stages.get(name)
        stages.append(
            {
                "title": definition.stages[name].title or name,
                "leads": live_stage.leads if live_stage else 0,
                "median_age": format_age(live_stage.median_age) if live_stage else "",
                "probability": definition.stages[name].probability,
            }
        )
    context = {
        "title": f"Map · {definition.title or process}",
        "user": user,
        "process": process,
        "process_title": definition.title or process,
        "diagram": diagram,
        "missing": missing,
        "stages": stages,
        "sections": sections,
        "reports_as_of": as_of,
        "time_in_stage": _rows(sections["time-in-stage"].report),
        "funnel": _rows(sections["funnel"].report),
        "live": changes,
    }
    return render(request, "map.html", context)


def _rows(report: Any) -> Any:
    return report.rows if report is not None else ()
