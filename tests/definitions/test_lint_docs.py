"""Every lint rule's documented example, linted: the failing one yields its code, the fix nothing.

The examples live in docs/lint.md, one section per rule headed ``### LFxxx name``, with a
```` ```yaml fails [also=LFyyy,...] ```` block and a ```` ```yaml fixed ```` block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from leadflow.definitions._lint import RULES, lint_source

DOC = Path(__file__).parents[2] / "docs" / "lint.md"
_SECTION = re.compile(r"^### (LF\d{3}) ([a-z-]+)\s*$", re.MULTILINE)
_BLOCK = re.compile(r"^```yaml (fails|fixed)([^\n]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Example:
    """One documented example of a rule."""

    code: str
    name: str
    kind: str
    also: frozenset[str]
    text: str
    line: int


def _examples() -> list[Example]:
    text = DOC.read_text(encoding="utf-8")
    heads = list(_SECTION.finditer(text))
    out: list[Example] = []
    for n, head in enumerate(heads):
        end = heads[n + 1].start() if n + 1 < len(heads) else len(text)
        for block in _BLOCK.finditer(text, head.end(), end):
            extra = block.group(2).strip()
            also = frozenset(extra.removeprefix("also=").split(",")) if extra else frozenset()
            line = text.count("\n", 0, block.start(3)) + 1
            out.append(
                Example(head.group(1), head.group(2), block.group(1), also, block.group(3), line)
            )
    return out


EXAMPLES = _examples()


def test_every_rule_has_a_section_with_both_examples() -> None:
    """docs/lint.md has one section per rule, named as the registry names it, with a failing
    example and a fixed one."""
    documented = {(e.code, e.name, e.kind) for e in EXAMPLES}
    for r in RULES:
        assert (r.code, r.name, "fails") in documented, r.code
        assert (r.code, r.name, "fixed") in documented, r.code
    assert {e.code for e in EXAMPLES} == {r.code for r in RULES}


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES if e.kind == "fails"], ids=lambda e: f"{e.code}-fails"
)
def test_failing_example_yields_its_code(example: Example) -> None:
    """Linting a rule's failing example yields exactly that code (plus any it documents)."""
    result = lint_source(example.text, file=f"docs/lint.md#L{example.line}")
    codes = {f.code for f in result.findings}
    assert codes == {example.code} | example.also, [str(f) for f in result.findings]


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES if e.kind == "fixed"], ids=lambda e: f"{e.code}-fixed"
)
def test_fixed_example_is_clean(example: Example) -> None:
    """Linting a rule's fixed example yields no finding at all."""
    result = lint_source(example.text, file=f"docs/lint.md#L{example.line}")
    assert result.findings == [], [str(f) for f in result.findings]
