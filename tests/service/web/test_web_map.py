"""The process map and reports page over HTTP."""

from __future__ import annotations

import re
import shutil

import pytest
from web_support import PROCESS, WebApp

MAP = f"/app/p/{PROCESS}/map"


def test_the_map_shows_the_diagram_and_live_counts(web: WebApp) -> None:
    """The map has the diagram (Graphviz SVG inline, when dot is installed), the open leads
    per stage, time in stage and the funnel; it names no lead."""
    for i in range(3):
        web.start(f"secret-{i}")
    page = web.signed_in("manager").get(MAP)
    assert page.status_code == 200
    row = re.search(r'<th scope="row">New</th><td>(\d+)</td>', page.text)
    assert row is not None
    assert row.group(1) == "3"
    assert "Time in stage" in page.text
    for head in ("Median days (closed)", "Median days so far (open)", "Median days to won"):
        assert head in page.text  # closed visits, open visits and outcomes apart
    assert "Funnel" in page.text
    assert "secret-" not in page.text
    if shutil.which("dot"):
        assert "<svg" in page.text
        assert "<?xml" not in page.text
    else:
        assert "No diagram" in page.text


def test_the_board_role_may_see_the_map_and_a_rep_may_not(web: WebApp) -> None:
    """Aggregates only: the board role sees the map; a rep (no reports) gets the 403 page and
    no link to it on the board."""
    assert web.signed_in("board").get(MAP).status_code == 200
    rep = web.signed_in("rep")
    assert rep.get(MAP).status_code == 403
    assert f'href="{MAP}"' not in rep.get(f"/app/p/{PROCESS}").text
    assert f'href="{MAP}"' in web.signed_in("manager").get(f"/app/p/{PROCESS}").text


@pytest.mark.parametrize("path", ["/app/p/nope/map"])
def test_an_unknown_process_has_no_map(web: WebApp, path: str) -> None:
    """An unknown process is a 404 page."""
    assert web.signed_in("admin").get(path).status_code == 404


def chart_of(html: str, chart_id: str) -> str:
    """The SVG of the chart ``chart_id`` on a page (fails when there is none)."""
    found = re.search(rf'<svg [^>]*data-chart="{chart_id}".*?</svg>', html, re.S)
    assert found is not None, f"no chart {chart_id}"
    return found.group(0)


def test_the_map_draws_the_reports_as_charts(web: WebApp) -> None:
    """Pipeline, funnel and owners are drawn (a bar per stage, the open leads in its label);
    reports without data say so instead of an empty chart; no chart names a lead."""
    for i in range(3):
        web.start(f"secret-{i}")
    page = web.signed_in("manager").get(MAP).text
    pipeline = chart_of(page, "pipeline")
    assert "<title>New: 3 leads</title>" in pipeline
    assert 'aria-roledescription="bar"' in chart_of(page, "funnel")
    for heading in ("Pipeline", "Funnel", "Time in stage", "Stuck leads", "Loss reasons"):
        assert f">{heading}</h2>" in page
    assert ">Owners</h2>" in page
    assert ">Forecast, next 4 months</h2>" in page
    assert '<p class="no-data" data-chart="loss-reasons">No lead was lost.</p>' in page
    assert '<p class="no-data" data-chart="owners">No lead was won yet.</p>' in page
    assert "secret-" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_the_map_obeys_hidden_fields_and_lead_listing_rules(web: WebApp) -> None:
    """The board role, which may not read amounts in deals nor read reports that list leads,
    sees no amount in the charts and no stuck-leads chart; a manager sees both."""
    web.deal("d1", "ana", amount=12345, segment="smb")
    web.deal("d2", "ben", amount=500, segment="smb")
    deals_map = "/app/p/deals/map"
    manager = web.signed_in("manager").get(deals_map).text
    assert "12,845" in chart_of(manager, "pipeline")
    assert "does not read reports that list leads" not in manager
    board = web.signed_in("board").get(deals_map)
    assert board.status_code == 200
    assert "<title>New: 2 leads</title>" in chart_of(board.text, "pipeline")
    assert "12,845" not in board.text
    assert "12845" not in board.text
    assert "The board role does not read reports that list leads." in board.text
    assert 'data-chart="stuck"' not in board.text


def test_the_map_ships_its_chart_scripts_and_specs_from_its_own_host(web: WebApp) -> None:
    """The map loads Vega and its chart script from the app itself (the page's policy allows
    no other host and no eval), each drawn chart carries its spec as JSON data, and the
    vendored files are served with their licences."""
    web.start("l1")
    client = web.signed_in("manager")
    page = client.get(MAP)
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "unsafe" not in policy
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    assert scripts[:4] == [
        "/app/static/vendor/vega.min.js",
        "/app/static/vendor/vega-lite.min.js",
        "/app/static/vendor/vega-embed.min.js",
        "/app/static/charts.js",
    ]
    specs = re.findall(r'<script type="application/json" data-chart-spec="([^"]+)">', page.text)
    drawn = re.findall(r'<svg [^>]*class="chart" data-chart="([^"]+)"', page.text)
    assert "pipeline" in specs
    assert specs == drawn  # one spec per server-drawn chart, none for a "no data" sentence
    assert not re.search(r"<script>", page.text)  # no inline executable script
    for path in [*scripts, "/app/static/vendor/LICENSE.vega", "/app/static/vendor/README.md"]:
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert len(answer.content) > 500, path
