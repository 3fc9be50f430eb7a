"""The lead page over HTTP: stage path, exit criteria, SLA clocks, moves, the two-click
activity form and the history timeline."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from web_support import DEALS, PROCESS, WebApp, csrf_of

LEAD = f"/app/p/{PROCESS}/leads/l1"


def test_the_page_shows_path_criteria_slas_moves_and_history(web: WebApp) -> None:
    """A new inbound lead's page: the stage path with the current stage marked, the SLA
    clocks, a button per allowed trigger, the activity buttons and the start in the history."""
    web.start("l1")
    page = web.signed_in("rep").get(LEAD)
    assert page.status_code == 200
    path = re.search(r'<ol class="path">(.*?)</ol>', page.text, re.S)
    assert path is not None
    assert '<li class="stage-current" aria-current="step">New' in path.group(1)
    assert '<li class="stage-next">Contacted' in path.group(1)
    assert "Call every new lead within 5 business minutes" in page.text
    assert ">Reached the lead</button>" in page.text
    assert "Not met: Log at least one call" in page.text
    assert ">Log call</button>" in page.text
    assert '<label for="note">' in page.text
    assert "started in new" in page.text
    board = web.signed_in("rep").get(f"/app/p/{PROCESS}").text
    assert "none yet" in board


def test_logging_a_call_then_moving_on_shows_who_what_and_why(web: WebApp) -> None:
    """Two clicks log a call (with a note) as the signed-in rep; the guarded move then passes
    and the timeline says who did it and which criterion let it through."""
    web.start("l1")
    client = web.signed_in("rep")
    token = csrf_of(client.get(LEAD))
    logged = client.post(
        f"{LEAD}/activities", data={"csrf": token, "type": "call", "note": "left a message"}
    )
    assert logged.status_code == 303
    assert logged.headers["location"] == LEAD
    moved = client.post(f"{LEAD}/fire", data={"csrf": token, "trigger": "contact"})
    assert moved.status_code == 303
    page = client.get(LEAD).text
    assert "logged call: “left a message”" in page
    assert "contact: new → contacted" in page
    assert "Met: Log at least one call" in page
    assert page.count("<strong>sdr_ana</strong>") >= 2
    assert "Not met: Record the budget" in page  # the exit criterion of contacted
    assert web.engine.get(PROCESS, "l1").stage == "contacted"


def test_a_refused_move_on_the_lead_page_shows_the_messages(web: WebApp) -> None:
    """The guarded move without the call answers the lead page (409) with the unmet
    criterion; a trigger that needs a field gets a labelled control for it."""
    web.start("l1")
    client = web.signed_in("rep")
    page = client.get(LEAD)
    assert '<label for="in-lose-lost_reason">Lost reason</label>' in page.text
    refused = client.post(
        f"{LEAD}/fire", data={"csrf": csrf_of(page), "trigger": "contact", "back": "lead"}
    )
    assert refused.status_code == 409
    assert 'role="alert"' in refused.text
    assert "Log at least one call" in refused.text
    lost = client.post(
        f"{LEAD}/fire",
        data={"csrf": csrf_of(page), "trigger": "lose", "field.lost_reason": "no_response"},
    )
    assert lost.status_code == 409
    assert "Call the lead 5 times within 14 days" in lost.text
    bad = client.post(
        f"{LEAD}/fire",
        data={"csrf": csrf_of(page), "trigger": "lose", "field.lost_reason": "bored"},
    )
    assert bad.status_code == 422
    assert "lost_reason" in bad.text
    assert web.engine.get(PROCESS, "l1").stage == "new"


def test_hidden_fields_never_appear_on_the_lead_page(web: WebApp) -> None:
    """The amount the definition hides from reps is not on a rep's lead page, not even in
    the history of the change that set it; an admin sees it."""
    web.deal("d1", "ana", amount=4321, budget=7)
    web.engine.update(DEALS, "d1", {"amount": 5432})
    url = f"/app/p/{DEALS}/leads/d1"
    rep = web.signed_in("ana").get(url).text
    for secret in ("4321", "5432", "4,321", "5,432", "Amount"):
        assert secret not in rep
    assert "Budget" in rep
    assert "5432" in web.signed_in("admin").get(url).text


def test_a_viewer_sees_the_lead_but_no_buttons(web: WebApp) -> None:
    """A viewer reads the lead page without moves or the activity form, and cannot post one."""
    web.start("l1")
    viewer = web.signed_in("viewer")
    page = viewer.get(LEAD)
    assert page.status_code == 200
    assert "<button" not in page.text.split("</header>", 1)[1]
    refused = viewer.post(f"{LEAD}/activities", data={"csrf": csrf_of(page), "type": "call"})
    assert refused.status_code == 403
    assert len(web.engine.history(PROCESS, "l1")) == 1


def test_lead_ids_with_odd_characters_work(web: WebApp) -> None:
    """A lead id with a space, '#' and '?' links, posts and redirects correctly."""
    web.start("a b#c?d")
    client = web.signed_in("rep")
    board = client.get(f"/app/p/{PROCESS}").text
    assert 'href="/app/p/inbound-lead/leads/a%20b%23c%3Fd"' in board
    url = f"/app/p/{PROCESS}/leads/a%20b%23c%3Fd"
    page = client.get(url)
    assert page.status_code == 200
    logged = client.post(f"{url}/activities", data={"csrf": csrf_of(page), "type": "call"})
    assert logged.status_code == 303
    assert logged.headers["location"] == url
    assert web.engine.history(PROCESS, "a b#c?d")[-1].kind == "activity"


def test_an_unknown_activity_type_is_refused(web: WebApp) -> None:
    """Only the process's activity types can be logged from the page."""
    web.start("l1")
    client = web.signed_in("rep")
    page = client.get(LEAD)
    refused = client.post(f"{LEAD}/activities", data={"csrf": csrf_of(page), "type": "bogus"})
    assert refused.status_code == 422
    assert "log one of: call, voicemail, email, meeting" in refused.text
    assert len(web.engine.history(PROCESS, "l1")) == 1


def test_sla_due_times_are_shown_in_the_leads_time_zone(web: WebApp) -> None:
    """A running business-hours clock shows its due time in the lead's own time zone (the
    calendar's timezone field) beside UTC."""
    web.start("l1", timezone="Europe/Berlin")
    page = web.signed_in("rep").get(LEAD).text
    speed = next(s for s in web.engine.slas(PROCESS, "l1") if s.policy == "speed_to_call")
    assert speed.due_at is not None
    local = speed.due_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert f"{local:%Y-%m-%d %H:%M} Europe/Berlin" in page


def test_assigning_from_the_lead_page_obeys_the_access_rules(web: WebApp) -> None:
    """A rep claims an unassigned lead from its page; giving it to another rep is refused on
    the page (403) and changes nothing."""
    web.start("free", owner=None)
    web.engine.assign(PROCESS, "free", None)
    url = f"/app/p/{PROCESS}/leads/free"
    client = web.signed_in("rep")
    page = client.get(url)
    assert '<label for="owner-to">Owner</label>' in page.text
    refused = client.post(f"{url}/assign", data={"csrf": csrf_of(page), "owner_to": "sdr_ben"})
    assert refused.status_code == 403
    assert 'role="alert"' in refused.text
    assert "only to themselves" in refused.text
    assert web.engine.get(PROCESS, "free").owner is None
    claimed = client.post(f"{url}/assign", data={"csrf": csrf_of(page), "owner_to": "sdr_ana"})
    assert claimed.status_code == 303
    assert web.engine.get(PROCESS, "free").owner == "sdr_ana"


def test_a_routed_lead_shows_why_it_got_its_owner(web: WebApp) -> None:
    """A lead the routing rules gave an owner shows the rule's reason in its timeline."""
    web.start("l9", owner=None)
    reason = web.engine.history(PROCESS, "l9")[0].details["reason"]
    assert "sdr" in reason
    page = web.signed_in("admin").get(f"/app/p/{PROCESS}/leads/l9")
    assert page.status_code == 200
    assert f"<li>why: {reason}</li>" in page.text


def test_a_lead_whose_id_holds_a_slash_has_a_page_and_its_buttons_work(web: WebApp) -> None:
    """The board links ``crm/7`` as ``crm%2F7``; its page, its call and its move reach it."""
    web.start("crm/7")
    client = web.signed_in("rep")
    board = client.get(f"/app/p/{PROCESS}").text
    assert f'href="/app/p/{PROCESS}/leads/crm%2F7"' in board
    url = f"/app/p/{PROCESS}/leads/crm%2F7"
    page = client.get(url)
    assert page.status_code == 200
    token = csrf_of(page)
    logged = client.post(f"{url}/activities", data={"csrf": token, "type": "call"})
    assert (logged.status_code, logged.headers["location"]) == (303, url)
    moved = client.post(f"{url}/fire", data={"csrf": token, "trigger": "contact"})
    assert moved.status_code == 303
    assert web.engine.get(PROCESS, "crm/7").stage == "contacted"
