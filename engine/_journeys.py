"""Journeys: the process a new lead starts in, chosen by rules over its fields.

The current rules are one row of ``lf_journeys`` (``Engine.set_journeys``). :func:`process_for`
evaluates them in order against the lead's data (CEL over ``lead``; a rule whose expression
errors, for example on an unset field, does not match); ``Engine.start_lead`` then starts the
lead through ``start``, so access rules, idempotency, canaries and routing apply as to any start.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from leadflow.definitions import (
    JourneyRule,
    Journeys,
    LeadflowError,
    check_journeys,
    load_journeys,
)
from leadflow.engine._criteria import holds
from leadflow.engine._errors import StorageError, UnknownProcess
from leadflow.engine._runtime import Runtime
from leadflow.engine.store.tables import journeys as journeys_table

__all__ = ["NoJourney", "choose", "journeys", "process_for", "set_journeys"]

_ROW = 1  # the one row of lf_journeys


class NoJourney(LeadflowError, LookupError):
    """No journey rule matches the new lead (or no journeys are set); nothing was started."""

    code = "no-journey"

    def __init__(self, lead_id: str, rules: tuple[JourneyRule, ...] = ()) -> None:
        self.lead_id = lead_id
        self.rules = rules
        if not rules:
            text = (
                f"lead '{lead_id}': no journeys are set, so there is no process to start it in: "
                "set them (Engine.set_journeys, `leadflow journeys set FILE`) or name the process"
            )
        else:
            listed = "; ".join(f"{r.when or '(always)'} -> {r.process}" for r in rules)
            text = (
                f"lead '{lead_id}' matches no journey rule ({listed}); add a last rule without "
                "'when' to start every other lead somewhere"
            )
        super().__init__(text)

    def __str__(self) -> str:
        return str(self.args[0])


def _body(rules: Journeys) -> str:
    return json.dumps(rules.model_dump(mode="json", by_alias=True), separators=(",", ":"))


def set_journeys(runtime: Runtime, given: Journeys | str | os.PathLike[str]) -> Journeys:
    """Check and store the journey rules (replacing the current ones); every process they name
    must be deployed (:class:`UnknownProcess` names what is). Nothing is stored on error."""
    rules = check_journeys(given) if isinstance(given, Journeys) else load_journeys(given)
    deployed = list(runtime.processes())
    for rule in rules.rules:
        if rule.process not in deployed:
            raise UnknownProcess(rule.process, None, deployed)
    t = journeys_table
    row = {"id": _ROW, "body": _body(rules), "set_at": runtime.now(None)}
    for attempt in (1, 2):
        try:
            with runtime.store.sa.begin() as conn:
                conn.execute(t.delete())
                conn.execute(t.insert().values(**row))
            break
        except sa.exc.IntegrityError:
            if attempt == 2:  # pragma: no cover - two concurrent writers, twice in a row
                raise StorageError("set journeys: another writer kept replacing them") from None
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"set journeys: {exc.__cause__ or exc}") from exc
    return rules


def journeys(runtime: Runtime) -> Journeys | None:
    """The current journey rules, or None when none were set."""
    t = journeys_table
    rows = runtime.store.query(sa.select(t.c.body).where(t.c.id == _ROW), "read the journeys")
    return _parse(str(rows[0][0])) if rows else None


@lru_cache(maxsize=16)
def _parse(body: str) -> Journeys:
    return Journeys.model_validate(json.loads(body))


def _matches(rule: JourneyRule, lead: Mapping[str, Any]) -> bool:
    return rule.when is None or holds(rule.when, {"lead": dict(lead)})


def choose(rules: Journeys, data: Mapping[str, Any] | None) -> JourneyRule | None:
    """The first rule that matches a lead with ``data``, or None."""
    lead = data or {}
    return next((rule for rule in rules.rules if _matches(rule, lead)), None)


def process_for(runtime: Runtime, lead_id: str, data: Mapping[str, Any] | None) -> str:
    """The process of the first journey rule a new lead with ``data`` matches;
    :class:`NoJourney` when none matches or no journeys are set."""
    rules = journeys(runtime)
    if rules is None:
        raise NoJourney(lead_id)
    rule = choose(rules, data)
    if rule is None:
        raise NoJourney(lead_id, rules.rules)
    return rule.process
