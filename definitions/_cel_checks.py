"""A load check over criteria's CEL: a type mismatch that makes a criterion constant.

``lead.score >= "sixty"`` on an integer field can never evaluate (CEL does not convert types),
so the criterion would never be met; ``lead.score != "60"`` would always be met. Such a
criterion (its ``cel`` or its ``when``) is a load error. Mismatches that leave the criterion
depending on the lead (inside an ``||`` with a live part) stay lint (LF101).
"""

from __future__ import annotations

from collections.abc import Iterator

from ._checks import Finding
from ._lint_rules_base import criterion_sites
from ._lint_rules_cel import constant_mismatch, mismatch_message
from ._lint_rules_celparse import parse
from ._model import CelCriterion, ProcessDefinition

__all__ = ["check_constant_criteria"]


def check_constant_criteria(d: ProcessDefinition) -> Iterator[Finding]:
    """A criterion whose CEL a type mismatch makes always met or never met.

    Fails::

        fields: {score: {type: integer}}
        ... guard: [{id: hot, cel: 'lead.score >= "sixty"', message: Score 60+}]
    """
    for site in criterion_sites(d):
        c = site.criterion
        expressions = [("cel", c.cel)] if isinstance(c, CelCriterion) else []
        expressions += [("when", c.when)] if c.when is not None else []
        for key, expression in expressions:
            tree = parse(expression)
            found = constant_mismatch(tree, d.fields) if tree is not None else None
            if found is None:
                continue
            truth, comparison, spec = found
            owner = site.owner if key == "cel" else f"{site.owner} ('when')"
            always = "always" if truth else "never"
            yield Finding(
                (*site.path, key),
                f"{mismatch_message(owner, comparison, spec)}; the criterion would {always} be met",
                "cel-type-constant",
                offset=comparison.offset,
            )
