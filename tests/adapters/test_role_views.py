"""Outbox events sent with a role's view (``view = "<role>"`` on an adapter): the values of the
fields that role may not read never leave, in the envelope, its raw bytes or the lead."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadflow.adapters import AdapterConfigError, load_config
from leadflow.adapters.jsonl import JsonlAdapter
from leadflow.adapters.outbox import Dispatcher
from leadflow.cli import app
from leadflow.definitions import load_definition
from leadflow.engine import Engine

SOURCE = Path(__file__).parents[1] / "definitions" / "outbox" / "subscribed.yaml"
PROCESS = "outbox-lead"
ACCESS = "access:\n  roles:\n    partner: {like: rep, hidden: [score, lost_reason]}\n"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """The subscribed process with a ``partner`` role that may not read score or lost_reason;
    one lead started with a score, rescored, and lost."""
    with Engine(f"sqlite:///{tmp_path / 'lf.db'}") as built:
        text = SOURCE.read_text(encoding="utf-8") + ACCESS
        built.deploy(load_definition(text, file="subscribed.yaml"))
        built.start(PROCESS, "l1", {"email": "a@x.io", "score": 4321})
        built.update(PROCESS, "l1", {"score": 8765})
        built.fire(PROCESS, "l1", "lose", {"lost_reason": "bad_data"})
        yield built


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_an_adapter_with_a_view_gets_events_without_hidden_values(
    engine: Engine, tmp_path: Path
) -> None:
    """``crm`` (viewed as partner) gets every event, without score and lost_reason anywhere;
    ``audit`` (no view) gets them as written."""
    crm, audit = tmp_path / "crm.jsonl", tmp_path / "audit.jsonl"
    adapters = {"crm": JsonlAdapter("crm", crm), "audit": JsonlAdapter("audit", audit)}
    with Dispatcher(engine, adapters, views={"crm": "partner"}) as dispatcher:
        dispatcher.run(until_idle=True)
    for adapter in adapters.values():
        adapter.close()
    seen = crm.read_text(encoding="utf-8")
    assert [e["type"] for e in _lines(crm)] == [
        "leadflow.lead.started",
        "leadflow.lead.updated",
        "leadflow.lead.closed_lost",
    ]
    for secret in ("4321", "8765", "bad_data"):
        assert secret not in seen, secret
    started = _lines(crm)[0]
    assert started["data"]["data"] == {"email": "a@x.io"}  # type: ignore[index]
    assert _lines(crm)[1]["data"]["changes"] == {}  # type: ignore[index]
    assert "bad_data" in audit.read_text(encoding="utf-8")


def test_a_view_naming_an_unknown_role_is_refused_before_anything_is_sent(
    engine: Engine, tmp_path: Path
) -> None:
    """A typo in ``view`` is a configuration error naming the adapter and the roles known."""
    path = tmp_path / "crm.jsonl"
    with pytest.raises(AdapterConfigError, match=r"\[adapters.crm\] view = 'partnr'.*partner"):
        Dispatcher(engine, {"crm": JsonlAdapter("crm", path)}, views={"crm": "partnr"})
    assert not path.exists()


def test_the_config_key_reaches_the_dispatcher_through_the_cli(
    engine: Engine, tmp_path: Path
) -> None:
    """``view`` in ``[adapters.<name>]`` is read by ``leadflow outbox run``; a non-name is a
    configuration error naming the key."""
    crm = tmp_path / "crm.jsonl"
    config = tmp_path / "deploy.toml"
    config.write_text(
        f'[adapters.crm]\ntype = "jsonl"\npath = "{crm}"\nview = "partner"\n', encoding="utf-8"
    )
    assert load_config(config).views == {"crm": "partner"}
    db = str(engine.store.sa.url)
    result = CliRunner().invoke(
        app, ["outbox", "run", "--db", db, "--config", str(config), "--until-idle"]
    )
    assert result.exit_code == 0, result.output
    assert "8765" not in crm.read_text(encoding="utf-8")
    config.write_text('[adapters.crm]\ntype = "jsonl"\npath = "x"\nview = 3\n', encoding="utf-8")
    with pytest.raises(AdapterConfigError, match=r"\[adapters.crm\] view = 3: name a role"):
        load_config(config)
