"""Named saved views of the board and batch actions on everything a filter matches, over
HTTP against the served app."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import httpx
import pytest
from web_support import DEALS, WebApp, csrf_of

from leadflow.engine.access import Actor
from leadflow.engine.store import BatchRuns, SavedViews
from leadflow.service.web import _batch as batch_module
from leadflow.service.web._batch_runner import BatchRunner

BOARD = f"/app/p/{DEALS}"


def _views(html: str) -> list[str]:
    """The names of the saved views listed on a board page."""
    block = html[html.index('id="views-title"') : html.index('class="save-view"')]
    return re.findall(r'/views/\d+"[^>]*>([^<]+)</a>', block)


def _save(client: httpx.Client, name: str, view: str, *, shared: bool = False) -> httpx.Response:
    data = {"csrf": csrf_of(client.get(BOARD)), "name": name, "view": view}
    if shared:
        data["shared"] = "on"
    return client.post(f"{BOARD}/views", data=data)


def test_a_saved_view_is_its_owners_and_a_shared_one_everyones(web: WebApp) -> None:
    """Ana's own view is listed on her board only; a shared view is listed for Ben too; both
    open the board with their filters."""
    ana, ben = web.signed_in("ana"), web.signed_in("ben")
    assert _save(ana, "My SMB", "segment=smb").status_code == 303
    assert _save(ana, "Team east", "team=east", shared=True).status_code == 303
    assert _views(ana.get(BOARD).text) == ["My SMB", "Team east"]
    assert _views(ben.get(BOARD).text) == ["Team east"]
    ids = {
        name: int(i)
        for i, name in re.findall(r'/views/(\d+)"[^>]*>([^<]+)</a>', ana.get(BOARD).text)
    }
    opened = ana.get(f"{BOARD}/views/{ids['My SMB']}")
    assert opened.status_code == 303
    assert opened.headers["location"] == f"{BOARD}?segment=smb"
    assert ben.get(f"{BOARD}/views/{ids['Team east']}").headers["location"] == f"{BOARD}?team=east"
    assert ben.get(f"{BOARD}/views/{ids['My SMB']}").status_code == 404


def test_saving_the_same_name_replaces_and_only_the_owner_deletes(web: WebApp) -> None:
    """Saving a name again replaces its filters; Ben cannot delete Ana's view (404), Ana can."""
    ana, ben = web.signed_in("ana"), web.signed_in("ben")
    _save(ana, "Mine", "segment=smb")
    _save(ana, "Mine", "segment=enterprise")
    views = SavedViews(web.engine.store).visible(DEALS, "w-ana")
    assert [(v.name, v.query) for v in views] == [("Mine", "segment=enterprise")]
    url = f"{BOARD}/views/{views[0].id}/delete"
    assert ben.post(url, data={"csrf": csrf_of(ben.get(BOARD))}).status_code == 404
    assert ana.post(url, data={"csrf": csrf_of(ana.get(BOARD))}).status_code == 303
    assert SavedViews(web.engine.store).visible(DEALS, "w-ana") == []


def test_a_bad_view_is_refused_and_nothing_saved(web: WebApp) -> None:
    """An empty name or one with control characters is a 422 page; without the CSRF token a
    save is 403; nothing is written."""
    ana = web.signed_in("ana")
    assert _save(ana, "   ", "segment=smb").status_code == 422
    assert _save(ana, "a\x07b", "segment=smb").status_code == 422
    no_csrf = ana.post(f"{BOARD}/views", data={"name": "x", "view": ""})
    assert no_csrf.status_code == 403
    assert SavedViews(web.engine.store).visible(DEALS, "w-ana") == []


def test_a_shared_view_does_not_widen_what_someone_sees(web: WebApp) -> None:
    """A view shared by an admin filtering by a field hidden from reps opens, for a rep, as
    the board refusing that filter (403)."""
    admin, ana = web.signed_in("admin"), web.signed_in("ana")
    _save(admin, "North", "region=north", shared=True)
    (view,) = SavedViews(web.engine.store).visible(DEALS, "w-ana")
    opened = ana.get(f"{BOARD}/views/{view.id}", follow_redirects=True)
    assert opened.status_code == 403


def _wait_until_done(client: httpx.Client, url: str) -> str:
    """The batch page once nothing is pending (within 10 s)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        page = client.get(url).text
        if '<strong data-count="pending">0</strong>' in page:
            return page
        threading.Event().wait(0.05)
    raise AssertionError(f"the batch did not finish: {page}")


def _batch(client: httpx.Client, view: str, **form: str) -> httpx.Response:
    data = {"csrf": csrf_of(client.get(BOARD)), "view": view, **form}
    return client.post(f"{BOARD}/batch", data=data)


def test_a_batch_fires_on_every_lead_the_filter_matches_and_counts(web: WebApp) -> None:
    """Firing propose on owner=ana moves Ana's leads with a budget, lists the others as failed
    with the unmet criterion, leaves Ben's lead alone, and counts them."""
    for k in range(3):
        web.deal(f"ok{k}", "ana", budget=5)
    web.deal("no-budget", "ana")
    web.deal("bens", "ben", budget=5)
    admin = web.signed_in("admin")
    started = _batch(admin, "owner=ana", action="fire", trigger="propose")
    assert started.status_code == 303
    url = started.headers["location"]
    assert re.fullmatch(rf"{BOARD}/batches/\d+", url)
    page = _wait_until_done(admin, url)
    assert '<strong data-count="succeeded">3</strong> succeeded' in page
    assert '<strong data-count="failed">1</strong> failed' in page
    assert "no-budget</a>: Record the budget" in page
    stages = {lead: web.engine.get(DEALS, lead).stage for lead in ("ok0", "no-budget", "bens")}
    assert stages == {"ok0": "proposal", "no-budget": "new", "bens": "new"}
    assert web.signed_in("manager").get(url).status_code == 404  # not theirs


def test_a_reps_batch_stays_within_what_they_may_read_and_do(web: WebApp) -> None:
    """Ana's batch covers her own and unassigned leads only; assigning them to Ben is refused
    lead by lead (a rep gives leads only to themselves) and nothing changes."""
    web.deal("mine", "ana")
    web.deal("free", None)
    web.deal("bens", "ben")
    ana = web.signed_in("ana")
    page = _wait_until_done(
        ana, _batch(ana, "", action="assign", assign_to="ben").headers["location"]
    )
    assert "<strong>2</strong> leads" in page
    assert '<strong data-count="failed">2</strong> failed' in page
    assert "only to themselves" in page
    assert web.engine.get(DEALS, "mine").owner == "ana"


def test_a_bad_batch_is_refused(web: WebApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown trigger, an owner of no team, no action, a filter matching more than the
    limit are 422 pages; nothing is started."""
    web.deal("d1", "ana")
    web.deal("d2", "ana")
    admin = web.signed_in("admin")
    assert _batch(admin, "", action="fire", trigger="nope").status_code == 422
    assert _batch(admin, "", action="assign", assign_to="zed").status_code == 422
    assert _batch(admin, "").status_code == 422
    monkeypatch.setattr(batch_module, "MAX_BATCH", 1)
    too_many = _batch(admin, "", action="assign", assign_to="ana")
    assert too_many.status_code == 422
    assert "more than 1 leads" in too_many.text
    assert BatchRuns(web.engine.store).unfinished() == []
    assert web.engine.get(DEALS, "d1").owner == "ana"


def test_an_unfinished_run_resumes(web: WebApp) -> None:
    """A run left with pending leads (a stopped server) is finished by resume()."""
    web.deal("r1", None)
    web.deal("r2", None)
    runs = BatchRuns(web.engine.store)
    run_id = runs.create(
        DEALS,
        "assign",
        "cleo",
        lead_ids=["r1", "r2", "gone"],
        filter="",
        actor=Actor("w-admin", "admin"),
        by="w-admin",
        at=web.engine.clock.now(),
    )
    web.app.state.batches.resume()
    page = _wait_until_done(web.signed_in("admin"), f"{BOARD}/batches/{run_id}")
    assert '<strong data-count="succeeded">2</strong>' in page
    assert "gone</a>:" in page
    run = runs.get(run_id)
    assert run is not None
    assert run.finished_at is not None
    assert web.engine.get(DEALS, "r2").owner == "cleo"


def test_a_run_leased_by_another_server_process_is_left_to_it(web: WebApp) -> None:
    """While one server process holds a run's lease, another one's runner does nothing to it;
    once the lease has run out, it takes the run over and finishes it."""
    web.deal("x1", None)
    runs = BatchRuns(web.engine.store)
    now = web.engine.clock.now()
    run_id = runs.create(
        DEALS,
        "assign",
        "cleo",
        lead_ids=["x1"],
        filter="",
        actor=Actor("w-admin", "admin"),
        by="w-admin",
        at=now,
    )
    assert runs.lease(run_id, "elsewhere", now)
    other = BatchRunner(web.engine)
    other.run(run_id)
    run = runs.get(run_id)
    assert run is not None
    assert run.counts["pending"] == 1
    assert web.engine.get(DEALS, "x1").owner is None
    assert runs.lease(run_id, "elsewhere", now, hold=timedelta(0))  # it lets go
    other.run(run_id)
    done = runs.get(run_id)
    assert done is not None
    assert done.counts["succeeded"] == 1
    assert done.finished_at is not None
