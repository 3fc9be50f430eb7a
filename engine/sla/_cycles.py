"""Re-arming: an SLA clock that starts a new cycle on a named event (``rearm`` in the language).

A re-arm event (an activity of a type recorded, a trigger fired) while the lead is in the SLA's
stages starts the next cycle of its clock: the cycle count ``c`` goes up by one and the history
gets a ``rearmed`` event with it. What happens to the cycle before:

* met or stopped (ended): nothing more; the next cycle starts.
* still running or paused, with ``running: restart`` (the default): it ends as ``superseded``,
  with its clock time, whether it breached (a deadline passed unswept counts, at the deadline)
  and the marks it had not fired yet, listed as ``cancelled``: they never fire, since the
  clock's one timer row is replaced by the next cycle's in the same transaction.
* still running or paused, with ``running: keep``: it runs on; the event changes nothing.

The change is first applied to the running cycle (an activity counted, fulfilment checked), so
an event that fulfils a cycle and re-arms the clock ends that cycle met and starts the next.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from leadflow.definitions import format_duration
from leadflow.engine._criteria import EvalContext
from leadflow.engine.sla._targets import Mark

__all__ = ["next_cycle", "rearm_active", "supersede"]

Start = Callable[[Any, EvalContext, str], "dict[str, Any] | None"]
"""Starts a fresh clock of a policy: (policy, context, mode) -> clock state, or None."""


def _mark(p: Any, mark: Mark) -> dict[str, str]:
    if mark.level == "task" or mark.index < 0:
        text = format_duration(mark.amount) if mark.amount else "0s"
    else:
        text = str(p.policy.ladder[mark.index].at)
    return {"level": mark.level, "mark": text}


def supersede(
    p: Any, clock: dict[str, Any], ctx: EvalContext, events: list[dict[str, Any]]
) -> None:
    """End a running (or paused) cycle that a re-arm replaces; its unfired marks are cancelled."""
    at = ctx.now
    deadline = p.deadline(clock, ctx.lead)
    if clock["br"] is None and deadline is not None and deadline <= at:
        clock["br"] = deadline.isoformat()  # breached while nobody swept: at the deadline
    cancelled = [_mark(p, m) for m in p.matrix.of(clock).marks[clock["k"] :]]
    clock["el"] = p.elapsed(clock, ctx.lead, at).total_seconds()
    clock["since"] = None
    clock["s"] = "stopped"
    clock["end"] = at.isoformat()
    events.append(
        {
            "policy": p.id,
            "event": "superseded",
            "cycle": int(clock.get("c", 1)),
            "elapsed": clock["el"],
            "breached": clock["br"] is not None,
            "cancelled": cancelled,
        }
    )


def next_cycle(
    p: Any,
    previous: dict[str, Any],
    ctx: EvalContext,
    mode: str,
    start: Start,
    events: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """The next cycle after ``previous`` (ended), or None when no target rule matches now."""
    fresh = start(p, ctx, mode)
    if fresh is None:
        return None
    cycle = int(previous.get("c", 1)) + 1
    fresh["c"] = cycle
    started = {"policy": p.id, "event": "rearmed", "cycle": cycle, "started_at": fresh["t0"]}
    events.append({**started, **p.matrix.started(fresh)})
    if fresh["s"] == "paused":
        events.append({"policy": p.id, "event": "paused"})
    return fresh


def rearm_active(
    p: Any,
    clock: dict[str, Any],
    ctx: EvalContext,
    mode: str,
    start: Start,
    events: list[dict[str, Any]],
    *,
    keep: bool,
) -> dict[str, Any]:
    """A re-arm event on a clock that was active before the change: the next cycle, or the same
    clock (``keep`` a running one, or no target rule matches now)."""
    if clock["s"] in ("running", "paused"):
        if keep:
            return clock
        supersede(p, clock, ctx, events)
    return next_cycle(p, clock, ctx, mode, start, events) or clock
