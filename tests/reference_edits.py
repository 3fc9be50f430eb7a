"""The reference definition edited into new versions, for the tests of definition diffs
(definitions/test_diff.py) and of their impact on live leads (engine/migration/test_diff_impact.py).
"""

from __future__ import annotations

from pathlib import Path

from leadflow.definitions import ProcessDefinition, load_definition

REFERENCE_TEXT = (Path(__file__).parent / "definitions" / "reference.yaml").read_text()
PROCESS = "inbound-lead"


def edited(*replacements: tuple[str, str]) -> ProcessDefinition:
    """The reference definition as version 2 with each ``(old, new)`` text replaced once."""
    text = REFERENCE_TEXT.replace("version: 1", "version: 2", 1)
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return load_definition(text)


V1 = load_definition(REFERENCE_TEXT)
SEGMENT_CRITERION = (
    "      - {id: budget_known, field_set: budget, message: Record the budget}\n",
    "      - {id: budget_known, field_set: budget, message: Record the budget}\n"
    "      - {id: segment_known, field_set: segment, message: Record the segment}\n",
)
STRICTER_SCORE = ("lead.score >= 60", "lead.score >= 80")
