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
