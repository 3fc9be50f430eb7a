"""What the web app's tests share: the app served by uvicorn on 127.0.0.1 over a SQLite file,
tokens per role, leads of inbound-lead and of the test process deals, and httpx clients signed
in through the real sign-in form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
from live_server import Served

from leadflow.definitions import library_path
from leadflow.engine import Engine
from leadflow.engine.store import TokenStore
from leadflow.service import create_app

PROCESS = "inbound-lead"
DEALS = "deals"
DEFINITIONS = Path(__file__).parents[2] / "definitions" / "web"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class WebApp:
    """The served app, its engine and a token per role."""

    def __init__(self, engine: Engine, served: Served) -> None:
        self.engine = engine
        self.app = served.app
        self.url = served.url
        store = TokenStore(engine.store)
        now = datetime.now(UTC)
        grants = {
            "admin": {},
            "ops": {},
            "manager": {"team": "sdr", "owner": "sdr_manager"},
            "rep": {"team": "sdr", "owner": "sdr_ana"},
            "ana": {"team": "east", "owner": "ana"},
            "ben": {"team": "east", "owner": "ben"},
            "viewer": {},
            "board": {},
        }
        self.tokens = {
            name: store.create(
                f"w-{name}", "rep" if name in ("ana", "ben") else name, at=now, **grant
            )[0]
            for name, grant in grants.items()
        }
        self.token_store = store
        self._clients: list[httpx.Client] = []

    def client(self) -> httpx.Client:
        """A client with no session, that does not follow redirects."""
        client = httpx.Client(base_url=self.url, timeout=10, follow_redirects=False)
        self._clients.append(client)
        return client

    def signed_in(self, role: str) -> httpx.Client:
        """A client signed in through the form with the token of ``role``."""
        client = self.client()
        answer = client.post("/app/sign-in", data={"token": self.tokens[role], "next": "/app/"})
        assert answer.status_code == 303, answer.text
        return client

    def start(self, lead_id: str, owner: str | None = "sdr_ana", **data: object) -> None:
        fields = {"email": f"{lead_id}@example.com", "score": 70, **data}
        self.engine.start(PROCESS, lead_id, fields, owner)

    def deal(self, lead_id: str, owner: str | None, **data: object) -> None:
        self.engine.start(DEALS, lead_id, {"email": f"{lead_id}@example.com", **data}, owner)

    def close(self) -> None:
        for client in self._clients:
            client.close()


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token of the forms of a page."""
    match = CSRF.search(page.text)
    assert match is not None, "the page has no form with a CSRF token"
    return match.group(1)


def serve_web(tmp_path: Path) -> Iterator[WebApp]:
    """The app over a fresh SQLite file with inbound-lead and deals deployed."""
    engine = Engine(f"sqlite:///{tmp_path / 'web.db'}")
    engine.deploy(library_path(PROCESS))
    engine.deploy(DEFINITIONS / "deals.yaml")
    app = create_app(engine, token_ttl=0, session_key=b"k" * 32)
    with Served(app) as served:
        web = WebApp(engine, served)
        yield web
        web.close()
    engine.close()
