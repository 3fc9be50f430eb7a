"""SQLite URL options: the ``synchronous`` level a deployment chooses, checked up front."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadflow.engine import Engine, StorageError


def _pragma(engine: Engine, name: str) -> object:
    with engine.store.transaction("read a pragma") as tx:
        tx.cur.execute(f"PRAGMA {name}")
        return tx.cur.fetchone()[0]


def test_synchronous_defaults_to_normal_in_wal_mode(tmp_path: Path) -> None:
    with Engine(f"sqlite:///{tmp_path / 'lf.db'}") as engine:
        assert _pragma(engine, "synchronous") == 1  # NORMAL
        assert _pragma(engine, "journal_mode") == "wal"


@pytest.mark.parametrize(("given", "level"), [("FULL", 2), ("full", 2), ("EXTRA", 3), ("OFF", 0)])
def test_the_url_chooses_the_synchronous_level(tmp_path: Path, given: str, level: int) -> None:
    with Engine(f"sqlite:///{tmp_path / 'lf.db'}?synchronous={given}") as engine:
        assert _pragma(engine, "synchronous") == level
        assert _pragma(engine, "busy_timeout") == 30000  # the other pragmas still apply


def test_an_unknown_level_is_refused_naming_the_allowed_ones(tmp_path: Path) -> None:
    path = tmp_path / "lf.db"
    with pytest.raises(StorageError) as caught:
        Engine(f"sqlite:///{path}?synchronous=sometimes")
    message = str(caught.value)
    assert "synchronous='sometimes'" in message
    assert "OFF, NORMAL, FULL, EXTRA" in message
    assert not path.exists()  # nothing was created
