"""Bulk actions on the board's selected cards: each lead its own engine call, outcome per lead."""

from __future__ import annotations

from web_support import DEALS, WebApp, csrf_of

BOARD = f"/app/p/{DEALS}"


def test_firing_on_selected_cards_reports_each_lead(web: WebApp) -> None:
    """A bulk fire moves the leads whose criteria are met and lists the refused ones with the
    unmet criterion; nothing else changes."""
    web.deal("ready", "ana", budget=5)
    web.deal("not-ready", "ana")
    web.deal("other", "ana", budget=5)
    client = web.signed_in("ana")
    page = client.get(BOARD)
    assert 'aria-label="Select ready"' in page.text
    assert '<label for="bulk-trigger">' in page.text
    answer = client.post(
        f"{BOARD}/bulk",
        data={
            "csrf": csrf_of(page),
            "action": "fire",
            "trigger": "propose",
            "lead": ["ready", "not-ready"],
        },
    )
    assert answer.status_code == 200
    assert "1 done, 1 refused" in answer.text
    assert "not-ready: Record the budget" in answer.text
    stages = {lead: web.engine.get(DEALS, lead).stage for lead in ("ready", "not-ready", "other")}
    assert stages == {"ready": "proposal", "not-ready": "new", "other": "new"}


def test_assigning_selected_cards_obeys_the_access_rules(web: WebApp) -> None:
    """A rep may give leads only to themselves: a bulk assign to another rep is
    refused lead by lead; to themselves it passes."""
    web.deal("u1", None)
    web.deal("u2", None)
    client = web.signed_in("ana")
    token = csrf_of(client.get(BOARD))
    form = {"csrf": token, "action": "assign", "lead": ["u1", "u2"]}
    refused = client.post(f"{BOARD}/bulk", data={**form, "assign_to": "ben"})
    assert "0 done, 2 refused" in refused.text
    assert web.engine.get(DEALS, "u1").owner is None
    done = client.post(f"{BOARD}/bulk", data={**form, "assign_to": "ana"})
    assert "2 done, 0 refused" in done.text
    assert {web.engine.get(DEALS, lead).owner for lead in ("u1", "u2")} == {"ana"}


def test_a_bulk_action_needs_leads_an_action_and_the_csrf_token(web: WebApp) -> None:
    """No lead, no action or no trigger is a 422 page; a missing CSRF token is 403."""
    web.deal("d1", "ana", budget=5)
    client = web.signed_in("ana")
    token = csrf_of(client.get(BOARD))
    url = f"{BOARD}/bulk"
    assert client.post(url, data={"csrf": token, "action": "fire"}).status_code == 422
    assert client.post(url, data={"csrf": token, "lead": "d1"}).status_code == 422
    no_trigger = {"csrf": token, "lead": "d1", "action": "fire"}
    assert client.post(url, data=no_trigger).status_code == 422
    forged = {"lead": "d1", "action": "fire", "trigger": "propose"}
    assert client.post(url, data=forged).status_code == 403
    assert web.engine.get(DEALS, "d1").stage == "new"


def test_a_viewer_gets_no_bulk_form(web: WebApp) -> None:
    """Roles that can neither fire nor assign see no selection boxes."""
    web.deal("d1", "ana")
    page = web.signed_in("viewer").get(BOARD).text
    assert 'id="bulk"' not in page
    assert 'class="select"' not in page
