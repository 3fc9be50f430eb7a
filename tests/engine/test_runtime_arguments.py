"""Public calls given an argument of the wrong type raise InvalidArgument naming it, and change
nothing (``at="2026-01-01"`` used to raise an AttributeError from the clock)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from runtime_support import P, counts, start

from leadflow.engine import Engine, InvalidArgument, LeadflowError

CALLS: list[Any] = [
    pytest.param(
        lambda e: e.start(P, "L2", {"email": "a@x"}, at="2026-01-01"), "at", id="start-at-text"
    ),
    pytest.param(
        lambda e: e.start(P, "L2", {"email": "a@x"}, at=date(2026, 1, 1)), "at", id="start-at-date"
    ),
    pytest.param(lambda e: e.start(5, "L2", {"email": "a@x"}), "process", id="start-process"),
    pytest.param(lambda e: e.fire(P, "L1", "lose", at="2026"), "at", id="fire-at"),
    pytest.param(lambda e: e.fire(P, "L1", 5), "trigger", id="fire-trigger"),
    pytest.param(lambda e: e.fire(P, "L1", "lose", if_version="3"), "if_version", id="if-version"),
    pytest.param(lambda e: e.update(P, "L1", {"budget": 5}, at=1), "at", id="update-at"),
    pytest.param(lambda e: e.record(P, "L1", "call", at=1.5), "at", id="record-at"),
    pytest.param(lambda e: e.assign(P, "L1", "ana", at="now"), "at", id="assign-at"),
    pytest.param(lambda e: e.get(None, "L1"), "process", id="get-process"),
    pytest.param(lambda e: e.definition(P, "1"), "version", id="definition-version-text"),
    pytest.param(lambda e: e.definition(P, 2**70), "version", id="definition-version-huge"),
    pytest.param(lambda e: e.next_steps(P, "L1", at="x"), "at", id="next-steps-at"),
    pytest.param(lambda e: e.slas(P, "L1", at=5), "at", id="slas-at"),
    pytest.param(lambda e: e.run_due("2026-01-01"), "now", id="run-due-now"),
    pytest.param(lambda e: e.run_due(limit="5"), "limit", id="run-due-limit"),
    pytest.param(lambda e: e.run_schedules(now="2026"), "now", id="run-schedules-now"),
    pytest.param(lambda e: e.leads(P, limit="5"), "limit", id="leads-limit"),
    pytest.param(lambda e: e.start_many(P, "abc"), "items", id="start-many-text"),
    pytest.param(lambda e: e.fire_many(P, 5), "items", id="fire-many-number"),
]


@pytest.mark.parametrize(("call", "argument"), CALLS)
def test_a_wrong_typed_argument_is_named(
    engine: Engine, call: Callable[[Engine], object], argument: str
) -> None:
    """The error is an InvalidArgument (a TypeError and a LeadflowError) naming the argument."""
    start(engine)
    before = counts(engine)
    with pytest.raises(InvalidArgument) as info:
        call(engine)
    error = info.value
    assert isinstance(error, TypeError)
    assert isinstance(error, LeadflowError)
    assert error.argument == argument
    assert error.code == "invalid-argument"
    assert str(error).startswith(f"argument '{argument}': expected ")
    assert counts(engine) == before


def test_the_message_says_what_was_expected_and_given(engine: Engine) -> None:
    """``at="2026-01-01"`` says an aware datetime was expected and text was given."""
    start(engine)
    with pytest.raises(InvalidArgument) as info:
        engine.fire(P, "L1", "lose", {"lost_reason": "bad_data"}, at="2026-01-01")  # type: ignore[arg-type]
    assert str(info.value) == (
        "argument 'at': expected an aware datetime, e.g. datetime(2026, 1, 31, 9, 0, "
        "tzinfo=UTC), got str '2026-01-01'"
    )
    assert (info.value.expected, info.value.got) == (
        "an aware datetime, e.g. datetime(2026, 1, 31, 9, 0, tzinfo=UTC)",
        "'2026-01-01'",
    )
