"""Sign-in, sessions, CSRF and the pages' answers to people who may not see them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from web_support import PROCESS, WebApp, csrf_of

from leadflow.service.web._session import COOKIE


def test_sign_in_form_has_a_labelled_token_field(web: WebApp) -> None:
    """Without a session, /app/ is the sign-in form with a field named token and its label."""
    page = web.client().get("/app/")
    assert page.status_code == 200
    assert 'name="token"' in page.text
    assert '<label for="token">' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["referrer-policy"] == "same-origin"


def test_pages_without_a_session_redirect_to_the_sign_in_form(web: WebApp) -> None:
    """A page asked for without a session redirects to /app/, remembering where it was going."""
    for path in (f"/app/p/{PROCESS}", f"/app/p/{PROCESS}/leads/x", "/app/wall/sdr"):
        answer = web.client().get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/app/?next=%2Fapp%2F")


def test_sign_in_sets_an_httponly_samesite_cookie_and_goes_to_next(web: WebApp) -> None:
    """A good token gives an HttpOnly, SameSite=Lax cookie that does not contain the token."""
    client = web.client()
    target = f"/app/p/{PROCESS}?owner=sdr_ana"
    answer = client.post("/app/sign-in", data={"token": web.tokens["rep"], "next": target})
    assert answer.status_code == 303
    assert answer.headers["location"] == target
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/app" in cookie
    assert web.tokens["rep"] not in cookie
    secret = web.tokens["rep"][len("lf_12345678_") :]  # lf_<8-char prefix>_<secret>
    assert len(secret) == 43
    assert secret not in cookie
    assert client.get(target).status_code == 200


def test_a_bad_token_is_refused_with_the_form_again(web: WebApp) -> None:
    """An unknown token answers 401 with the form and a message, and sets no cookie."""
    answer = web.client().post("/app/sign-in", data={"token": "lf_nope"})
    assert answer.status_code == 401
    assert "unknown, malformed or revoked" in answer.text
    assert "set-cookie" not in answer.headers
    empty = web.client().post("/app/sign-in", data={"token": " "})
    assert empty.status_code == 422


def test_next_never_leaves_the_app(web: WebApp) -> None:
    """A ``next`` pointing at another site is replaced by /app/ (no open redirect)."""
    for target in ("https://evil.example/", "//evil.example/app/", "/api/v1/processes"):
        answer = web.client().post(
            "/app/sign-in", data={"token": web.tokens["admin"], "next": target}
        )
        assert answer.headers["location"] == "/app/", target


def test_sign_in_from_another_origin_is_refused(web: WebApp) -> None:
    """A sign-in posted by another site's page (login CSRF) is refused."""
    answer = web.client().post(
        "/app/sign-in",
        data={"token": web.tokens["admin"]},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers


def test_a_forged_or_tampered_cookie_is_no_session(web: WebApp) -> None:
    """A cookie whose signature does not match is treated as no session."""
    client = web.signed_in("rep")
    value = client.cookies[COOKIE]
    forged = web.client()
    forged.cookies.set(COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert forged.get(f"/app/p/{PROCESS}").status_code == 303


def test_sign_out_needs_the_csrf_token_and_ends_the_session(web: WebApp) -> None:
    """Sign-out without the form's CSRF token is 403; with it the cookie is cleared."""
    client = web.signed_in("rep")
    home = client.get("/app/")
    assert "Sign out" in home.text
    refused = client.post("/app/sign-out", data={"csrf": "wrong"})
    assert refused.status_code == 403
    assert "out of date" in refused.text
    done = client.post("/app/sign-out", data={"csrf": csrf_of(home)})
    assert done.status_code == 303
    assert COOKIE not in client.cookies
    assert client.get(f"/app/p/{PROCESS}").status_code == 303


def test_revoking_the_token_ends_its_sessions(web: WebApp) -> None:
    """A session stops working once its token is revoked."""
    client = web.signed_in("rep")
    assert client.get(f"/app/p/{PROCESS}").status_code == 200
    web.token_store.revoke("w-rep", datetime.now(UTC))
    assert client.get(f"/app/p/{PROCESS}").status_code == 303


def test_a_post_without_a_session_is_401_not_a_change(web: WebApp) -> None:
    """Posting a form without a session answers 401 and changes nothing."""
    web.start("l-1")
    answer = web.client().post(
        f"/app/p/{PROCESS}/leads/l-1/fire", data={"trigger": "contact", "csrf": "x"}
    )
    assert answer.status_code == 401
    assert web.engine.get(PROCESS, "l-1").stage == "new"


def test_a_role_without_lead_data_is_refused_the_board_with_a_page(web: WebApp) -> None:
    """The board role may not see the pipeline board: a friendly 403 page, no lead data."""
    web.start("secret-lead")
    answer = web.signed_in("board").get(f"/app/p/{PROCESS}")
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "You may not see this page" in answer.text
    assert "secret-lead" not in answer.text


def test_a_rep_is_refused_another_reps_lead(web: WebApp) -> None:
    """A rep opening a lead of another rep gets the 403 page."""
    web.start("bens-lead", owner="sdr_ben")
    answer = web.signed_in("rep").get(f"/app/p/{PROCESS}/leads/bens-lead")
    assert answer.status_code == 403
    assert "sdr_ben" in answer.text or "only their own leads" in answer.text


def test_unknown_pages_and_processes_answer_html(web: WebApp) -> None:
    """An unknown process or lead is a 404 page, not JSON."""
    client = web.signed_in("admin")
    for path in ("/app/p/nope", f"/app/p/{PROCESS}/leads/nope", "/app/nothing-here"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html"), path


def test_the_api_still_answers_problem_details(web: WebApp) -> None:
    """Errors outside /app stay problem details."""
    answer = web.client().get(f"/api/v1/processes/{PROCESS}/leads")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"


def test_the_start_page_links_what_the_role_may_open(web: WebApp) -> None:
    """Signed in, /app/ lists the processes: a board link for roles that read leads, the
    teams' walls for everyone."""
    rep = web.signed_in("rep").get("/app/").text
    assert f'href="/app/p/{PROCESS}"' in rep
    assert 'href="/app/wall/sdr"' in rep
    board = web.signed_in("board").get("/app/").text
    assert f'href="/app/p/{PROCESS}"' not in board
    assert 'href="/app/wall/sdr"' in board


def test_assets_are_served_and_no_page_loads_another_host(web: WebApp) -> None:
    """The stylesheet and script come from the package; pages reference nothing off-site."""
    client = web.signed_in("admin")
    css = client.get("/app/static/app.css")
    js = client.get("/app/static/app.js")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert js.status_code == 200
    assert "javascript" in js.headers["content-type"]
    web.start("l1")
    for path in ("/app/", f"/app/p/{PROCESS}", f"/app/p/{PROCESS}/leads/l1"):
        page = client.get(path).text
        assert not re.search(r'(src|href|action)="(https?:)?//', page), path
    wall = web.client().get("/app/wall/sdr", params={"token": web.tokens["board"]}).text
    assert not re.search(r'(src|href|action)="(https?:)?//', wall)


def test_a_proxy_that_rewrites_the_host_keeps_forms_working(web: WebApp) -> None:
    """Behind a proxy that sends its own Host, the browser's Origin matches the forwarded host;
    an origin matching neither is still refused."""
    client = web.signed_in("rep")
    token = csrf_of(client.get("/app/"))
    proxied = {"Origin": "https://crm.example.com", "X-Forwarded-Host": "crm.example.com"}
    assert client.post("/app/sign-out", data={"csrf": token}, headers=proxied).status_code == 303
    client = web.signed_in("rep")
    token = csrf_of(client.get("/app/"))
    other = {"Origin": "https://evil.example", "X-Forwarded-Host": "crm.example.com"}
    assert client.post("/app/sign-out", data={"csrf": token}, headers=other).status_code == 403


def test_every_page_names_the_apps_icon_and_favicon_ico_leads_to_it(web: WebApp) -> None:
    """Pages link the shipped SVG icon; a browser asking for /favicon.ico (on an API page,
    say) is sent there instead of getting a 404 in its console."""
    client = web.client()
    page = client.get("/app/")
    assert '<link rel="icon" href="/app/static/favicon.svg" type="image/svg+xml">' in page.text
    moved = client.get("/favicon.ico")
    assert moved.status_code == 301
    assert moved.headers["location"] == "/app/static/favicon.svg"
    icon = client.get("/app/static/favicon.svg")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.startswith("<svg")
