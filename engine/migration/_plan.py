"""Live migration, the pure part: what happens to one lead moved to another definition version.

:func:`assess` decides a lead's outcome (the dry run and the apply use the same function, so
their counts agree); :func:`migrate_clocks` carries its SLA clocks over under one of the three
deadline policies; :func:`migrated_change` builds the one change a migrated lead gets (instance
row with the new version and stage, one ``migrated`` history row, one
``leadflow.lead.migrated`` event, the timer rows). Nothing here reads the database or the clock.

Outcomes, in the order they are decided:

``unmapped``        the lead's stage does not exist in the new version (or is closed there)
                    and ``mapping`` names none for it: blocked, the lead stays where it is;
``data_invalid``    the lead's data breaks the new field contract (a required field missing,
                    an enum value gone, a field removed): blocked;
``skips_criteria``  ``mapping`` moves it forward (along the new version's transitions) past
                    criteria it does not meet: an exit criterion of a stage it skips or a guard
                    of a transition on the way (``new=qualified`` for a lead never called):
                    blocked, so a mapping cannot do what firing the triggers could not;
``fails_criteria``  it moves, but a criterion of its new stage (an exit criterion, or a guard of
                    a transition out of it) is unmet under the new version and was not already
                    unmet under the old one (absent there, or met): the new rules newly hold it;
``mapped``          it moves to the stage ``mapping`` names;
``clean``           it moves to the stage of the same name;
``forced``          it would be ``skips_criteria``, but the migration was forced with a reason
                    (``apply_migration(force=...)``, ``leadflow migrate --force --reason``):
                    it moves, and its history row records the reason and the skipped criteria.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from leadflow.definitions import LeadflowError
from leadflow.engine._compiler import CompiledProcess
from leadflow.engine._criteria import Activity, EvalContext
from leadflow.engine._errors import CriterionResult, FieldIssue
from leadflow.engine._planning import Planner
from leadflow.engine.sla import CompiledSla
from leadflow.engine.store import Change, InstanceRow

__all__ = [
    "BLOCKED",
    "MOVED",
    "OUTCOMES",
    "SLA_POLICIES",
    "InvalidMigration",
    "LeadOutcome",
    "MigrationInProgress",
    "SlaPolicyName",
    "assess",
    "migrate_clocks",
    "migrated_change",
]

SlaPolicyName = Literal["keep", "restart", "recompute"]
SLA_POLICIES: tuple[str, ...] = ("keep", "restart", "recompute")
"""What happens to a running SLA clock whose policy exists in both versions."""
OUTCOMES: tuple[str, ...] = (
    "clean",
    "mapped",
    "fails_criteria",
    "unmapped",
    "data_invalid",
    "skips_criteria",
    "forced",
)
MOVED: tuple[str, ...] = ("clean", "mapped", "fails_criteria", "forced")
"""Outcomes of leads that move to the new version."""
BLOCKED: tuple[str, ...] = ("unmapped", "data_invalid", "skips_criteria")
"""Outcomes of leads that stay on their version."""
_ACTIVE = ("running", "paused")
_VERB = {"keep": "kept", "restart": "restarted", "recompute": "recomputed"}


class InvalidMigration(LeadflowError, ValueError):
    """The migration's parameters are wrong (a mapping to an unknown stage, an unknown SLA
    policy, the same version on both sides); ``problems`` lists each. Nothing changed."""

    code = "invalid-migration"

    def __init__(self, process: str, problems: list[str]) -> None:
        self.process = process
        self.problems = tuple(problems)
        super().__init__(f"migration of '{process}': {'; '.join(self.problems)}")


class MigrationInProgress(LeadflowError):
    """An unfinished migration run of the process has other parameters: finish it (run the same
    migration again) or abandon it first. Nothing changed."""

    code = "migration-in-progress"

    def __init__(self, process: str, run_id: int, parameters: str) -> None:
        self.process = process
        self.run_id = run_id
        super().__init__(
            f"migration run {run_id} of '{process}' ({parameters}) is unfinished; run it again "
            f"with the same parameters to finish it, or abandon it (leadflow migrate {process} "
            f"--abandon {run_id})"
        )


@dataclass(frozen=True, slots=True)
class LeadOutcome:
    """What a migration does (or would do) to one lead."""

    lead_id: str
    outcome: str
    """One of :data:`OUTCOMES`."""
    from_version: int
    from_stage: str
    to_stage: str | None
    """The stage in the new version (None when ``unmapped``)."""
    criteria: tuple[CriterionResult, ...] = ()
    """For ``fails_criteria``: the criteria the new version newly holds the lead on; for
    ``skips_criteria``: the unmet criteria of the stages and transitions the mapping skips."""
    issues: tuple[FieldIssue, ...] = ()
    """For ``data_invalid``: what breaks the new field contract."""
    reason: str | None = None
    """For ``forced``: why the migration was forced past the skipped criteria."""

    @property
    def moves(self) -> bool:
        """Whether the lead moves to the new version."""
        return self.outcome in MOVED

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        out: dict[str, Any] = {
            "lead_id": self.lead_id,
            "outcome": self.outcome,
            "from_version": self.from_version,
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
        }
        if self.criteria:
            out["criteria"] = [c.as_dict() for c in self.criteria]
        if self.issues:
            out["issues"] = [str(i) for i in self.issues]
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def _context(
    compiled: CompiledProcess, row: InstanceRow, stage: str, at: datetime, acts: list[Activity]
) -> EvalContext:
    return EvalContext(
        lead=row.data,
        payload={},
        stage=stage,
        stage_entered_at=row.stage_entered_at,
        stage_seq=row.stage_seq,
        now=at,
        owner=row.owner,
        activities=acts,
        contract=compiled.contract,
    )


def _unmet(compiled: CompiledProcess, ctx: EvalContext) -> dict[tuple[str, str], CriterionResult]:
    """Unmet criteria of the stage: exit criteria keyed ``("exit", id)``, guards by trigger."""
    out: dict[tuple[str, str], CriterionResult] = {}
    for _, results in compiled.evaluate_options(ctx):
        for r in results:
            if r.kind == "requires" or r.met:
                continue
            out.setdefault(("exit" if r.source.startswith("exit:") else r.source, r.id), r)
    return out


def assess(
    old: CompiledProcess,
    new: CompiledProcess,
    row: InstanceRow,
    acts: list[Activity],
    mapping: Mapping[str, str],
    at: datetime,
) -> LeadOutcome:
    """The outcome of moving ``row`` (on ``old``) to ``new`` at ``at`` (see the module doc)."""
    mapped = row.stage in mapping
    same = new.stages.get(row.stage)
    to = mapping[row.stage] if mapped else row.stage if same and same.closed is None else None
    if to is None:
        return LeadOutcome(row.lead_id, "unmapped", old.version, row.stage, None)
    _, _, issues = new.contract.merge({}, row.data)
    if issues:
        return LeadOutcome(
            row.lead_id, "data_invalid", old.version, row.stage, to, issues=tuple(issues)
        )
    skipped = _skipped(new, row, to, at, acts) if mapped else ()
    if skipped:
        return LeadOutcome(row.lead_id, "skips_criteria", old.version, row.stage, to, skipped)
    before = _unmet(old, _context(old, row, row.stage, at, acts))
    after = _unmet(new, _context(new, row, to, at, acts))
    newly = tuple(r for key, r in after.items() if key not in before)
    if newly:
        return LeadOutcome(row.lead_id, "fails_criteria", old.version, row.stage, to, newly)
    return LeadOutcome(row.lead_id, "mapped" if mapped else "clean", old.version, row.stage, to)


def _path(compiled: CompiledProcess, start: str, goal: str) -> list[tuple[str, str, str]]:
    """The fewest forward steps ``(stage, trigger, next stage)`` from ``start`` to ``goal`` in
    the new version (backward and reopening transitions aside); empty when there is none."""
    transitions = [t for t in compiled.definition.transitions if not t.backward and not t.reopen]
    seen: dict[str, list[tuple[str, str, str]]] = {start: []}
    queue = [start]
    for stage in queue:
        for t in transitions:
            if (stage in t.source or "*" in t.source) and t.to not in seen:
                seen[t.to] = [*seen[stage], (stage, t.name, t.to)]
                queue.append(t.to)
    return seen.get(goal, [])


def _skipped(
    new: CompiledProcess, row: InstanceRow, to: str, at: datetime, acts: list[Activity]
) -> tuple[CriterionResult, ...]:
    """Unmet criteria on the way from the lead's stage to ``to`` in the new version: for each
    step, the stage's exit criteria and the transition's guard, as firing it would check them."""
    if row.stage not in new.stages or new.stages[row.stage].closed is not None:
        return ()  # a stage the new version dropped: there is no way to walk from it
    unmet: dict[tuple[str, str], CriterionResult] = {}
    for stage, trigger, after in _path(new, row.stage, to):
        options = [
            [r for r in results if r.kind != "requires" and not r.met]
            for transition, results in new.evaluate_options(_context(new, row, stage, at, acts))
            if transition.name == trigger and transition.to == after
        ]
        if options and all(options):  # no way for this step that meets its criteria
            for r in options[0]:
                unmet.setdefault((r.source, r.id), r)
    return tuple(unmet.values())


# -- SLA clocks --------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _first_after(p: CompiledSla, clock: dict[str, Any], amount: timedelta | None) -> int:
    """Index of the first mark of ``clock`` (under ``p``) strictly after ``amount`` of clock
    time (0 for None)."""
    if amount is None:
        return 0
    marks = p.matrix.of(clock).marks
    return next((i for i, m in enumerate(marks) if m.amount > amount), len(marks))


def _keep(
    old: CompiledSla, new: CompiledSla, clock: dict[str, Any], lead: Mapping[str, Any], at: datetime
) -> dict[str, Any]:
    """The deadline stays: elapsed shifts by the target difference, marks already behind the
    shifted clock count as passed (they do not fire late)."""
    deadline = old.deadline(clock, lead)
    out = {**new.matrix.carry(clock, old.matrix), "n": dict(clock["n"])}
    shift = new.matrix.of(out).target - old.matrix.of(clock).target
    out["el"] = clock["el"] + shift.total_seconds()
    out["k"] = _first_after(new, out, new.elapsed(out, lead, at))
    if out["br"] is None and deadline is not None and deadline <= at:
        out["br"] = _iso(deadline)
    return out


def _restart(clock: dict[str, Any], at: datetime, seq: int) -> dict[str, Any]:
    """A fresh clock from ``at``: elapsed 0, no marks fired, activity counts from now on."""
    del clock
    return {
        "s": "running",
        "t0": _iso(at),
        "q": seq,
        "el": 0.0,
        "since": _iso(at),
        "k": 0,
        "br": None,
        "n": {},
        "end": None,
    }


def _recompute(
    old: CompiledSla, new: CompiledSla, clock: dict[str, Any], lead: Mapping[str, Any], at: datetime
) -> dict[str, Any]:
    """Same start and elapsed time under the new target and ladder: new marks beyond the last
    mark that fired fire on the next sweep (recorded at their due times)."""
    out = {**new.matrix.carry(clock, old.matrix), "n": dict(clock["n"])}
    marks = old.matrix.of(clock).marks
    last = marks[clock["k"] - 1].amount if 0 < clock["k"] <= len(marks) else None
    out["k"] = _first_after(new, out, last)
    if out["br"] is not None and new.elapsed(out, lead, at) < new.matrix.of(out).target:
        out["br"] = None  # the new target is still ahead: not breached (yet)
    return out


def _stop(p: CompiledSla, clock: dict[str, Any], lead: Mapping[str, Any], at: datetime) -> Any:
    deadline = p.deadline(clock, lead)
    out = {**clock, "n": dict(clock["n"])}
    out["el"] = p.elapsed(clock, lead, at).total_seconds()
    if out["br"] is None and deadline is not None and deadline <= at:
        out["br"] = _iso(deadline)
    out.update(s="stopped", since=None, end=_iso(at))
    return out


def migrate_clocks(
    old: CompiledProcess, new: CompiledProcess, row: InstanceRow, policy: str, at: datetime
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]], list[str]]:
    """(new clock states, a note per clock, SLA events, ids of policies that are gone).

    A running or paused clock whose policy exists in both versions is kept, restarted or
    recomputed (``policy``); one whose policy is gone is stopped. Ended clocks stay as they are.
    Clocks of policies new in ``new`` are started afterwards by the normal SLA planning.
    """
    state: dict[str, Any] = {}
    notes: dict[str, Any] = {}
    events: list[dict[str, Any]] = []
    gone: list[str] = []
    lead = row.data
    for pid, clock in row.sla.items():
        before = old.sla.by_id.get(pid)
        after = new.sla.by_id.get(pid)
        if clock.get("s") not in _ACTIVE or before is None:
            state[pid] = clock
            continue
        deadline = _iso(before.deadline(clock, lead))
        if after is None:
            state[pid] = stopped = _stop(before, clock, lead, at)
            gone.append(pid)
            notes[pid] = {"action": "stopped", "deadline_before": deadline}
            events.append(
                {
                    "policy": pid,
                    "event": "stopped",
                    "elapsed": stopped["el"],
                    "breached": stopped["br"] is not None,
                }
            )
            continue
        if policy == "keep":
            moved = _keep(before, after, clock, lead, at)
        elif policy == "restart":
            moved = _restart(clock, at, row.version + 1)
            moved.update(
                {k: v for k, v in after.matrix.carry(clock, before.matrix).items() if k == "r"}
            )
        else:
            moved = _recompute(before, after, clock, lead, at)
        state[pid] = moved
        notes[pid] = {
            "action": _VERB[policy],
            "deadline_before": deadline,
            "deadline_after": _iso(after.deadline(moved, lead)),
        }
    return state, notes, events, gone


def migrated_change(
    planner: Planner,
    old: CompiledProcess,
    new: CompiledProcess,
    row: InstanceRow,
    outcome: LeadOutcome,
    policy: str,
    at: datetime,
    actor: str | None,
    run_id: int | None,
) -> Change:
    """The one change that moves a lead: new version and stage, its clocks, one history row
    (kind ``migrated``), one ``leadflow.lead.migrated`` event, the timer rows."""
    assert outcome.to_stage is not None
    after = row.copy()
    after.definition_version = new.version
    after.stage = outcome.to_stage
    state, notes, events, gone = migrate_clocks(old, new, row, policy, at)
    after.sla = state
    details: dict[str, Any] = {
        "from_version": old.version,
        "to_version": new.version,
        "from_stage": row.stage,
        "to_stage": after.stage,
        "outcome": outcome.outcome,
        "sla_policy": policy,
        "clocks": notes,
    }
    if run_id is not None:
        details["run"] = run_id
    if outcome.criteria:
        details["unmet"] = [c.as_dict() for c in outcome.criteria]
    if outcome.outcome == "forced":  # moved past criteria it does not meet, on purpose
        details["forced"] = {
            "reason": outcome.reason,
            "skipped_criteria": [c.id for c in outcome.criteria],
        }
    if events:
        details["sla"] = events
    change = planner.change(
        new,
        row,
        after,
        kind="migrated",
        event_type="leadflow.lead.migrated",
        at=at,
        actor=actor,
        details=details,
    )
    change.from_stage, change.to_stage = row.stage, after.stage
    # every clock's timer is rewritten for the new ladder (mark indexes differ between versions)
    timers = dict(change.timers or {})
    for p in new.sla.policies:
        clock = change.row.sla.get(p.id)
        if clock is not None:
            timers[p.id] = p.next_mark(clock, change.row.data)
    for pid in gone:
        timers[pid] = None
    change.timers = timers or None
    return change
