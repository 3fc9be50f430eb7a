"""The lead-data contract: invariants over arbitrary input, checked with hypothesis."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.definitions import load_definition
from leadflow.engine._contract import DataContract

DEFINITION = load_definition(
    """
process: contract
version: 1
fields:
  name: {type: string, required: true, min: 1, max: 20}
  code: {type: string, pattern: "[A-Z]{3}"}
  score: {type: integer, min: 0, max: 100}
  amount: {type: number, min: 0}
  vip: {type: boolean}
  close_date: {type: date}
  called_at: {type: datetime}
  segment: {type: enum, values: [smb, enterprise]}
  tags: {type: list, items: string, max: 3}
stages:
  open: {initial: true}
  won: {closed: won}
transitions:
  - {name: win, from: open, to: won}
""",
    file="contract.yaml",
)
CONTRACT = DataContract(DEFINITION)
FIELDS = list(DEFINITION.fields)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=25)
    | st.sampled_from(["smb", "enterprise", "ABC", "2026-01-31", "2026-01-31T09:00:00+01:00"]),
    lambda children: st.lists(children, max_size=4),
    max_leaves=8,
)
changes = st.dictionaries(st.sampled_from([*FIELDS, "colour"]), json_values, max_size=6)


@settings(max_examples=400, deadline=None)
@given(changes)
def test_merge_either_reports_issues_or_returns_data_that_keeps_the_contract(
    data: dict[str, Any],
) -> None:
    """Whatever comes in, merge gives issues naming fields, or data that is plain JSON,
    round-trips through storage unchanged and is accepted again as it is."""
    merged, diff, issues = CONTRACT.merge({}, {"name": "Ann", **data})
    if issues:
        named = {i.field for i in issues}
        assert named <= {*FIELDS, "colour"}
        assert all(i.message for i in issues)
        return
    assert json.loads(json.dumps(merged, allow_nan=False)) == merged
    again, _, issues_again = CONTRACT.merge({}, merged)
    assert (again, issues_again) == (merged, [])
    assert CONTRACT.merge(merged, merged) == (merged, {}, [])  # re-applying changes nothing
    assert None not in merged.values()  # null unsets: it is never stored
    assert set(diff) <= set(merged) | set(data)
    assert "colour" not in merged


@settings(max_examples=200, deadline=None)
@given(changes, changes)
def test_a_rejected_change_leaves_the_data_as_it_was(first: dict[str, Any], second: Any) -> None:
    """Merging never mutates its input; a change with issues is all-or-nothing for callers."""
    current, _, issues = CONTRACT.merge({}, {"name": "Ann", **first})
    if issues:
        return
    snapshot = json.dumps(current, sort_keys=True)
    CONTRACT.merge(current, second)
    assert json.dumps(current, sort_keys=True) == snapshot


def test_values_are_normalised_to_their_stored_form() -> None:
    """Dates and datetimes are stored as ISO text (datetimes in UTC), whole floats as ints."""
    merged, _, issues = CONTRACT.merge(
        {},
        {
            "name": "Ann",
            "score": 60.0,
            "close_date": "2026-01-31",
            "called_at": "2026-01-31T09:00:00+01:00",
            "tags": ("a", "b"),
        },
    )
    assert issues == []
    assert merged == {
        "name": "Ann",
        "score": 60,
        "close_date": "2026-01-31",
        "called_at": "2026-01-31T08:00:00+00:00",
        "tags": ["a", "b"],
    }


def test_each_kind_of_bad_value_names_its_field_and_what_is_allowed() -> None:
    """Every rejected value is reported with its field and a sentence saying what fits."""
    _, _, issues = CONTRACT.merge(
        {},
        {
            "name": "",
            "code": "abc",
            "score": 101,
            "amount": float("inf"),
            "vip": "yes",
            "close_date": "31/01/2026",
            "called_at": "2026-01-31T09:00:00",
            "segment": "mid",
            "tags": ["a", "b", "c", "d"],
            "colour": "red",
        },
    )
    by_field = {i.field: i.message for i in issues}
    assert set(by_field) == {*FIELDS, "colour"}
    assert "below the minimum 1" in by_field["name"]
    assert "does not match the pattern" in by_field["code"]
    assert "above the maximum 100" in by_field["score"]
    assert "finite" in by_field["amount"]
    assert "true or false" in by_field["vip"]
    assert "YYYY-MM-DD" in by_field["close_date"]
    assert "timezone" in by_field["called_at"]
    assert "smb, enterprise" in by_field["segment"]
    assert "above the maximum 3" in by_field["tags"]
    assert "not a field of this process" in by_field["colour"]
