"""The web app in a real browser: Playwright driving the system Chromium against uvicorn on
127.0.0.1. Controls are found by role and label, as a person (or a screen reader) finds them;
each test saves screenshots (under pytest's tmp directory) and pages are checked with axe-core
(shipped inside axe-playwright-python). Every test fails if a page requested anything from a
host other than 127.0.0.1 (scripts, styles, fonts, charts all ship in the package)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from web_support import PROCESS, WebApp

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip("no system chromium (apt-get install chromium)", allow_module_level=True)

expect = sync_api.expect
BOARD = f"/app/p/{PROCESS}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for the module."""
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where this test's screenshots go."""
    path = tmp_path / "screenshots"
    path.mkdir()
    return path


FOREIGN: list[str] = []
"""Requests the pages made to another host than 127.0.0.1, in the running test."""


def _note_foreign(request: Any) -> None:
    if request.url.startswith(("data:", "blob:", "about:")):
        return
    if urlsplit(request.url).hostname != "127.0.0.1":
        FOREIGN.append(request.url)


@pytest.fixture(autouse=True)
def nothing_from_other_hosts() -> Iterator[None]:
    """Fail the test when a page requested anything from another host."""
    FOREIGN.clear()
    yield
    assert FOREIGN == [], f"requests to other hosts: {FOREIGN}"


def _page(
    browser: Any, web: WebApp, width: int = 1280, height: int = 800, *, script: bool = True
) -> Any:
    context = browser.new_context(
        base_url=web.url, viewport={"width": width, "height": height}, java_script_enabled=script
    )
    context.on("request", _note_foreign)
    return context.new_page()


def test_a_request_to_another_host_is_noticed(browser: Any, web: WebApp) -> None:
    """The guard of every test sees a request to another host (here made on purpose)."""
    page = _page(browser, web)
    page.evaluate("fetch('http://192.0.2.1/x.js').catch(function () {})")
    page.wait_for_timeout(200)
    assert FOREIGN == ["http://192.0.2.1/x.js"]
    FOREIGN.clear()
    page.context.close()


def _sign_in(page: Any, token: str) -> None:
    page.goto("/app/")
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def _serious(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_sign_in_move_refused_log_a_call_and_move(browser: Any, web: WebApp, shots: Path) -> None:
    """A rep signs in, opens the board, fires the guarded move and sees the unmet criterion on
    the card, logs a call in two clicks on the lead page, and then the move passes."""
    web.start("l1")
    page = _page(browser, web)
    _sign_in(page, web.tokens["rep"])
    expect(page.get_by_role("heading", name="Processes")).to_be_visible()
    page.get_by_role("link", name="Inbound lead response").click()
    expect(page.get_by_role("heading", name="New", exact=True)).to_be_visible()
    page.screenshot(path=shots / "board.png", full_page=True)
    page.get_by_role("button", name="Reached the lead: l1").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Log at least one call")
    page.screenshot(path=shots / "refused.png", full_page=True)
    assert web.engine.get(PROCESS, "l1").stage == "new"

    page.get_by_role("link", name="l1").click()
    page.get_by_text("Log activity").click()
    page.get_by_label("Note (optional)").fill("no answer")
    page.get_by_role("button", name="Log call").click()
    expect(page.get_by_text("logged call: “no answer”")).to_be_visible()
    page.get_by_role("button", name="Reached the lead").click()
    expect(page.get_by_role("heading", name="l1 in Contacted")).to_be_visible()
    page.screenshot(path=shots / "lead.png", full_page=True)
    assert web.engine.get(PROCESS, "l1").stage == "contacted"
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Token")).to_be_visible()
    page.context.close()


def test_a_second_browser_sees_a_change_within_two_seconds(
    browser: Any, web: WebApp, shots: Path
) -> None:
    """While one person's board is open, a lead another person starts appears on it within
    2 seconds, without a reload by hand."""
    web.start("l1")
    watcher = _page(browser, web)
    _sign_in(watcher, web.tokens["manager"])
    watcher.goto(BOARD)
    expect(watcher.locator("#card-l1")).to_be_visible()
    actor = _page(browser, web)
    _sign_in(actor, web.tokens["admin"])
    actor.goto(f"{BOARD}/leads/l1")
    actor.get_by_text("Log activity").click()
    actor.get_by_role("button", name="Log call").click()
    actor.get_by_role("button", name="Reached the lead").click()
    expect(watcher.locator('[aria-labelledby="col-contacted"] #card-l1')).to_be_visible(
        timeout=2000
    )
    watcher.screenshot(path=shots / "second-browser.png", full_page=True)
    watcher.context.close()
    actor.context.close()


def test_a_change_through_the_api_reaches_an_open_board_by_server_sent_events(
    browser: Any, web: WebApp
) -> None:
    """A board follows /app/events (not polling); a lead started through the HTTP API with a
    token appears on it within 2 seconds."""
    watcher = _page(browser, web)
    _sign_in(watcher, web.tokens["manager"])
    watcher.goto(BOARD)
    expect(watcher.locator("body")).to_have_attribute("data-live", "events")
    answer = httpx.post(
        f"{web.url}/api/v1/processes/{PROCESS}/leads",
        json={"lead_id": "via-api", "data": {"email": "a@example.com"}, "owner": "sdr_ana"},
        headers={"Authorization": f"Bearer {web.tokens['admin']}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    expect(watcher.locator("#card-via-api")).to_be_visible(timeout=2000)
    assert watcher.locator("body").get_attribute("data-live") == "events"
    watcher.context.close()


def test_a_live_reload_never_cancels_a_form_the_person_submitted(browser: Any, web: WebApp) -> None:
    """A change seen after the person submitted a form (or followed a link) does not reload
    the page over their navigation; without that, the same change reloads it."""
    page = _page(browser, web)
    _sign_in(page, web.tokens["manager"])
    page.goto(BOARD)
    expect(page.locator("body")).to_have_attribute("data-live", "events")
    page.evaluate("window.leadflowMarker = 'first load'")
    page.evaluate("document.dispatchEvent(new Event('submit'))")  # as a form submit does
    web.start("while-leaving")
    page.wait_for_timeout(2500)  # a reload would come within 2 s (the SSE test's bound)
    assert page.evaluate("window.leadflowMarker") == "first load"
    page.goto(BOARD)
    page.evaluate("window.leadflowMarker = 'second load'")
    web.start("while-looking")
    expect(page.locator("#card-while-looking")).to_be_visible(timeout=2000)
    assert page.evaluate("window.leadflowMarker") is None  # the control: it did reload
    page.context.close()


def test_wall_board_with_a_board_token_shows_no_lead_data(
    browser: Any, web: WebApp, shots: Path
) -> None:
    """The wall opened with a board token in the URL shows the reps and no lead."""
    web.start("lead-alpha")
    web.engine.record(PROCESS, "lead-alpha", "call", {})
    page = _page(browser, web, 1920, 1080)
    response = page.goto(f"/app/wall/sdr?token={web.tokens['board']}")
    assert response.status == 200
    expect(page.get_by_role("rowheader", name="sdr_ana").first).to_be_visible()
    assert "lead-alpha" not in page.content()
    assert _serious(page) == []
    page.screenshot(path=shots / "wall.png", full_page=True)
    page.context.close()


def test_a_role_is_refused_a_page_it_may_not_see(browser: Any, web: WebApp, shots: Path) -> None:
    """A board-role person signed in is refused the pipeline board with a readable page."""
    page = _page(browser, web)
    _sign_in(page, web.tokens["board"])
    response = page.goto(BOARD)
    assert response.status == 403
    expect(page.get_by_role("heading", name="You may not see this page")).to_be_visible()
    page.screenshot(path=shots / "refused-page.png")
    page.context.close()


def test_pages_have_no_serious_accessibility_violations(
    browser: Any, web: WebApp, shots: Path
) -> None:
    """axe-core finds no serious or critical violation on the sign-in form, the board and the
    lead page, at desktop and at phone width."""
    web.start("l1")
    for width, height in ((1280, 800), (390, 844)):
        page = _page(browser, web, width, height)
        page.goto("/app/")
        assert _serious(page) == [], "sign-in"
        _sign_in(page, web.tokens["rep"])
        for path in (BOARD, f"{BOARD}/leads/l1"):
            page.goto(path)
            assert _serious(page) == [], path
            page.screenshot(path=shots / f"{width}-{path.rsplit('/', 1)[1]}.png", full_page=True)
        page.context.close()


def test_the_board_is_keyboard_reachable(browser: Any, web: WebApp) -> None:
    """Tabbing from the top reaches the skip link, then the filters and a card's button."""
    web.start("l1")
    page = _page(browser, web)
    _sign_in(page, web.tokens["rep"])
    page.goto(BOARD)
    reached = []
    for _ in range(20):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()")
        )
    assert reached[0] == "Skip to content"
    assert "f-owner" in reached
    assert "Reached the lead" in reached
    page.context.close()


def test_dragging_a_card_fires_the_trigger_to_that_column(browser: Any, web: WebApp) -> None:
    """Dropping a card on another column fires the real trigger to it: refused with the
    criterion shown while unmet, moved once met."""
    web.start("l1")
    page = _page(browser, web)
    _sign_in(page, web.tokens["rep"])
    page.goto(BOARD)
    page.drag_and_drop("#card-l1", '[data-stage="contacted"]')
    expect(page.get_by_role("alert")).to_contain_text("Log at least one call")
    web.engine.record(PROCESS, "l1", "call", {})
    page.goto(BOARD)
    page.drag_and_drop("#card-l1", '[data-stage="contacted"]')
    expect(page.locator('[data-stage="contacted"] #card-l1')).to_be_visible()
    assert web.engine.get(PROCESS, "l1").stage == "contacted"
    page.context.close()


def test_the_ops_page_is_accessible_and_linked_for_ops(browser: Any, web: WebApp) -> None:
    """An ops person finds the Operations link in the header; the page has no serious axe
    violation."""
    page = _page(browser, web)
    _sign_in(page, web.tokens["ops"])
    page.get_by_role("link", name="Operations").click()
    expect(page.get_by_role("heading", name="Operations")).to_be_visible()
    assert _serious(page) == []
    page.context.close()


def test_the_map_page_is_accessible(browser: Any, web: WebApp, shots: Path) -> None:
    """The map page (diagram, charts and tables) has no serious axe violation; its charts
    are images named by their titles."""
    web.start("l1")
    page = _page(browser, web)
    _sign_in(page, web.tokens["manager"])
    page.goto(BOARD)
    page.get_by_role("link", name="Process map and reports").click()
    expect(page.get_by_role("heading", name="Time in stage")).to_be_visible()
    expect(page.get_by_role("figure", name="Open leads by stage")).to_be_visible()
    expect(page.get_by_role("figure", name="Funnel, all cohorts")).to_be_visible()
    specs = page.locator("script[data-chart-spec]").count()
    assert specs >= 2
    expect(page.locator("figure[data-drawn='view']")).to_have_count(specs)
    assert _serious(page) == []
    page.screenshot(path=shots / "map.png", full_page=True)
    page.context.close()


def test_an_open_lead_page_and_wall_follow_a_change_made_through_the_engine(
    browser: Any, web: WebApp
) -> None:
    """A change made outside the browser (here the engine, as the API or the worker would)
    shows on an open lead page within 2 seconds, and on an open wall board within 4 (a wall's
    figures are worked out at most every 2 seconds)."""
    web.start("l1")
    lead = _page(browser, web)
    _sign_in(lead, web.tokens["rep"])
    lead.goto(f"{BOARD}/leads/l1")
    wall = _page(browser, web, 1920, 1080)
    wall.goto(f"/app/wall/sdr?token={web.tokens['board']}")
    expect(wall.get_by_role("rowheader", name="sdr_ana").first).to_be_visible()
    assert "100%" not in wall.content()
    web.engine.record(PROCESS, "l1", "call", {"note": "from the API"}, actor=None)
    expect(lead.get_by_text("logged call: “from the API”")).to_be_visible(timeout=2000)
    expect(wall.get_by_text("100%").first).to_be_visible(timeout=4000)
    lead.context.close()
    wall.context.close()


def test_a_saved_view_and_a_batch_on_everything_it_matches(
    browser: Any, web: WebApp, shots: Path
) -> None:
    """An admin saves the board filtered to Ana's deals as a shared view, then assigns every
    lead it matches to Ben: the batch page counts them until none is pending; board and batch
    page pass axe."""
    for k in range(3):
        web.deal(f"b{k}", "ana")
    web.deal("cleos", "cleo")
    page = _page(browser, web)
    _sign_in(page, web.tokens["admin"])
    page.goto("/app/p/deals?owner=ana")
    page.get_by_label("View name").fill("Ana's deals")
    page.get_by_label("Shared with everyone").check()
    page.get_by_role("button", name="Save view").click()
    expect(page.get_by_role("link", name="Ana's deals")).to_be_visible()
    expect(page.get_by_text("All 3 leads this filter matches:")).to_be_visible()
    assert _serious(page) == []
    page.screenshot(path=shots / "views.png", full_page=True)
    page.locator("#batch-owner").select_option("ben")
    page.get_by_role("button", name="Assign all matching").click()
    expect(
        page.get_by_role("heading", name=re.compile(r"Batch \d+: Assign to ben"))
    ).to_be_visible()
    expect(page.locator('[data-count="pending"]')).to_have_text("0", timeout=5000)
    expect(page.locator('[data-count="succeeded"]')).to_have_text("3")
    assert _serious(page) == []
    page.screenshot(path=shots / "batch.png", full_page=True)
    assert {web.engine.get("deals", f"b{k}").owner for k in range(3)} == {"ben"}
    assert web.engine.get("deals", "cleos").owner == "cleo"
    page.context.close()


def test_without_server_sent_events_the_board_falls_back_to_polling(
    browser: Any, web: WebApp
) -> None:
    """When /app/events answers an error (a proxy that refuses streams), the board polls
    /app/changes instead and still shows a change within 2 seconds."""
    watcher = _page(browser, web)
    watcher.context.route("**/app/events*", lambda route: route.fulfill(status=503, body=""))
    _sign_in(watcher, web.tokens["manager"])
    watcher.goto(BOARD)
    expect(watcher.locator("body")).to_have_attribute("data-live", "polling")
    web.start("late")
    expect(watcher.locator("#card-late")).to_be_visible(timeout=2000)
    watcher.context.close()


def _watch_errors(page: Any) -> list[str]:
    """Console errors, page errors and Content-Security-Policy violations of ``page``."""
    problems: list[str] = []

    def console(message: Any) -> None:
        if message.type == "error":
            problems.append(f"{message.text} at {message.location['url']}")

    page.on("console", console)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.expose_function("reportViolation", lambda text: problems.append(f"CSP: {text}"))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', function (e) {"
        " window.reportViolation(e.violatedDirective + ' ' + e.blockedURI); });"
    )
    return problems


def test_the_map_charts_are_interactive_under_the_pages_policy(
    browser: Any, web: WebApp, shots: Path
) -> None:
    """With script, the map's charts are drawn by the vendored Vega in place of the server's
    SVG: hovering a bar shows its value in a tooltip, a click on it dims the other bars, and
    nothing breaks the page's Content-Security-Policy (no eval, no inline style)."""
    web.start("l1")
    web.start("l2")
    page = _page(browser, web)
    problems = _watch_errors(page)
    _sign_in(page, web.tokens["manager"])
    page.goto(f"{BOARD}/map")
    figure = page.locator("figure.chart").filter(has=page.locator("[data-chart-view='pipeline']"))
    expect(figure).to_have_attribute("data-drawn", "view")
    view = figure.locator("[data-chart-view='pipeline'] svg.marks")
    expect(view).to_have_attribute("aria-label", "Open leads by stage")
    expect(figure.locator("svg.chart")).to_have_count(0)  # the fallback SVG made way
    bars = view.locator("path[aria-roledescription='bar']")
    labels = bars.evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
    index = next(i for i, label in enumerate(labels) if label.endswith("2 leads"))
    stage = labels[index].split(":")[0]
    full = bars.nth(index)
    full.hover()
    tooltip = page.locator("#vg-tooltip-element")
    expect(tooltip).to_be_visible()
    expect(tooltip).to_have_text(f"{stage}: 2 leads")
    full.click()
    expect(full).not_to_have_attribute("opacity", "0.3")
    assert len(labels) > 1
    other = bars.nth(0 if index else 1)
    expect(other).to_have_attribute("opacity", "0.3")
    page.screenshot(path=shots / "map-tooltip.png", full_page=True)
    assert _serious(page) == []
    assert problems == []
    page.context.close()


def test_without_script_the_map_keeps_the_server_drawn_charts(browser: Any, web: WebApp) -> None:
    """Without script the map's charts are the server's SVG images, named by their titles,
    and their specs stay inert data (axe needs script: the other map tests run it)."""
    web.start("l1")
    page = _page(browser, web, script=False)
    _sign_in(page, web.tokens["manager"])
    page.goto(f"{BOARD}/map")
    expect(page.get_by_role("img", name="Open leads by stage")).to_be_visible()
    expect(page.locator("[data-chart-view]")).to_have_count(0)
    expect(page.locator("script[data-chart-spec='pipeline']")).to_have_count(1)
    page.context.close()
