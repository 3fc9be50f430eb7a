"""A routing dry run: where each lead of a list would go under a definition, and why.

:func:`dry_run` routes leads one after the other with a definition's routing rules (deployed or
not: the rule change being tried) against a database's current team state (rotation positions,
open leads, out-of-office periods, owed catch-up turns, the share-cap windows) and changes
nothing: the rotation, the counts and the decisions of the run are kept in memory (each lead
counts for the ones after it, as real starts would), and the transaction it reads in is rolled
back. :func:`read_leads` reads the leads from a CSV or JSON-lines file.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from leadflow.definitions import LeadflowError, ProcessDefinition
from leadflow.engine._contract import DataContract
from leadflow.engine._lead_files import Kind, field_value, read_records
from leadflow.engine.routing._account_match import AccountHit
from leadflow.engine.routing._router import Router
from leadflow.engine.routing._store import RoutingStore
from leadflow.engine.store import Store, Tx

__all__ = ["DryRoute", "LeadFileError", "dry_run", "read_leads"]

_LISTED = 20
"""The most problems of a lead file an error lists."""


class LeadFileError(LeadflowError, ValueError):
    """A file of leads that cannot be read, or rows whose values break the field contract."""

    code = "invalid-lead-file"


@dataclass(frozen=True)
class DryRoute:
    """Where one lead would go, and why."""

    lead_id: str
    team: str | None
    owner: str | None
    queued: bool
    rule: int | None
    """The routing rule that matched (1 = the first); None: no rule matched."""
    reason: str
    skipped: tuple[tuple[str, str], ...]
    """Members passed over, with why."""
    account: AccountHit | None = None
    """The account matched (``match_account``), with its score."""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["skipped"] = [{"member": m, "why": why} for m, why in self.skipped]
        return out


def read_leads(
    path: Path,
    definition: ProcessDefinition,
    *,
    id_column: str = "lead_id",
    kind: Kind | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """``[(lead id, data)]`` of a CSV or JSON-lines file: columns named like the definition's
    fields are read by the field's type, others are ignored; a row without ``id_column`` is
    called ``line N``. :class:`LeadFileError` lists every bad row (``file:line: field: why``)."""
    contract = DataContract(definition)
    out: list[tuple[str, dict[str, Any]]] = []
    problems: list[str] = []
    try:
        for line, record in read_records(path, kind):
            data: dict[str, Any] = {}
            for name, raw in record.items():
                if name in definition.fields:
                    try:
                        value = field_value(definition, name, raw)
                    except ValueError as exc:
                        problems.append(f"{path}:{line}: {exc}")
                        continue
                    if value is not None:
                        data[name] = value
            merged, _, issues = contract.merge({}, data)
            problems += [f"{path}:{line}: {issue}" for issue in issues]
            out.append((str(record.get(id_column) or f"line {line}"), merged))
    except (OSError, ValueError, csv.Error) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise LeadFileError(f"cannot read {path}: {detail}") from exc
    if problems:
        more = len(problems) - _LISTED
        listed = "; ".join(problems[:_LISTED]) + (f"; and {more} more" if more > 0 else "")
        raise LeadFileError(
            f"{len(problems)} bad values in {path} (allowed: {_fields(definition)}): {listed}"
        )
    return out


def _fields(definition: ProcessDefinition) -> str:
    return ", ".join(f"{name} ({spec.type})" for name, spec in definition.fields.items())


def dry_run(
    store: Store,
    definition: ProcessDefinition,
    leads: Iterable[tuple[str, Mapping[str, Any]]],
    at: datetime,
) -> list[DryRoute]:
    """Route ``leads`` in order at ``at`` by ``definition``'s rules against ``store``'s team
    state; nothing is written (see the module docstring)."""
    router = Router(definition)
    out = []
    with store.transaction(f"route dry run {definition.process}", commit=False) as tx:
        dry = _DryStore(tx)
        for n, (lead_id, data) in enumerate(leads, start=1):
            d = router.route(dry, -n, data, at, stage=definition.initial_stage)
            out.append(
                DryRoute(lead_id, d.team, d.owner, d.queued, d.rule, d.reason, d.skipped, d.account)
            )
    return out


class _DryStore(RoutingStore):
    """Reads the database; keeps every routing write of the run in memory instead."""

    __slots__ = ("_open", "_owed", "_pointers", "_routes")

    def __init__(self, tx: Tx) -> None:
        super().__init__(tx.cur, tx.store, tx.memo)
        self._pointers: dict[tuple[str, str], int] = {}
        self._owed: dict[tuple[str, str], dict[str, int]] = {}
        self._open: Counter[str] = Counter()
        self._routes: list[tuple[str, str, datetime]] = []

    def _pointer(self, process: str, team: str) -> int:
        key = (process, team)
        if key not in self._pointers:
            self._pointers[key] = self.pointer(process, team)
        return self._pointers[key]

    def advance_pointer(self, process: str, team: str, size: int) -> int:
        pos = self._pointer(process, team) % size
        self._pointers[(process, team)] = (pos + 1) % size
        return pos

    def lock_team(self, process: str, team: str) -> int:
        return self._pointer(process, team)

    def set_pointer(self, process: str, team: str, value: int) -> None:
        self._pointers[(process, team)] = value

    def record(
        self, process: str, team: str, instance_id: int, owner: str | None, at: datetime
    ) -> None:
        self._routes.append((process, team, at))
        if owner is not None:
            self._open[owner] += 1

    def open_leads(self, owners: Iterable[str], *, process: str | None = None) -> dict[str, int]:
        counts = super().open_leads(owners, process=process)
        return {owner: n + self._open[owner] for owner, n in counts.items()}

    def share(
        self, process: str, team: str, since: datetime, *, exclude_instance: int | None = None
    ) -> tuple[int, int]:
        mine, total = super().share(process, team, since, exclude_instance=exclude_instance)
        window = [t for p, t, when in self._routes if p == process and when >= since]
        return mine + window.count(team), total + len(window)

    def owed_turns(self, process: str, team: str) -> dict[str, int]:
        key = (process, team)
        if key not in self._owed:
            self._owed[key] = super().owed_turns(process, team)
        return dict(self._owed[key])

    def set_owed(self, process: str, team: str, member: str, owed: int) -> None:
        self.owed_turns(process, team)
        self._owed[(process, team)][member] = owed
