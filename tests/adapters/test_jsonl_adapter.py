"""The jsonl adapter: one line per event, fsynced per batch, safe across threads."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import pytest

from leadflow.adapters import AdapterConfigError, Delivery, Event, Outcome, Subscription
from leadflow.adapters.jsonl import JsonlAdapter, create


def delivery(n: int) -> Delivery:
    raw = json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/leadflow/inbound-lead",
            "type": "leadflow.lead.updated",
            "subject": f"lead-{n}",
            "time": "2026-01-05T09:00:00+00:00",
            "data": {"n": n, "note": "line\nbreaks are escaped"},
        }
    )
    return Delivery(Event.from_json(raw, seq=1), Subscription(adapter="archive"))


def test_appends_one_line_per_event_creating_directories(tmp_path: Path) -> None:
    """Events land as lines (the raw envelopes) in a file whose parent dirs are created."""
    path = tmp_path / "deep" / "er" / "events.jsonl"
    adapter = create("archive", {"path": str(path)}, lambda ref: ref)
    batch = [delivery(n) for n in range(3)]
    results = adapter.deliver(batch)
    adapter.deliver([delivery(3)])
    adapter.close()
    assert [r.outcome for r in results] == [Outcome.DELIVERED] * 3
    lines = path.read_text().splitlines()
    assert lines[:3] == [d.event.raw for d in batch]
    assert [json.loads(line)["data"]["n"] for line in lines] == [0, 1, 2, 3]
    assert adapter.max_batch == 500


def test_reopening_appends(tmp_path: Path) -> None:
    """A new adapter on the same file appends after what is there."""
    path = tmp_path / "events.jsonl"
    for n in range(2):
        adapter = JsonlAdapter("archive", path)
        adapter.deliver([delivery(n)])
        adapter.close()
    assert len(path.read_text().splitlines()) == 2


def test_threads_never_interleave_lines(tmp_path: Path) -> None:
    """Eight threads appending batches at once leave only whole, parseable lines."""
    path = tmp_path / "events.jsonl"
    adapter = JsonlAdapter("archive", path)
    batches = [[delivery(b * 10 + n) for n in range(10)] for b in range(40)]

    def work(mine: list[list[Delivery]]) -> None:
        for batch in mine:
            assert {r.outcome for r in adapter.deliver(batch)} == {Outcome.DELIVERED}

    threads = [threading.Thread(target=work, args=(batches[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    adapter.close()
    numbers = [json.loads(line)["data"]["n"] for line in path.read_text().splitlines()]
    assert sorted(numbers) == list(range(400))


def test_unwritable_path_is_retry_naming_the_path(tmp_path: Path) -> None:
    """When the file cannot be opened every delivery is RETRY with the path and the reason."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    adapter = JsonlAdapter("archive", blocker / "events.jsonl")
    results = adapter.deliver([delivery(0), delivery(1)])
    adapter.close()
    assert [r.outcome for r in results] == [Outcome.RETRY] * 2
    assert str(blocker / "events.jsonl") in results[0].detail


def test_empty_batch_writes_nothing(tmp_path: Path) -> None:
    """Delivering no events returns no results and creates no file."""
    adapter = JsonlAdapter("archive", tmp_path / "events.jsonl")
    assert adapter.deliver([]) == []
    assert not (tmp_path / "events.jsonl").exists()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "missing key 'path'"),
        ({"path": ""}, "must not be empty"),
        ({"path": 3}, "key 'path' must be a file path"),
        ({"path": "x", "pth": "y"}, "unknown key 'pth'"),
    ],
)
def test_factory_refuses_bad_options(options: dict[str, object], expected: str) -> None:
    """Missing, empty, mistyped or unknown options are AdapterConfigErrors naming the key."""
    with pytest.raises(AdapterConfigError, match=expected):
        create("archive", options, lambda ref: ref)


def test_factory_refuses_a_directory(tmp_path: Path) -> None:
    """A path that is a directory is refused, naming it."""
    with pytest.raises(AdapterConfigError, match="is a directory"):
        create("archive", {"path": str(tmp_path)}, lambda ref: ref)
