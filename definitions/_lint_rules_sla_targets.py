"""Lint rules over SLA target matrices: rules that are never chosen, leads left without a
target, a default nothing falls through to."""

from __future__ import annotations

from collections.abc import Iterator

from ._lint_rules_base import Issue, rule
from ._model import ProcessDefinition

__all__ = ["RULES", "target_default_unused", "target_no_default", "target_rule_unreachable"]


@rule(
    "LF305",
    "sla-target-rule-unreachable",
    "warning",
    "A target rule comes after a catch-all or repeats an earlier rule",
)
def target_rule_unreachable(d: ProcessDefinition) -> Iterator[Issue]:
    """Target rules are tried in order and the first match wins: a rule after a catch-all (no
    ``when``, no ``match``), or with the same condition as an earlier rule, is never chosen."""
    for sid, sla in d.slas.items():
        seen: dict[tuple[str | None, str], str] = {}
        catch_all: str | None = None
        for k, r in enumerate(sla.targets):
            label = r.label(k)
            shape = (r.when, repr(sorted((n, sorted(map(repr, v))) for n, v in r.match.items())))
            earlier = catch_all or seen.get(shape)
            if earlier is not None:
                why = "matches every lead" if earlier == catch_all else "has the same condition"
                yield Issue(
                    ("slas", sid, "targets", k),
                    f"SLA '{sid}': target rule '{label}' is never chosen: rule '{earlier}' before "
                    f"it {why}; move it up, or remove it",
                )
                continue
            seen[shape] = label
            if r.catch_all:
                catch_all = label


@rule(
    "LF306",
    "sla-target-no-default",
    "warning",
    "A target matrix without a default or a catch-all rule",
)
def target_no_default(d: ProcessDefinition) -> Iterator[Issue]:
    """A lead that matches no target rule, when the SLA has no ``target`` of its own and no
    catch-all rule, gets no clock: it silently has no SLA. Add a default, or say so with
    ``applies_when``."""
    for sid, sla in d.slas.items():
        if sla.targets and sla.target is None and not any(r.catch_all for r in sla.targets):
            yield Issue(
                ("slas", sid, "targets"),
                f"SLA '{sid}': a lead no target rule matches gets no clock; add a default "
                "(target: ...) or a last rule without when/match, or limit the SLA with "
                "applies_when",
                key=True,
            )


@rule(
    "LF307",
    "sla-target-default-unused",
    "warning",
    "An SLA's default target is shadowed by a catch-all target rule",
)
def target_default_unused(d: ProcessDefinition) -> Iterator[Issue]:
    """With a catch-all target rule, every lead gets a rule's target: the SLA's own ``target``
    (the default) is never used."""
    for sid, sla in d.slas.items():
        catch_all = next((r.label(k) for k, r in enumerate(sla.targets) if r.catch_all), None)
        if sla.target is not None and catch_all is not None:
            yield Issue(
                ("slas", sid, "target"),
                f"SLA '{sid}': target '{sla.target}' is never used: target rule '{catch_all}' "
                "matches every lead; remove one of them",
            )


RULES = (target_rule_unreachable, target_no_default, target_default_unused)
"""The target matrix rules, in code order."""
