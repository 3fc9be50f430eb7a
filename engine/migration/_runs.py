"""Migration runs: one ``lf_migrations`` row per run, with its parameters and progress.

A run is created by the first apply of a migration and advanced by every batch in the batch's
own transaction (``last_instance_id``: every open lead up to that instance id was processed;
``counts``: leads per outcome so far). A process has at most one ``running`` run at a time:
applying the same migration again resumes it; other parameters are refused until it is done or
abandoned.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from leadflow.engine._errors import StorageError
from leadflow.engine.migration._plan import OUTCOMES, InvalidMigration, MigrationInProgress
from leadflow.engine.store.tables import migration_runs as runs

if TYPE_CHECKING:
    from leadflow.engine._engine import Engine

__all__ = ["MigrationRun", "abandon_migration", "find_or_create_run", "migration_runs"]


@dataclass(frozen=True, slots=True)
class MigrationRun:
    """A migration run as stored."""

    id: int
    process: str
    from_version: int | None
    """None: every version other than ``to_version``."""
    to_version: int
    mapping: dict[str, str]
    sla_policy: str
    status: str
    """``running``, ``done`` or ``abandoned``."""
    counts: dict[str, int]
    last_instance_id: int
    batch: int
    actor: str | None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    def parameters(self) -> str:
        """The run's parameters in words (``to v2 from any version, map a=b, SLA keep``)."""
        source = f"v{self.from_version}" if self.from_version is not None else "any version"
        maps = ", ".join(f"{k}={v}" for k, v in sorted(self.mapping.items())) or "none"
        return f"to v{self.to_version} from {source}, map {maps}, SLA {self.sla_policy}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "id": self.id,
            "process": self.process,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "mapping": self.mapping,
            "sla_policy": self.sla_policy,
            "status": self.status,
            "counts": self.counts,
            "last_instance_id": self.last_instance_id,
            "batch": self.batch,
            "actor": self.actor,
            "started_at": self.started_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


def _run(engine: Engine, r: Any) -> MigrationRun:
    dt = engine.store.decode_time
    return MigrationRun(
        id=int(r.id),
        process=r.process,
        from_version=r.from_version,
        to_version=r.to_version,
        mapping=json.loads(r.mapping),
        sla_policy=r.sla_policy,
        status=r.status,
        counts={**dict.fromkeys(OUTCOMES, 0), **json.loads(r.counts)},
        last_instance_id=int(r.last_instance_id),
        batch=r.batch,
        actor=r.actor,
        started_at=dt(r.started_at),
        updated_at=dt(r.updated_at),
        finished_at=dt(r.finished_at) if r.finished_at is not None else None,
    )


def migration_runs(engine: Engine, process: str | None = None) -> list[MigrationRun]:
    """Migration runs (of ``process``, or all), newest first."""
    query = sa.select(runs).order_by(runs.c.id.desc())
    if process is not None:
        query = query.where(runs.c.process == process)
    return [_run(engine, r) for r in engine.store.query(query, "list migration runs")]


def find_or_create_run(
    engine: Engine,
    process: str,
    from_version: int | None,
    to_version: int,
    mapping: Mapping[str, str],
    sla_policy: str,
    batch: int,
    actor: str | None,
) -> tuple[MigrationRun, bool]:
    """(the run, True) when an unfinished run with these parameters exists; else a new run
    (False). :class:`MigrationInProgress` when the unfinished run has other parameters."""
    wanted = (from_version, to_version, dict(mapping), sla_policy)
    now = engine.runtime.now(None)
    try:
        with engine.store.sa.begin() as conn:
            # one creator at a time, so that concurrent appliers share one run
            if engine.store.dialect == "postgresql":
                conn.execute(sa.text("LOCK TABLE lf_migrations IN SHARE ROW EXCLUSIVE MODE"))
            else:
                conn.execute(runs.update().where(sa.false()).values(status=runs.c.status))
            found = conn.execute(
                sa.select(runs)
                .where(runs.c.process == process, runs.c.status == "running")
                .order_by(runs.c.id)
                .limit(1)
            ).first()
            if found is not None:
                run = _run(engine, found)
                if (run.from_version, run.to_version, run.mapping, run.sla_policy) != wanted:
                    raise MigrationInProgress(process, run.id, run.parameters())
                return run, True
            ident = conn.execute(
                runs.insert().values(
                    process=process,
                    from_version=from_version,
                    to_version=to_version,
                    mapping=json.dumps(dict(sorted(mapping.items()))),
                    sla_policy=sla_policy,
                    status="running",
                    counts=json.dumps(dict.fromkeys(OUTCOMES, 0)),
                    last_instance_id=0,
                    batch=batch,
                    actor=actor,
                    started_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key
            assert ident is not None
            row = conn.execute(sa.select(runs).where(runs.c.id == ident[0])).one()
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"start a migration of {process}: {exc.__cause__ or exc}") from exc
    return _run(engine, row), False


def abandon_migration(engine: Engine, run_id: int, at: datetime | None = None) -> MigrationRun:
    """Mark an unfinished run abandoned (leads it migrated stay migrated); returns the run.

    Raises :class:`InvalidMigration` when the run does not exist or is not running.
    """
    now = engine.runtime.now(at)
    try:
        with engine.store.sa.begin() as conn:
            found = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
            if found is None or found.status != "running":
                state = "does not exist" if found is None else f"is {found.status}"
                process = found.process if found is not None else "?"
                raise InvalidMigration(
                    process, [f"run {run_id} {state}; only a running run can be abandoned"]
                )
            conn.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(status="abandoned", updated_at=now, finished_at=now)
            )
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).one()
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"abandon migration run {run_id}: {exc.__cause__ or exc}") from exc
    return _run(engine, row)
