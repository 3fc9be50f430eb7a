"""Each text, list or JSON value of lead and activity data is bounded (64 KiB by default,
``Engine(max_value_bytes=...)``); a larger one is InvalidData naming the field, changing nothing
(a 50 MB string used to be stored, twice over in history and outbox)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from runtime_support import FEATURES, REFERENCE, F, P, fails_cleanly, start

from leadflow.engine import Engine, FieldIssue, InvalidArgument, InvalidData

BIG = "x" * 70_000


def over(field: str, size: int, limit: int = 65_536) -> FieldIssue:
    """The issue a value of ``size`` bytes raises."""
    return FieldIssue(
        field,
        f"is {size:,} bytes, over the limit of {limit:,} bytes per value "
        "(Engine(max_value_bytes=...) sets it; LEADFLOW_MAX_VALUE_BYTES for the CLI, the "
        "worker and the service)",
    )


CALLS: list[Any] = [
    pytest.param(
        lambda e: e.start(P, "L2", {"email": BIG}), "L2", over("email", 70_000), id="start-text"
    ),
    pytest.param(
        lambda e: e.update(P, "L1", {"decision_maker": "é" * 40_000}),
        "L1",
        over("decision_maker", 80_000),
        id="update-counts-utf8-bytes",
    ),
    pytest.param(
        lambda e: e.fire(P, "L1", "lose", {"lost_reason": "bad_data", "decision_maker": BIG}),
        "L1",
        over("decision_maker", 70_000),
        id="fire-data",
    ),
    pytest.param(
        lambda e: e.record(P, "L1", "call", {"notes": BIG}),
        "L1",
        over("data", 70_012),
        id="activity-data",
    ),
]


@pytest.mark.parametrize(("call", "lead_id", "issue"), CALLS)
def test_an_oversized_value_is_refused_naming_it(
    engine: Engine, call: Callable[[Engine], object], lead_id: str, issue: FieldIssue
) -> None:
    """Text is measured in UTF-8 bytes; the call raises InvalidData and changes nothing."""
    start(engine)
    error = fails_cleanly(engine, P, lead_id, InvalidData, lambda: call(engine))
    assert error.issues == (issue,)


def test_json_values_of_extra_fields_are_bounded(engine: Engine) -> None:
    """An extra field's JSON value is measured as its compact JSON."""
    data = {"email": "a@x", "source": {"pages": ["p" * 1000] * 70}}
    error = fails_cleanly(engine, F, "L1", InvalidData, lambda: engine.start(F, "L1", data))
    assert [i.field for i in error.issues] == ["source"]


def test_the_limit_is_configurable(make_engine: Callable[..., Engine]) -> None:
    """``max_value_bytes`` sets the bound; a value of exactly that size is stored."""
    engine = make_engine(max_value_bytes=20)
    engine.deploy(REFERENCE)
    engine.deploy(FEATURES)
    assert engine.start(P, "L1", {"email": "a" * 20}).data["email"] == "a" * 20
    with pytest.raises(InvalidData) as info:
        engine.start(P, "L2", {"email": "a" * 21})
    assert info.value.issues == (over("email", 21, 20),)


def test_a_bad_limit_is_an_invalid_argument(make_engine: Callable[..., Engine]) -> None:
    """``max_value_bytes`` must be a positive whole number."""
    for bad in (0, "64k"):
        with pytest.raises(InvalidArgument) as info:
            make_engine(max_value_bytes=bad)
        assert info.value.argument == "max_value_bytes"
