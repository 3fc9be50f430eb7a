"""Durations as ops teams write them (``30s``, ``14d``, ``1h30m``): parsing and formatting."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.definitions import ActivityRequirement, format_duration, parse_duration
from leadflow.definitions._durations import MAX

MAX_SECONDS = int(MAX.total_seconds())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("4h", timedelta(hours=4)),
        ("14d", timedelta(days=14)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
    ],
)
def test_parse_duration_reads_units(text: str, expected: timedelta) -> None:
    """Each unit s, m, h, d, w, and combinations of them, parse to the right timedelta."""
    assert parse_duration(text) == expected


def test_parse_duration_passes_a_timedelta_through() -> None:
    """A positive timedelta is returned as it is."""
    assert parse_duration(timedelta(minutes=7)) == timedelta(minutes=7)


@pytest.mark.parametrize(
    "value",
    ["", " ", "m", "5", "5 minutes", "-5m", "1.5h", "5x", "h5", "5m-", 5, 5.0, None, True],
)
def test_parse_duration_rejects_what_is_not_a_duration(value: object) -> None:
    """Text without a unit, words, signs, fractions and bare numbers raise ValueError."""
    with pytest.raises(ValueError, match="is not a duration; write a number and a unit"):
        parse_duration(value)


@pytest.mark.parametrize("value", ["0m", "0s0h", timedelta(0), timedelta(seconds=-5)])
def test_parse_duration_rejects_zero_and_negative(value: object) -> None:
    """A duration must be longer than zero."""
    with pytest.raises(ValueError, match="longer than zero"):
        parse_duration(value)


@pytest.mark.parametrize("text", ["99999999999999999999w", "1000000000d"])
def test_parse_duration_rejects_durations_too_long_to_represent(text: str) -> None:
    """A duration beyond timedelta's range raises ValueError, not OverflowError."""
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(seconds=30), "30s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=14), "2w"),
        (timedelta(days=15, hours=1), "2w1d1h"),
    ],
)
def test_format_duration_writes_the_shortest_text(value: timedelta, text: str) -> None:
    """format_duration writes whole units, largest first, skipping zero units."""
    assert format_duration(value) == text


@settings(max_examples=200, deadline=None, database=None)
@given(st.integers(min_value=1, max_value=MAX_SECONDS))
def test_format_duration_round_trips(seconds: int) -> None:
    """Every positive whole number of seconds formats to text that parses back to it."""
    value = timedelta(seconds=seconds)
    text = format_duration(value)
    assert re.fullmatch(r"(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?", text), text
    assert parse_duration(text) == value


def test_duration_fields_read_and_write_text() -> None:
    """A Duration field of a model reads ``14d`` and serialises back to text."""
    requirement = ActivityRequirement(type="call", within="14d")
    assert requirement.within == timedelta(days=14)
    assert requirement.model_dump(mode="json")["within"] == "2w"
    assert ActivityRequirement.model_validate(requirement.model_dump(mode="json")) == requirement
