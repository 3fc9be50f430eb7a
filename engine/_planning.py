"""Planning a change: pure functions from an instance row and an event to a :class:`Change`.

Nothing here touches the database or the clock: the runtime loads, plans with these, writes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from leadflow.engine._compiler import CompiledProcess
from leadflow.engine._criteria import Activity, EvalContext
from leadflow.engine._errors import FieldIssue, GuardFailed, InvalidData, InvalidTransition
from leadflow.engine._events import encode_event, event_id
from leadflow.engine._json import dumps, to_json_value
from leadflow.engine._limits import DEFAULT_MAX_VALUE_BYTES, oversized
from leadflow.engine.store import Change, InstanceRow

__all__ = ["MAX_AUTOMATIC", "MAX_TEXT", "NAME", "Planner", "check_text"]

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
"""Activity types are names, like the definition language's."""
MAX_TEXT = 255

MAX_AUTOMATIC = 10
"""Automatic transitions one change may set off, in a chain (loops are refused at load)."""
"""Lead, owner and actor ids are text of at most this many characters (the column size)."""


def check_text(process: str, lead_id: str, **values: object) -> None:
    """Owner and actor ids are text of at most 255 characters; :class:`InvalidData` if not."""
    issues = [
        FieldIssue(name, f"must be text of at most {MAX_TEXT} characters")
        for name, value in values.items()
        if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT)
    ]
    if issues:
        raise InvalidData(process, lead_id, issues)


def _event_data(row: InstanceRow, actor: str | None) -> dict[str, Any]:
    """The keys every event of a lead carries in ``data``."""
    return {
        "process": row.process,
        "definition_version": row.definition_version,
        "lead_id": row.lead_id,
        "seq": row.version,
        "stage": row.stage,
        "owner": row.owner,
        "actor": actor,
    }


class Planner:
    """Turns events into changes; ``event_source`` is the CloudEvents ``source`` prefix."""

    def __init__(self, event_source: str, max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES) -> None:
        self.event_source = event_source
        self.max_value_bytes = max_value_bytes
        """The largest text, list or JSON value one field may hold (see :mod:`._limits`)."""

    def _merge(
        self, compiled: CompiledProcess, row: InstanceRow | None, lead_id: str, data: Any
    ) -> tuple[dict[str, Any], dict[str, list[Any]]]:
        """The contract's merge of ``data`` into the lead's data, with each new value's size
        checked; :class:`InvalidData` listing every issue."""
        merged, diff, issues = compiled.contract.merge(row.data if row else {}, data)
        new = merged.items() if row is None else ((n, d[1]) for n, d in diff.items())
        issues += oversized(new, self.max_value_bytes)
        if issues:
            raise InvalidData(compiled.process, lead_id, issues)
        return merged, diff

    def change(
        self,
        compiled: CompiledProcess,
        before: InstanceRow | None,
        row: InstanceRow,
        *,
        kind: str,
        event_type: str,
        at: datetime,
        actor: str | None,
        trigger: str | None = None,
        details: dict[str, Any],
        activity: tuple[str, str, str | None, str | None] | None = None,
        extra_events: list[tuple[str, str, str]] | None = None,
    ) -> Change:
        row.version = (before.version if before else 0) + 1
        row.updated_at = at
        timers = None
        if compiled.sla:
            timers, details, extra_events = self._plan_sla(
                compiled, before, row, at, actor, activity, details, extra_events, trigger
            )
        from_stage = before.stage if before else None
        to_stage = row.stage if kind in ("started", "transition") else None
        data = _event_data(row, actor)
        if trigger:
            data["trigger"] = trigger
        if kind == "transition":
            data["from_stage"] = from_stage
            data["to_stage"] = to_stage
        details_json = dumps(details)
        ident = event_id(at)
        envelope = self._envelope(event_type, ident, row, at, data, details, details_json)
        return Change(
            row=row,
            expected_version=before.version if before else None,
            kind=kind,
            trigger=trigger,
            from_stage=from_stage if kind == "transition" else None,
            to_stage=to_stage,
            actor=actor,
            at=at,
            details=details,
            details_json=details_json,
            event_id=ident,
            event_type=event_type,
            event_json=envelope,
            activity=activity,
            timers=timers,
            extra_events=extra_events or None,
        )

    def _plan_sla(
        self,
        compiled: CompiledProcess,
        before: InstanceRow | None,
        row: InstanceRow,
        at: datetime,
        actor: str | None,
        activity: tuple[str, str, str | None, str | None] | None,
        details: dict[str, Any],
        extra_events: list[tuple[str, str, str]] | None,
        trigger: str | None = None,
    ) -> tuple[Any, dict[str, Any], list[tuple[str, str, str]] | None]:
        """The SLA clocks' timers after the change, with their metric events added to the
        details and a ``sla_fulfilled`` event per fulfilled clock."""
        timers, sla_events = compiled.sla.plan(
            before.sla if before else None,
            row.sla,
            self.context(compiled, row, row.data, {}, at, []),
            created_at=row.created_at,
            activity=activity[0] if activity else None,
            owner_changed=before is not None and before.owner != row.owner,
            data_changed=before is not None and before.data != row.data,
            trigger=trigger,
            previous_owner=before.owner if before is not None else None,
        )
        if sla_events:
            details = {**details, "sla": [*details.get("sla", ()), *sla_events]}
            extra_events = [
                *(extra_events or ()),
                *(
                    self.extra_event(row, "leadflow.lead.sla_fulfilled", at, actor, e)
                    for e in sla_events
                    if e["event"] == "fulfilled"
                ),
            ]
        return timers, details, extra_events

    def extra_event(
        self,
        row: InstanceRow,
        event_type: str,
        at: datetime,
        actor: str | None,
        details: dict[str, Any],
    ) -> tuple[str, str, str]:
        """(id, type, envelope) of one more event of a change (an SLA fulfilled, a reassignment)."""
        ident = event_id(at)
        data = _event_data(row, actor)
        return ident, event_type, self._envelope(event_type, ident, row, at, data, details, None)

    def _envelope(
        self,
        event_type: str,
        ident: str,
        row: InstanceRow,
        at: datetime,
        data: dict[str, Any],
        details: dict[str, Any],
        details_json: str | None,
    ) -> str:
        return encode_event(
            self.event_source,
            event_type,
            ident,
            row.process,
            row.lead_id,
            at.isoformat(),
            data,
            details,
            dumps(details) if details_json is None else details_json,
        )

    def start(
        self,
        compiled: CompiledProcess,
        lead_id: object,
        data: Mapping[str, Any] | None,
        owner: str | None,
        actor: str | None,
        at: datetime,
        reason: str | None = None,
    ) -> Change:
        """A new lead; ``reason``: why routing gave it this owner (kept in the history)."""
        if not isinstance(lead_id, str) or not lead_id or len(lead_id) > MAX_TEXT:
            issue = FieldIssue(
                "lead_id", f"must be non-empty text of at most {MAX_TEXT} characters"
            )
            raise InvalidData(compiled.process, str(lead_id), [issue])
        check_text(compiled.process, lead_id, owner=owner, actor=actor)
        merged, _ = self._merge(compiled, None, lead_id, data)
        row = InstanceRow(
            0,
            compiled.process,
            lead_id,
            compiled.version,
            compiled.initial,
            owner,
            merged,
            None,
            0,
            at,
            at,
            at,
            1,
        )
        details: dict[str, Any] = {"data": merged, "owner": owner} if owner else {"data": merged}
        if reason:
            details["reason"] = reason
        return self.change(
            compiled,
            None,
            row,
            kind="started",
            event_type="leadflow.lead.started",
            at=at,
            actor=actor,
            details=details,
        )

    def context(
        self,
        compiled: CompiledProcess,
        row: InstanceRow,
        lead: Mapping[str, Any],
        payload: Mapping[str, Any],
        at: datetime,
        activities: list[Activity],
    ) -> EvalContext:
        return EvalContext(
            lead=lead,
            payload=payload,
            stage=row.stage,
            stage_entered_at=row.stage_entered_at,
            stage_seq=row.stage_seq,
            now=at,
            owner=row.owner,
            activities=activities,
            contract=compiled.contract,
            team_of=compiled.team_of,
        )

    def fire(
        self,
        compiled: CompiledProcess,
        row: InstanceRow,
        trigger: str,
        data: Mapping[str, Any] | None,
        actor: str | None,
        at: datetime,
        activities: list[Activity],
    ) -> Change:
        check_text(row.process, row.lead_id, actor=actor)
        if trigger not in compiled.allowed.get(row.stage, ()):
            raise InvalidTransition(
                row.process, row.lead_id, trigger, row.stage, compiled.allowed.get(row.stage, ())
            )
        merged, diff = self._merge(compiled, row, row.lead_id, data)
        ctx = self.context(compiled, row, merged, data or {}, at, activities)
        decision = compiled.decide(trigger, ctx)
        if decision.transition is None:
            raise GuardFailed(
                row.process, row.lead_id, trigger, row.stage, decision.unmet, decision.results
            )
        for name in decision.transition.clears:
            if name in merged and name not in (data or {}):
                diff[name] = [merged.pop(name), None]
        before = row
        after = row.copy()
        after.data = merged
        dest = decision.transition.to
        after.stage = dest
        after.stage_entered_at = at
        after.stage_seq = row.version + 1
        after.closed = compiled.stages[dest].closed
        if after.closed == "won":
            event_type = "leadflow.lead.closed_won"
        elif after.closed == "lost":
            event_type = "leadflow.lead.closed_lost"
        else:
            event_type = "leadflow.lead.stage_changed"
        details: dict[str, Any] = {"criteria": [r.as_dict() for r in decision.results]}
        if diff:
            details["changes"] = diff
        if after.closed:
            details["closed"] = after.closed
        return self.change(
            compiled,
            before,
            after,
            kind="transition",
            event_type=event_type,
            at=at,
            actor=actor,
            trigger=trigger,
            details=details,
        )

    def automatic(
        self,
        compiled: CompiledProcess,
        row: InstanceRow,
        at: datetime,
        activities: list[Activity],
    ) -> list[Change]:
        """The automatic transitions a lead takes after a change left it as ``row``: in its
        stage, the first ``auto`` rule whose condition holds and whose criteria are met fires
        (actor ``rule:<trigger>``), then the same from the stage it lands in, at most
        :data:`MAX_AUTOMATIC` times and never back into a stage the chain left. An unmet rule
        does nothing."""
        out: list[Change] = []
        visited = {row.stage}
        while len(out) < MAX_AUTOMATIC and not row.closed:
            change = None
            for trigger, program in compiled.autos.get(row.stage, ()):
                ctx = self.context(compiled, row, row.data, {}, at, activities)
                if not program.run(ctx)[0] or compiled.decide(trigger, ctx).transition is None:
                    continue
                change = self.fire(compiled, row, trigger, None, f"rule:{trigger}", at, activities)
                break
            if change is None or change.row.stage in visited:
                break  # nothing to do, or a loop the load-time check could not see
            visited.add(change.row.stage)
            out.append(change)
            row = change.row
        return out

    def update(
        self,
        compiled: CompiledProcess,
        row: InstanceRow,
        data: Mapping[str, Any],
        actor: str | None,
        at: datetime,
    ) -> Change | None:
        """New lead data (``None`` unsets a field); None when nothing would change."""
        merged, diff = self._merge(compiled, row, row.lead_id, data)
        if not diff:
            return None
        after = row.copy()
        after.data = merged
        return self.change(
            compiled,
            row,
            after,
            kind="updated",
            event_type="leadflow.lead.updated",
            at=at,
            actor=actor,
            details={"changes": diff},
        )

    def activity(
        self, process: str, lead_id: str, activity_type: object, data: Mapping[str, Any] | None
    ) -> tuple[str, dict[str, Any], str | None]:
        """(type, data as stored, data JSON) of an activity; :class:`InvalidData` if malformed."""
        if not isinstance(activity_type, str) or not NAME.fullmatch(activity_type):
            issue = FieldIssue(
                "activity_type",
                f"{activity_type!r} is not a name: use a letter, then letters, digits or "
                "underscores (at most 64)",
            )
            raise InvalidData(process, lead_id, [issue])
        try:
            stored = to_json_value(dict(data or {}))
        except (TypeError, ValueError) as exc:
            raise InvalidData(process, lead_id, [FieldIssue("data", str(exc))]) from exc
        payload = dumps(stored) if stored else None
        if payload and (issues := oversized([("data", payload)], self.max_value_bytes)):
            raise InvalidData(process, lead_id, issues)  # the JSON text, measured as text
        return activity_type, stored, payload

    def record(
        self,
        compiled: CompiledProcess,
        row: InstanceRow,
        activity: tuple[str, dict[str, Any], str | None],
        actor: str | None,
        at: datetime,
    ) -> Change:
        """An activity recorded on the lead (it also makes a version, ordering it)."""
        kind, stored, payload = activity
        return self.change(
            compiled,
            row,
            row.copy(),
            kind="activity",
            event_type="leadflow.lead.activity_recorded",
            at=at,
            actor=actor,
            details={"activity": {"type": kind, "data": stored}},
            activity=(kind, row.stage, actor, payload),
        )

    def assign(
        self,
        compiled: CompiledProcess,
        row: InstanceRow,
        owner: str | None,
        actor: str | None,
        at: datetime,
        reason: str | None = None,
    ) -> Change | None:
        """The lead given to ``owner``; None when it already is theirs. ``reason`` (why a rule
        gave it) goes into the history."""
        if row.owner == owner:
            return None
        after = row.copy()
        after.owner = owner
        details: dict[str, Any] = {"owner": owner, "previous_owner": row.owner}
        if reason:
            details["reason"] = reason
        return self.change(
            compiled,
            row,
            after,
            kind="assigned",
            event_type="leadflow.lead.assigned",
            at=at,
            actor=actor,
            details=details,
        )
