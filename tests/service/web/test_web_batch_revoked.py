"""A batch run acts as the token that started it only while that token is live: once it is
revoked, the leads not done yet fail with that reason, nothing more changes, and the run
ends."""

from __future__ import annotations

from typing import Any

import pytest
from test_web_views_batch import BOARD, _wait_until_done
from web_support import DEALS, WebApp

from leadflow.engine.access import Actor
from leadflow.engine.store import BatchRuns
from leadflow.service.web import _batch_runner
from leadflow.service.web._batch_runner import BatchRunner

WHY = "not done: the token 'w-admin' that started this batch was revoked"


def _run(web: WebApp, leads: list[str]) -> int:
    """A run assigning ``leads`` to cleo, started by the admin's token."""
    return BatchRuns(web.engine.store).create(
        DEALS,
        "assign",
        "cleo",
        lead_ids=leads,
        filter="",
        actor=Actor("w-admin", "admin"),
        by="w-admin",
        at=web.engine.clock.now(),
    )


def _owners(web: WebApp, leads: list[str]) -> list[str | None]:
    return [web.engine.get(DEALS, lead).owner for lead in leads]


def test_a_run_whose_token_was_revoked_changes_nothing(web: WebApp) -> None:
    leads = ["a1", "a2", "a3"]
    for lead in leads:
        web.deal(lead, None)
    run_id = _run(web, leads)
    web.token_store.revoke("w-admin", at=web.engine.clock.now())
    BatchRunner(web.engine).run(run_id)
    assert _owners(web, leads) == [None, None, None]
    run = BatchRuns(web.engine.store).get(run_id)
    assert run is not None
    assert run.counts == {"pending": 0, "succeeded": 0, "failed": 3}
    assert run.failures == tuple((lead, WHY) for lead in leads)
    assert run.finished_at is not None


def test_a_token_revoked_during_a_run_stops_it_at_the_next_lead(
    web: WebApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first lead is done; the token is revoked meanwhile; the two others fail."""
    leads = ["b1", "b2", "b3"]
    for lead in leads:
        web.deal(lead, None)
    run_id = _run(web, leads)
    real = _batch_runner.apply_one

    def apply_then_revoke(*args: Any) -> str | None:
        why = real(*args)
        if web.token_store.get("w-admin").revoked_at is None:  # type: ignore[union-attr]
            web.token_store.revoke("w-admin", at=web.engine.clock.now())
        return why

    monkeypatch.setattr(_batch_runner, "apply_one", apply_then_revoke)
    BatchRunner(web.engine).run(run_id)
    assert _owners(web, leads) == ["cleo", None, None]
    run = BatchRuns(web.engine.store).get(run_id)
    assert run is not None
    assert (run.counts["succeeded"], run.counts["failed"], run.counts["pending"]) == (1, 2, 0)
    assert run.failures == (("b2", WHY), ("b3", WHY))


def test_a_live_tokens_run_goes_on_and_a_revoked_ones_next_run_does_not(web: WebApp) -> None:
    web.deal("d1", None)
    web.deal("d2", None)
    live = _run(web, ["d1"])
    BatchRunner(web.engine).run(live)
    assert _owners(web, ["d1"]) == ["cleo"]
    stopped = _run(web, ["d2"])
    web.token_store.revoke("w-admin", at=web.engine.clock.now())
    BatchRunner(web.engine).run(stopped)
    assert _owners(web, ["d2"]) == [None]
    run = BatchRuns(web.engine.store).get(stopped)
    assert run is not None
    assert run.failures == (("d2", WHY),)


def test_the_batch_page_shows_why_a_revoked_run_stopped(web: WebApp) -> None:
    web.deal("e1", None)
    run_id = _run(web, ["e1"])
    web.token_store.revoke("w-admin", at=web.engine.clock.now())
    web.app.state.batches.submit(run_id)
    other, _ = web.token_store.create("w-admin-2", "admin", at=web.engine.clock.now())
    client = web.client()
    signed = client.post("/app/sign-in", data={"token": other, "next": "/app/"})
    assert signed.status_code == 303
    page = _wait_until_done(client, f"{BOARD}/batches/{run_id}")
    assert '<strong data-count="failed">1</strong> failed' in page
    assert "the token &#39;w-admin&#39; that started this batch was revoked" in page
