"""How an SLA clock picks its target: the target matrix (ordered first-match rules).

.. code-block:: yaml

    slas:
      speed_to_call:
        stages: [new]
        calendar: office
        target: 4h business              # the default, for leads no rule matches
        targets:
          - {name: enterprise, match: {segment: enterprise}, target: 5m business}
          - {name: hot, when: "has(lead.score) && lead.score >= 80", target: 30m business}
          - {name: smb, match: {segment: [smb, startup]}, target: 1h business}

The rules are tried in order when the clock starts; the first whose ``when`` holds and whose
``match`` fields all have one of the listed values gives the target. A rule with neither is a
catch-all.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from ._base import Name, _Model
from ._spans import Target

__all__ = ["DEFAULT_RULE", "MatchValue", "TargetRule"]

DEFAULT_RULE = "default"
"""The label the history and the board give a clock that got the SLA's ``target``."""

MatchValue = StrictStr | StrictBool | StrictInt | StrictFloat
"""A value a ``match`` field may be compared with (text, a whole or decimal number, a boolean)."""


def _as_values(value: Any) -> Any:
    """A lone value as a one-item tuple (``segment: smb`` means ``segment: [smb]``)."""
    if isinstance(value, dict):
        return {k: v if isinstance(v, list | tuple) else (v,) for k, v in value.items()}
    return value


class TargetRule(_Model):
    """One row of an SLA's target matrix: the target of the leads it matches."""

    name: Name | None = None
    """A label for the history and the SLA board (``enterprise``); ``rule <n>`` when absent."""
    when: str | None = None
    """A CEL condition over the lead, ``owner``, ``team``, ``stage`` and ``now`` (as in
    ``applies_when``)."""
    match: Annotated[
        dict[Name, tuple[MatchValue, ...]],
        BeforeValidator(_as_values, json_schema_input_type=dict[str, Any]),
    ] = Field(default_factory=dict)
    """Lead fields and the values they must have (``segment: enterprise``; a list: any one of
    them). An unset field matches nothing."""
    target: Target
    """The target of the leads this rule matches (``5m business``)."""

    @property
    def catch_all(self) -> bool:
        """Whether the rule matches every lead (no ``when``, no ``match``)."""
        return self.when is None and not self.match

    def label(self, index: int) -> str:
        """The rule's name, or ``rule <n>`` (1-based) when it has none."""
        return self.name or f"rule {index + 1}"
