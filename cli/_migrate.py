"""``leadflow migrate`` (live migration of running leads) and ``leadflow canary`` (canary starts).

leadflow migrate inbound-lead --to 3 --map nurture=new --sla keep --dry-run
leadflow migrate inbound-lead --to 3 --map nurture=new --sla keep --batch 1000
leadflow migrate inbound-lead --abandon 4
leadflow canary set inbound-lead 3 --share 0.1
leadflow canary show inbound-lead
leadflow canary clear inbound-lead
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from leadflow.cli._common import Actor as ActorOption
from leadflow.cli._common import (
    AsJson,
    CliError,
    Db,
    Process,
    console,
    handled,
    open_engine,
    print_json,
)
from leadflow.engine.migration import (
    BLOCKED,
    OUTCOMES,
    MigrationPlan,
    MigrationResult,
    abandon_migration,
    apply_migration,
    canary,
    clear_canary,
    plan_migration,
    set_canary,
)

__all__ = ["canary_app", "migrate"]

_WORDS = {
    "clean": "move cleanly (same stage)",
    "mapped": "move through --map",
    "fails_criteria": "move, but now fail a criterion of their stage",
    "unmapped": "blocked: stage gone, no --map",
    "data_invalid": "blocked: data breaks the new fields",
    "skips_criteria": "blocked: --map skips criteria it does not meet (--force moves them)",
    "forced": "moved past criteria they do not meet (--force)",
}


class SlaChoice(StrEnum):
    """What happens to pending SLA deadlines."""

    keep = "keep"
    restart = "restart"
    recompute = "recompute"


def parse_map(values: list[str] | None) -> dict[str, str]:
    """``--map old=new`` options as a dict; :class:`CliError` for a malformed or repeated one."""
    out: dict[str, str] = {}
    for raw in values or []:
        old, sep, new = raw.partition("=")
        old, new = old.strip(), new.strip()
        if not sep or not old or not new:
            raise CliError(
                f"--map {raw!r} must be OLD=NEW: a stage of the old version, '=', a stage of "
                "the new one (--map nurture=new)"
            )
        if old in out and out[old] != new:
            raise CliError(f"--map maps '{old}' twice (to '{out[old]}' and to '{new}')")
        out[old] = new
    return out


def _print(result: MigrationPlan, dry_run: bool) -> None:
    out = console()
    if isinstance(result, MigrationResult):
        state = "resumed and finished" if result.resumed else "finished"
        title = (
            f"migration run {result.run_id} of {result.process} to v{result.to_version}: "
            f"{state} ({result.batches} batches now)"
        )
    else:
        title = f"dry run: migrating {result.process} to v{result.to_version} (nothing written)"
    table = Table(title=title, title_justify="left")
    table.add_column("outcome")
    table.add_column("leads", justify="right")
    table.add_column("meaning")
    for outcome in OUTCOMES:
        table.add_row(outcome, f"{result.counts[outcome]:,}", _WORDS[outcome])
    verb = "would move" if dry_run else "moved"
    table.add_row("total", f"{sum(result.counts.values()):,}", f"{result.moved:,} {verb}")
    out.print(table)
    out.print(f"SLA deadlines: {result.sla_policy}")
    if result.unmet:
        out.print("criteria newly unmet:")
        for key, n in sorted(result.unmet.items()):
            out.print(f"  {key}: {n:,} lead{'' if n == 1 else 's'}")
    for outcome in ("fails_criteria", "forced", *BLOCKED):
        shown = result.examples.get(outcome, [])
        if not shown:
            continue
        more = result.counts[outcome] - len(shown)
        out.print(f"{outcome} (first {len(shown)}{f', {more:,} more' if more > 0 else ''}):")
        for o in shown:
            why = ", ".join(
                [f"{c.id}: {c.message}" for c in o.criteria] + [str(i) for i in o.issues]
            )
            where = f"{o.from_stage} (v{o.from_version})"
            out.print(f"  {o.lead_id}  {where}{f'  {why}' if why else ''}")


@handled
def migrate(
    process: Process,
    db: Db,
    to: Annotated[
        int | None, typer.Option("--to", metavar="VERSION", help="The version to migrate to.")
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map", metavar="OLD=NEW", help="Move leads of a stage to another (repeatable)."
        ),
    ] = None,
    sla: Annotated[
        SlaChoice | None,
        typer.Option(
            "--sla",
            help="Pending SLA deadlines: keep them, restart clocks now, or recompute them "
            "under the new policy. Required.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would happen; write nothing.")
    ] = False,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Leads per transaction.")] = 500,
    from_version: Annotated[
        int | None,
        typer.Option("--from", metavar="VERSION", help="Only leads on this version."),
    ] = None,
    actor: ActorOption = None,
    abandon: Annotated[
        int | None,
        typer.Option("--abandon", metavar="RUN", help="Abandon an unfinished migration run."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Also move the leads --map would block for skipping criteria they do not "
            "meet; needs --reason, recorded in each lead's history.",
        ),
    ] = False,
    reason: Annotated[
        str | None,
        typer.Option("--reason", metavar="TEXT", help="With --force: why (required)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Move running leads to another version of their process (blocked leads stay)."""
    if abandon is not None:
        _abandon(db, abandon, as_json)
        return
    version, policy = _target(to, sla)
    if force and not (reason or "").strip():
        raise CliError("--force needs --reason TEXT: why leads may skip exit criteria")
    if reason is not None and not force:
        raise CliError("--reason goes with --force")
    stages = parse_map(mapping)
    forced = reason.strip() if force and reason is not None else None
    result = _run_migration(
        db, process, version, stages, policy, dry_run, from_version, batch, actor, as_json, forced
    )
    if as_json:
        print_json(result.as_dict())
    else:
        _print(result, dry_run)


def _abandon(db: str, run_id: int, as_json: bool) -> None:
    """Abandon the unfinished migration run ``run_id`` and say so."""
    with open_engine(db) as engine:
        run = abandon_migration(engine, run_id)
    if as_json:
        print_json(run.as_dict())
    else:
        typer.echo(f"abandoned migration run {run.id} of {run.process} ({run.parameters()})")


def _target(to: int | None, sla: SlaChoice | None) -> tuple[int, str]:
    """The ``--to`` version and the ``--sla`` policy; a CliError names those missing."""
    if to is None or sla is None:
        missing = " and ".join(
            name for name, value in (("--to VERSION", to), ("--sla", sla)) if value is None
        )
        raise CliError(
            f"{missing} required: the target version and what happens to pending SLA "
            "deadlines (--sla keep|restart|recompute)"
        )
    return to, sla.value


def _run_migration(
    db: str,
    process: str,
    version: int,
    stages: dict[str, str],
    policy: str,
    dry_run: bool,
    from_version: int | None,
    batch: int,
    actor: str | None,
    as_json: bool,
    force: str | None = None,
) -> MigrationPlan:
    """The dry run's plan (nothing written; leads --force would move are still listed as
    ``skips_criteria``), or the result of migrating batch by batch."""
    with open_engine(db) as engine:
        if dry_run:
            return plan_migration(
                engine, process, version, stages, policy, from_version=from_version, batch=batch
            )
        return apply_migration(
            engine,
            process,
            version,
            stages,
            policy,
            from_version=from_version,
            batch=batch,
            actor=actor,
            on_batch=_progress(as_json),
            force=force,
        )


def _progress(as_json: bool) -> Callable[[MigrationResult], None]:
    """The ``on_batch`` callback: a progress line on stderr after each batch (none for JSON)."""

    def progress(now: MigrationResult) -> None:
        if not as_json:
            done = sum(now.counts.values())
            typer.echo(f"batch {now.batches}: {done:,} leads processed", err=True)

    return progress


# -- canary ------------------------------------------------------------------------------------

canary_app = typer.Typer(
    help="Canary starts: a share of new leads starts on a chosen version.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@canary_app.command("set")
@handled
def canary_set(
    process: Process,
    version: Annotated[int, typer.Argument(metavar="VERSION", help="The canary version.")],
    db: Db,
    share: Annotated[
        float, typer.Option("--share", help="Share of new leads in (0, 1], e.g. 0.1.")
    ],
) -> None:
    """Start a share of the new leads of PROCESS on VERSION (the rest: newest other version)."""
    with open_engine(db) as engine:
        found = set_canary(engine, process, version, share)
    typer.echo(
        f"{found.share:.0%} of new {process} leads start on v{found.version}; "
        "the rest on the newest other version"
    )


@canary_app.command("clear")
@handled
def canary_clear(process: Process, db: Db) -> None:
    """New leads of PROCESS start on the newest version again."""
    with open_engine(db) as engine:
        had = clear_canary(engine, process)
    typer.echo(f"canary of {process} cleared" if had else f"{process} has no canary")


@canary_app.command("show")
@handled
def canary_show(process: Process, db: Db, as_json: AsJson = False) -> None:
    """Show the canary of PROCESS."""
    with open_engine(db) as engine:
        versions = engine.processes().get(process)
        if versions is None:
            engine.definition(process)  # raises UnknownProcess with what is deployed
        assert versions is not None
        found = canary(engine, process)
    if as_json:
        print_json(
            {
                "process": process,
                "canary": None
                if found is None
                else {"version": found.version, "share": found.share, "set_at": found.set_at},
                "versions": versions,
            }
        )
        return
    if found is None:
        typer.echo(f"{process}: no canary; new leads start on v{versions[-1]} (the newest)")
        return
    rest = max((v for v in versions if v != found.version), default=found.version)
    typer.echo(
        f"{process}: {found.share:.0%} of new leads start on v{found.version}, the rest on "
        f"v{rest} (set {found.set_at:%Y-%m-%d %H:%M:%S} UTC)"
    )
