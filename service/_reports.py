"""``/api/v1/reports/{name}``: the CLI's reports as JSON, with the same options."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from leadflow.definitions import parse_duration
from leadflow.engine import Engine, reports
from leadflow.engine.access import hidden_fields, require
from leadflow.service._deps import Caller, EngineDep
from leadflow.service._problems import Problem

__all__ = ["REPORTS", "router"]

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

ReportName = Literal[
    "pipeline",
    "funnel",
    "stages",
    "time-in-stage",
    "stuck",
    "losses",
    "loss-reasons",
    "owners",
    "sla",
    "forecast",
    "fairness",
    "handoffs",
]
REPORTS: tuple[str, ...] = ReportName.__args__  # type: ignore[attr-defined]
"""The report names: the issue's short ones and the CLI's (``time-in-stage``, ``loss-reasons``)."""


@router.get("/{name}")
def report(
    name: ReportName,
    engine: EngineDep,
    actor: Caller,
    process: str,
    version: int | None = None,
    as_of: datetime | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    value_field: str | None = None,
    cohort: Literal["week", "month", "quarter", "none"] = "month",
    older_than: str | None = None,
    periods: Annotated[int, Query(ge=1, le=36)] = 4,
    period: Literal["week", "month", "quarter"] = "month",
    method: Literal["markov", "weighted", "hazard"] = "markov",
    by: Literal["owner", "team"] = "owner",
) -> dict[str, Any]:
    """One report of ``process`` as of ``as_of`` (default: now), as ``leadflow report`` prints
    it with ``--format json``. ``stuck`` lists leads, so it needs a role that reads leads;
    ``sla`` is the SLA board and ``handoffs`` the hand-off report (per hand-off pair, how fast
    the receiving team acted), which every role may read. Fields the caller's role may not read
    are never used: a report leaves out the values of a hidden value field (and the reasons of
    a hidden loss field), and naming a hidden ``value_field`` is 403."""
    verb = {"stuck": "lead_reports", "sla": "board", "handoffs": "board"}.get(name, "reports")
    definition = engine.definition(process)
    require(actor, verb, None, definition)
    hidden = hidden_fields(actor.role, definition)
    if value_field is not None and value_field in hidden:
        raise Problem(
            403,
            "access_denied",
            f"value_field: the {actor.role} role may not read '{value_field}'",
            rule=f"access:roles.{actor.role}.hidden",
        )
    run = _RUNNERS[_CLI_NAMES.get(name, name)]
    options: dict[str, Any] = {
        "version": version,
        "as_of": as_of,
        "since": since,
        "until": until,
        "value_field": value_field,
        "cohort": None if cohort == "none" else cohort,
        "older_than": _duration(older_than),
        "periods": periods,
        "period": period,
        "method": method,
        "by": by,
        "hidden": hidden,
    }
    try:
        result = run(engine, process, options)
    except (ValueError, TypeError) as exc:
        raise Problem(422, "invalid_request", str(exc)) from exc
    answer: dict[str, Any] = result.as_dict()
    return answer


def _duration(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise Problem(422, "invalid_request", f"older_than: {exc}") from exc


def _pick(options: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: options[n] for n in names if options[n] is not None}


_CLI_NAMES = {"time-in-stage": "stages", "loss-reasons": "losses"}
"""The CLI's names of two reports, answered like the short ones."""

_Runner = Callable[[Engine, str, dict[str, Any]], Any]
_RUNNERS: dict[str, _Runner] = {
    "pipeline": lambda e, p, o: reports.pipeline(
        e, p, **_pick(o, "version", "as_of", "value_field", "hidden")
    ),
    "funnel": lambda e, p, o: reports.funnel(
        e, p, cohort=o["cohort"], **_pick(o, "version", "as_of")
    ),
    "stages": lambda e, p, o: reports.time_in_stage(e, p, **_pick(o, "version", "as_of", "since")),
    "stuck": lambda e, p, o: reports.stuck(
        e, p, **_pick(o, "version", "as_of", "older_than", "value_field", "hidden")
    ),
    "losses": lambda e, p, o: reports.loss_reasons(
        e, p, **_pick(o, "version", "as_of", "since", "value_field", "hidden")
    ),
    "owners": lambda e, p, o: reports.owners(
        e, p, **_pick(o, "version", "as_of", "since", "value_field", "hidden")
    ),
    "fairness": lambda e, p, o: reports.fairness(e, p, **_pick(o, "version", "as_of", "since")),
    "sla": lambda e, p, o: reports.sla_board(e, p, by=o["by"], **_pick(o, "since", "until")),
    "handoffs": lambda e, p, o: reports.handoff_report(e, p, **_pick(o, "since", "until")),
    "forecast": lambda e, p, o: reports.forecast(
        e,
        p,
        periods=o["periods"],
        period=o["period"],
        method=o["method"],
        **_pick(o, "version", "as_of", "value_field", "hidden"),
    ),
}
