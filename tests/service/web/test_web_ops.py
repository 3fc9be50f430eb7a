"""The ops page over HTTP: versions and their diff, the outbox with dead letters and retry,
live migrations; only for roles that operate the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from web_support import WebApp, csrf_of

from leadflow.adapters import Delivery, Result
from leadflow.adapters.outbox import Dispatcher, DispatchOptions, Outbox

SUBSCRIBED = Path(__file__).parents[2] / "definitions" / "outbox" / "subscribed.yaml"


class Refusing:
    """An adapter that refuses every delivery for good (each becomes a dead letter)."""

    name = "crm"
    max_batch = 1

    def deliver(self, deliveries: Sequence[Delivery]) -> list[Result]:
        return [Result.failed("HTTP 422: property 'email' is invalid", 422) for _ in deliveries]

    def close(self) -> None:
        pass


def _dead_letters(web: WebApp) -> None:
    web.engine.deploy(SUBSCRIBED)
    web.engine.start("outbox-lead", "L0", {"email": "a@example.com"})
    options = DispatchOptions(concurrency=1)
    with Dispatcher(web.engine, {"crm": Refusing()}, options) as dispatcher:  # type: ignore[dict-item]
        while dispatcher.dispatch_once():
            pass


def test_ops_sees_versions_outbox_and_dead_letters_and_retries_them(web: WebApp) -> None:
    """The ops page lists the deployed processes, the backlog per adapter and the dead letters;
    the retry button makes them due again."""
    _dead_letters(web)
    client = web.signed_in("ops")
    page = client.get("/app/ops")
    assert page.status_code == 200
    assert "inbound-lead" in page.text
    assert "HTTP 422: property" in page.text
    assert "outbox-lead/L0 #1" in page.text
    assert ">Retry all dead letters</button>" in page.text
    done = client.post("/app/ops/outbox/retry", data={"csrf": csrf_of(page), "all": "1"})
    assert done.status_code == 303
    assert done.headers["location"] == "/app/ops?retried=1"
    assert Outbox(web.engine).list("dead") == []
    assert "1 delivery will be retried now" in client.get(done.headers["location"]).text


def test_the_diff_of_the_latest_version_is_shown(web: WebApp) -> None:
    """With two versions deployed, the page says what the latest one changed."""
    text = (Path(__file__).parents[2] / "definitions" / "web" / "deals.yaml").read_text()
    web.engine.deploy(
        text.replace("version: 1", "version: 2").replace("title: Send proposal", "title: Propose")
    )
    page = web.signed_in("admin").get("/app/ops").text
    assert "v2 against v1" in page
    assert "propose" in page


def test_other_roles_are_refused_the_ops_page_and_its_retry(web: WebApp) -> None:
    """A rep or a manager gets the 403 page; a rep's retry post is refused and retries
    nothing."""
    _dead_letters(web)
    assert web.signed_in("manager").get("/app/ops").status_code == 403
    rep = web.signed_in("rep")
    token = csrf_of(rep.get("/app/"))
    assert rep.post("/app/ops/outbox/retry", data={"csrf": token, "all": "1"}).status_code == 403
    assert len(Outbox(web.engine).list("dead")) == 1


def test_a_retry_naming_nothing_is_refused(web: WebApp) -> None:
    """A retry without an id or 'all' is a 422 page."""
    client = web.signed_in("ops")
    token = csrf_of(client.get("/app/ops"))
    assert client.post("/app/ops/outbox/retry", data={"csrf": token}).status_code == 422


def test_the_header_links_the_ops_page_only_for_roles_that_operate(web: WebApp) -> None:
    """ops and admin see the Operations link; a rep does not."""
    assert 'href="/app/ops"' in web.signed_in("ops").get("/app/").text
    assert 'href="/app/ops"' in web.signed_in("admin").get("/app/").text
    assert 'href="/app/ops"' not in web.signed_in("rep").get("/app/").text
