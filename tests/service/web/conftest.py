"""The ``web`` fixture: the web app served on 127.0.0.1 (see web_support)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from web_support import WebApp, serve_web


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebApp]:
    """The app over a fresh SQLite file with inbound-lead and deals deployed."""
    yield from serve_web(tmp_path)
