"""The pipeline board over HTTP: columns, totals, what each role sees, filters, pages, moves."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from web_support import DEALS, WebApp, csrf_of

BOARD = f"/app/p/{DEALS}"


def _cards(html: str) -> list[str]:
    return re.findall(r'<li class="card" id="card-([^"]+)"', html)


def _column(html: str, stage: str) -> str:
    start = html.index(f'aria-labelledby="col-{stage}"')
    end = html.find('<section class="column"', start)
    return html[start : end if end > 0 else len(html)]


def test_a_column_per_open_stage_with_count_value_and_weighted_value(web: WebApp) -> None:
    """Open stages are columns with their lead count, value and weighted value; closed
    stages and closed leads are not on the board."""
    web.deal("d1", "ana", amount=1000, budget=10)
    web.deal("d2", "ben", amount=3000, budget=10)
    web.deal("d3", "cleo", amount=500)
    for lead in ("d1", "d2"):
        web.engine.fire(DEALS, lead, "propose")
    web.engine.fire(DEALS, "d3", "lose", {"lost_reason": "competitor"})
    page = web.signed_in("admin").get(BOARD)
    assert page.status_code == 200
    assert re.findall(r'<h2 id="col-(\w+)"', page.text) == ["new", "proposal"]
    proposal = _column(page.text, "proposal")
    assert "2 leads" in proposal
    assert "value 4,000" in proposal
    assert "weighted 2,000" in proposal
    assert "0 leads" in _column(page.text, "new")
    assert "d3" not in _cards(page.text)


def test_a_rep_sees_their_own_and_unassigned_leads_without_hidden_fields(web: WebApp) -> None:
    """A rep's board lists only their leads and unassigned ones, and never shows the amount
    that the definition hides from reps (neither per card nor in the totals)."""
    web.deal("mine", "ana", amount=7777)
    web.deal("bens", "ben", amount=8888)
    web.deal("open", None, amount=9999)
    page = web.signed_in("ana").get(BOARD)
    assert sorted(_cards(page.text)) == ["mine", "open"]
    for secret in ("7,777", "8,888", "9,999", "7777", "Value", "weighted"):
        assert secret not in page.text
    assert "2 leads" in _column(page.text, "new")


def test_filters_by_owner_and_team_live_in_the_url(web: WebApp) -> None:
    """?owner= and ?team= narrow the board; the filter form is a GET, so the URL is the view."""
    web.deal("a1", "ana")
    web.deal("b1", "ben")
    web.deal("c1", "cleo")
    client = web.signed_in("admin")
    assert _cards(client.get(BOARD, params={"owner": "ben"}).text) == ["b1"]
    assert _cards(client.get(BOARD, params={"team": "west"}).text) == ["c1"]
    assert sorted(_cards(client.get(BOARD, params={"team": "east"}).text)) == ["a1", "b1"]
    page = client.get(BOARD)
    assert '<form class="filters" method="get"' in page.text
    assert '<label for="f-owner">' in page.text
    assert '<label for="f-team">' in page.text
    unknown = client.get(BOARD, params={"team": "nowhere"})
    assert unknown.status_code == 422
    assert "no team" in unknown.text


def test_a_rep_cannot_widen_the_board_with_a_filter(web: WebApp) -> None:
    """A rep asking for another rep's leads by the owner filter gets an empty board."""
    web.deal("b1", "ben")
    page = web.signed_in("ana").get(BOARD, params={"owner": "ben"})
    assert page.status_code == 200
    assert _cards(page.text) == []


def test_columns_are_paged(web: WebApp) -> None:
    """A column shows 50 cards and a link to the next 50; the count is of all of them."""
    web.engine.start_many(DEALS, [(f"n{i:03}", {"amount": 1}, "ana") for i in range(120)])
    client = web.signed_in("admin")
    first = client.get(BOARD)
    cards = _cards(first.text)
    assert len(cards) == 50
    assert "120 leads" in first.text
    more = re.search(r'<a class="more" href="([^"]+)"', first.text)
    assert more is not None
    second = _cards(client.get(more.group(1).replace("&amp;", "&")).text)
    assert len(second) == 50
    assert not set(cards) & set(second)


def test_card_buttons_are_the_triggers_the_role_may_fire(web: WebApp) -> None:
    """A card has a button per trigger out of its stage the person may fire (triggers that
    need a field value are on the lead page); a viewer gets none."""
    web.deal("d1", "ana")
    admin = web.signed_in("admin").get(BOARD).text
    assert 'aria-label="Send proposal: d1"' in admin
    assert "Mark lost: d1" not in admin
    viewer = web.signed_in("viewer").get(BOARD).text
    assert "d1" in _cards(viewer)
    assert "Send proposal" not in viewer


def test_a_refused_move_shows_the_unmet_criteria_on_the_card(web: WebApp) -> None:
    """Firing a guarded trigger whose criterion is unmet answers the board with the message
    on the card (409) and changes nothing; once met, the move redirects back to the board."""
    web.deal("d1", "ana")
    client = web.signed_in("ana")
    page = client.get(BOARD, params={"owner": "ana"})
    form = {
        "csrf": csrf_of(page),
        "trigger": "propose",
        "back": "board",
        "view": "owner=ana",
    }
    refused = client.post(f"{BOARD}/leads/d1/fire", data=form)
    assert refused.status_code == 409
    assert 'class="refusal" role="alert"' in refused.text
    assert "Record the budget" in refused.text
    assert web.engine.get(DEALS, "d1").stage == "new"
    web.engine.update(DEALS, "d1", {"budget": 50})
    moved = client.post(f"{BOARD}/leads/d1/fire", data=form)
    assert moved.status_code == 303
    assert moved.headers["location"] == f"{BOARD}?owner=ana"
    assert web.engine.get(DEALS, "d1").stage == "proposal"
    history = web.engine.history(DEALS, "d1")
    assert history[-1].actor == "ana"


def test_a_move_without_the_csrf_token_is_refused(web: WebApp) -> None:
    """A fire without the form's CSRF token, or from another origin, is 403 and changes
    nothing."""
    web.deal("d1", "ana", budget=5)
    client = web.signed_in("ana")
    token = csrf_of(client.get(BOARD))
    url = f"{BOARD}/leads/d1/fire"
    assert client.post(url, data={"trigger": "propose"}).status_code == 403
    assert client.post(url, data={"trigger": "propose", "csrf": "x" * 43}).status_code == 403
    other = client.post(
        url,
        data={"trigger": "propose", "csrf": token},
        headers={"Origin": "http://evil.example"},
    )
    assert other.status_code == 403
    other_session = web.signed_in("ben")
    assert other_session.post(url, data={"trigger": "propose", "csrf": token}).status_code == 403
    assert web.engine.get(DEALS, "d1").stage == "new"


def test_a_move_the_role_may_not_make_is_a_403_page(web: WebApp) -> None:
    """A viewer posting a move anyway (with a valid CSRF token) is refused by the access
    rules; a rep may not move another rep's lead."""
    web.deal("d1", "ben", budget=5)
    viewer = web.signed_in("viewer")
    form = {"csrf": csrf_of(viewer.get(BOARD)), "trigger": "propose", "back": "board"}
    refused = viewer.post(f"{BOARD}/leads/d1/fire", data=form)
    assert refused.status_code == 403
    assert "You may not do that" in refused.text
    ana = web.signed_in("ana")
    form["csrf"] = csrf_of(ana.get(BOARD))
    assert ana.post(f"{BOARD}/leads/d1/fire", data=form).status_code == 403
    assert web.engine.get(DEALS, "d1").stage == "new"


def test_enum_fields_filter_the_board_and_the_view_survives_a_move(web: WebApp) -> None:
    """?segment= narrows cards and totals; a move made on a filtered board comes back to the
    same filtered board."""
    web.deal("s1", "ana", segment="smb", budget=1)
    web.deal("s2", "ana", segment="smb")
    web.deal("e1", "ana", segment="enterprise")
    client = web.signed_in("ana")
    page = client.get(BOARD, params={"segment": "smb"})
    assert sorted(_cards(page.text)) == ["s1", "s2"]
    assert "2 leads" in _column(page.text, "new")
    assert '<label for="f-segment">Segment</label>' in page.text
    assert 'name="view" value="segment=smb"' in page.text
    moved = client.post(
        f"{BOARD}/leads/s1/fire",
        data={"csrf": csrf_of(page), "trigger": "propose", "back": "board", "view": "segment=smb"},
    )
    assert moved.status_code == 303
    assert moved.headers["location"] == f"{BOARD}?segment=smb"


def test_a_hidden_field_cannot_filter_the_board(web: WebApp) -> None:
    """A rep may not filter by a field hidden from reps (it would tell its values); it is not
    offered either. An admin may."""
    web.deal("n1", "ana", region="north")
    web.deal("s1", "ana", region="south")
    rep = web.signed_in("ana")
    assert rep.get(BOARD, params={"region": "north"}).status_code == 403
    assert 'id="f-region"' not in rep.get(BOARD).text
    admin = web.signed_in("admin").get(BOARD, params={"region": "north"})
    assert _cards(admin.text) == ["n1"]


def test_a_lead_idle_for_two_weeks_is_rotting(web: WebApp) -> None:
    """A card with no stage change and no activity for more than 14 days has a rotting badge;
    an activity takes it away."""
    old = datetime.now(UTC) - timedelta(days=20)
    web.engine.start_many(DEALS, [{"lead_id": "old", "owner": "ana", "at": old}])
    web.deal("fresh", "ana")
    client = web.signed_in("admin")
    page = client.get(BOARD).text
    old_card = page[page.index('id="card-old"') : page.index('id="card-fresh"')]
    assert "Rotting: idle 20d" in old_card
    assert page.count("Rotting:") == 1
    web.engine.record(DEALS, "old", "call", {})
    assert "Rotting:" not in client.get(BOARD).text


def test_a_stage_rotting_after_sets_its_own_threshold(web: WebApp) -> None:
    """In deals, proposal says ``rotting_after: 3d``: a proposal idle for 5 days rots, while a
    new lead idle for 5 days does not (the default is 14 days)."""
    five_days_ago = datetime.now(UTC) - timedelta(days=5)
    leads = [{"lead_id": k, "owner": "ana", "at": five_days_ago} for k in ("p1", "n1")]
    web.engine.start_many(DEALS, leads)
    web.engine.fire(DEALS, "p1", "propose", {"budget": 10}, at=five_days_ago)
    page = web.signed_in("admin").get(BOARD).text
    assert "Rotting: idle 5d" in _column(page, "proposal")
    assert "Rotting:" not in _column(page, "new")
