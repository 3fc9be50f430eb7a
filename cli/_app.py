"""The ``leadflow`` command line: check and draw definitions, run a demo, script the engine.

    leadflow validate definitions/*.yaml
    leadflow graph inbound-lead.yaml --format mermaid
    leadflow demo --leads 40
    export LEADFLOW_DB=sqlite:///leadflow.db
    leadflow deploy inbound-lead.yaml
    leadflow start inbound-lead lead-1 --data '{"email": "ana@example.com"}'
    leadflow record inbound-lead lead-1 call
    leadflow fire inbound-lead lead-1 contact
    leadflow next inbound-lead lead-1
    leadflow lint definitions/*.yaml
    leadflow diff v1.yaml v2.yaml --db $LEADFLOW_DB
    leadflow worker --db $LEADFLOW_DB
    leadflow report sla --process inbound-lead

Errors print one line starting with ``error:`` on stderr and exit with 1 (2 for usage errors,
3 for internal errors); never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from leadflow.cli._accounts import accounts_app
from leadflow.cli._common import (
    Actor,
    AsJson,
    Data,
    Db,
    LeadId,
    Output,
    Process,
    Role,
    Team,
    acting,
    console,
    fail,
    handled,
    open_engine,
    parse_data,
    print_json,
    write_or_print,
)
from leadflow.cli._doctor import doctor
from leadflow.cli._handoffs import handoffs
from leadflow.cli._journeys import journeys_app
from leadflow.cli._lint import diff, lint
from leadflow.cli._migrate import canary_app, migrate
from leadflow.cli._outbox import outbox_app
from leadflow.cli._queue import queue
from leadflow.cli._render import (
    history_json,
    history_table,
    instance_json,
    next_json,
    print_instance,
    print_next,
)
from leadflow.cli._report import report_app
from leadflow.cli._route import route
from leadflow.cli._schedules import schedules_app
from leadflow.cli._serve import Config as ServeConfig
from leadflow.cli._serve import serve, start_service
from leadflow.cli._simulate import simulate_command
from leadflow.cli._sla import away_app, sla
from leadflow.cli._tokens import token_app
from leadflow.cli._version import version
from leadflow.cli._worker import worker
from leadflow.definitions import DefinitionError, ProcessDefinition, json_schema, load_definition
from leadflow.engine import Instance

__all__ = ["app", "main"]

app = typer.Typer(
    name="leadflow",
    help="leadflow: sales processes as YAML, run as durable per-lead state machines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(
    help="The database schema: upgrade it, show its revision.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
AUTHORING, RUNNING, OPERATING, REPORTING = "Authoring", "Running", "Operating", "Reporting"
"""The help panels: what a person is doing (the commands of each are registered in that order:
the decorated ones below as they come, the rest at the end of this module)."""


def _summary(definition: ProcessDefinition) -> str:
    return (
        f"process {definition.process} v{definition.version}, {len(definition.stages)} stages, "
        f"{len(definition.transitions)} transitions"
    )


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"leadflow {version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """leadflow: sales processes as YAML, run as durable per-lead state machines."""


# -- definitions -------------------------------------------------------------------------------


@app.command(rich_help_panel=AUTHORING)
@handled
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Definition files (YAML or JSON) or shipped process names (inbound-lead)."
        ),
    ],
    as_json: AsJson = False,
) -> None:
    """Check definition files; print every problem as file:line:col: message."""
    results: list[dict[str, Any]] = []
    for file in files:
        try:
            definition = load_definition(file)
        except DefinitionError as exc:
            results.append(
                {
                    "file": str(file),
                    "ok": False,
                    "problems": [
                        {
                            "file": p.file,
                            "line": p.line,
                            "column": p.column,
                            "code": p.code,
                            "message": p.message,
                        }
                        for p in exc.problems
                    ],
                }
            )
            if not as_json:
                for problem in exc.problems:
                    typer.echo(str(problem))
            continue
        results.append(
            {
                "file": str(file),
                "ok": True,
                "process": definition.process,
                "version": definition.version,
                "stages": len(definition.stages),
                "transitions": len(definition.transitions),
            }
        )
        if not as_json:
            typer.echo(f"{file}: ok ({_summary(definition)})")
    if as_json:
        print_json(results)
    failed = sum(1 for r in results if not r["ok"])
    if failed:
        noun = "definition" if len(results) == 1 else "definitions"
        fail(f"{failed} of {len(results)} {noun} failed validation")


@app.command(rich_help_panel=AUTHORING)
@handled
def schema(output: Output = None) -> None:
    """Print the JSON Schema of the definition language (for editors and CI)."""
    write_or_print(json.dumps(json_schema(), indent=2) + "\n", output)


@app.command(rich_help_panel=AUTHORING)
@handled
def graph(
    target: Annotated[
        str,
        typer.Argument(
            metavar="FILE_OR_PROCESS",
            help="A definition file, a shipped process by name (inbound-lead), or (with --db) "
            "the id of a deployed process.",
        ),
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help="mermaid (stateDiagram-v2), dot (Graphviz DOT), svg or png (drawn by Graphviz).",
        ),
    ] = "mermaid",
    output: Output = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="URL",
            help="Overlay the live leads in this database: count and median time per stage.",
        ),
    ] = None,
    version: Annotated[
        int | None,
        typer.Option(
            "--definition-version",
            min=1,
            help="With --db: only leads of this version (and draw it, for a process id).",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="DATE",
            help="With --db: time in stage as of this moment (YYYY-MM-DD\\[THH:MM], UTC; "
            "default now, or the last change when the data is over a day old).",
        ),
    ] = None,
) -> None:
    """Draw a process: stages with SLAs and exit criteria, transitions with guards, live heat."""
    from leadflow.cli._graph import draw
    from leadflow.cli._report_options import parse_time

    draw(target, fmt, output, db, version, parse_time(as_of, "--as-of"))


@app.command(rich_help_panel=RUNNING)
@handled
def demo(
    leads: Annotated[int, typer.Option("--leads", "-n", min=1, help="How many leads arrive.")] = 40,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulation.")] = 1,
    db: Annotated[
        str | None,
        typer.Option("--db", metavar="URL", help="Use this database (default: a temporary one)."),
    ] = None,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve", help="Then serve the web app on the demo's database (prints URL, token)."
        ),
    ] = False,
    host: Annotated[str, typer.Option("--host", help="With --serve: interface.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="With --serve: port.")
    ] = 8080,
) -> None:
    """Simulate a stream of inbound leads on simulated time and show the pipeline.

    With --serve, open it in the web app."""
    from leadflow.cli._demo import run_demo, serve_demo

    if serve:
        serve_demo(console(), leads=leads, seed=seed, db=db, host=host, port=port)
    else:
        run_demo(console(), leads=leads, seed=seed, db=db)


# -- scripting ---------------------------------------------------------------------------------


@app.command(rich_help_panel=RUNNING)
@handled
def deploy(
    file: Annotated[
        Path, typer.Argument(help="A definition file, or a shipped process by name (inbound-lead).")
    ],
    db: Db,
    as_json: AsJson = False,
) -> None:
    """Deploy a definition version (idempotent; a changed version needs a new number)."""
    definition = load_definition(file)
    with open_engine(db, may_create=True) as engine:
        known = definition.version in engine.processes().get(definition.process, [])
        engine.deploy(definition)
    if as_json:
        print_json({"process": definition.process, "version": definition.version, "new": not known})
    else:
        state = "already deployed (same content)" if known else "deployed"
        typer.echo(f"{definition.process} v{definition.version}: {state}")


def _done(instance: Instance, what: str, as_json: bool) -> None:
    if as_json:
        print_json(instance_json(instance))
    else:
        typer.echo(f"{instance.lead_id}: {what}")


@app.command(rich_help_panel=RUNNING)
@handled
def start(
    process: Process,
    lead_id: LeadId,
    db: Db,
    data: Data = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Who owns the lead.")] = None,
    actor: Actor = None,
    role: Role = None,
    team: Team = None,
    as_json: AsJson = False,
) -> None:
    """Start a lead in the latest deployed version of a process."""
    payload = parse_data(data)
    with open_engine(db) as engine:
        instance = engine.start(
            process, lead_id, payload, owner=owner, actor=acting(actor, role, team)
        )
    _done(
        instance,
        f"started in {process} v{instance.definition_version}, stage {instance.stage}",
        as_json,
    )


@app.command(rich_help_panel=RUNNING)
@handled
def fire(
    process: Process,
    lead_id: LeadId,
    trigger: Annotated[str, typer.Argument(metavar="TRIGGER", help="The trigger, e.g. qualify.")],
    db: Db,
    data: Data = None,
    actor: Actor = None,
    role: Role = None,
    team: Team = None,
    as_json: AsJson = False,
) -> None:
    """Fire a trigger; --data is merged into the lead's data if the transition passes."""
    payload = parse_data(data)
    with open_engine(db) as engine:
        before = engine.get(process, lead_id).stage
        instance = engine.fire(process, lead_id, trigger, payload, actor=acting(actor, role, team))
    closed = f" (closed {instance.closed})" if instance.closed else ""
    _done(instance, f"{trigger}: {before} -> {instance.stage}{closed}", as_json)


@app.command(rich_help_panel=RUNNING)
@handled
def record(
    process: Process,
    lead_id: LeadId,
    activity_type: Annotated[
        str, typer.Argument(metavar="TYPE", help="call, email, meeting or a playbook item id.")
    ],
    db: Db,
    data: Data = None,
    actor: Actor = None,
    role: Role = None,
    team: Team = None,
    as_json: AsJson = False,
) -> None:
    """Record an activity (a call, an email, a meeting, ...)."""
    payload = parse_data(data)
    with open_engine(db) as engine:
        instance = engine.record(
            process, lead_id, activity_type, payload, actor=acting(actor, role, team)
        )
    _done(instance, f"recorded {activity_type} (stage {instance.stage})", as_json)


@app.command(rich_help_panel=RUNNING)
@handled
def update(
    process: Process,
    lead_id: LeadId,
    data: Annotated[
        str,
        typer.Option("--data", "-d", metavar="JSON", help="Fields to change (null unsets)."),
    ],
    db: Db,
    actor: Actor = None,
    role: Role = None,
    team: Team = None,
    as_json: AsJson = False,
) -> None:
    """Change lead data; null unsets a field."""
    payload = parse_data(data) or {}
    with open_engine(db) as engine:
        before = engine.get(process, lead_id)
        instance = engine.update(process, lead_id, payload, actor=acting(actor, role, team))
    changed = sorted(
        k
        for k in set(before.data) | set(instance.data)
        if before.data.get(k) != instance.data.get(k)
    )
    _done(instance, f"updated {', '.join(changed)}" if changed else "nothing changed", as_json)


@app.command(rich_help_panel=RUNNING)
@handled
def assign(
    process: Process,
    lead_id: LeadId,
    owner: Annotated[str, typer.Argument(metavar="OWNER", help="The new owner ('-' unassigns).")],
    db: Db,
    actor: Actor = None,
    role: Role = None,
    team: Team = None,
    as_json: AsJson = False,
) -> None:
    """Give a lead to an owner."""
    new_owner = None if owner == "-" else owner
    with open_engine(db) as engine:
        before = engine.get(process, lead_id).owner
        instance = engine.assign(process, lead_id, new_owner, actor=acting(actor, role, team))
    what = "unassigned" if new_owner is None else f"assigned to {new_owner}"
    _done(instance, what if before != new_owner else f"already {what}", as_json)


@app.command(rich_help_panel=RUNNING)
@handled
def show(process: Process, lead_id: LeadId, db: Db, as_json: AsJson = False) -> None:
    """Show a lead: stage, owner, data, versions and times."""
    with open_engine(db) as engine:
        instance = engine.get(process, lead_id)
    if as_json:
        print_json(instance_json(instance))
    else:
        print_instance(console(), instance)


@app.command(rich_help_panel=RUNNING)
@handled
def history(process: Process, lead_id: LeadId, db: Db, as_json: AsJson = False) -> None:
    """Show every change of a lead, oldest first."""
    with open_engine(db) as engine:
        entries = engine.history(process, lead_id)
    if as_json:
        print_json(history_json(entries))
    else:
        console().print(history_table(process, lead_id, entries))


@app.command("next", rich_help_panel=RUNNING)
@handled
def next_(process: Process, lead_id: LeadId, db: Db, as_json: AsJson = False) -> None:
    """Show the stage's playbook and every way out, with each criterion met or not."""
    with open_engine(db) as engine:
        steps = engine.next_steps(process, lead_id)
    if as_json:
        print_json(next_json(steps))
    else:
        print_next(console(), steps)


# -- database schema ---------------------------------------------------------------------------


@db_app.command("upgrade")
@handled
def db_upgrade(db: Db) -> None:
    """Create or migrate the leadflow tables to the newest revision."""
    from leadflow.engine.store import upgrade

    revision = upgrade(db)
    typer.echo(f"database upgraded: at revision {revision}")


@db_app.command("current")
@handled
def db_current(db: Db) -> None:
    """Show the schema revision the database is at."""
    from leadflow.engine.store import current

    revision = current(db)
    typer.echo(revision if revision else "no leadflow tables (run: leadflow db upgrade)")


@handled
def serve_inbound_command(
    db: Db,
    config: ServeConfig = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8080,
) -> None:
    """The same as `leadflow serve`, kept for scripts written before it.

    The whole service, including the inbound CRM webhooks (POST /hooks/<source>)."""
    start_service(db, config, host, port, workers=1, inbound=True)


app.command(rich_help_panel=AUTHORING)(lint)
app.command(rich_help_panel=AUTHORING)(diff)
app.command("simulate", rich_help_panel=AUTHORING)(simulate_command)
app.command(rich_help_panel=AUTHORING)(route)
app.command(rich_help_panel=RUNNING)(migrate)
app.add_typer(canary_app, name="canary", rich_help_panel=RUNNING)
app.add_typer(journeys_app, name="journeys", rich_help_panel=RUNNING)
app.command(rich_help_panel=OPERATING)(worker)
app.command(rich_help_panel=OPERATING)(serve)
app.command("serve-inbound", rich_help_panel=OPERATING)(serve_inbound_command)
app.add_typer(db_app, name="db", rich_help_panel=OPERATING)
app.add_typer(outbox_app, name="outbox", rich_help_panel=OPERATING)
app.add_typer(away_app, name="away", rich_help_panel=OPERATING)
app.add_typer(accounts_app, name="accounts", rich_help_panel=OPERATING)
app.add_typer(token_app, name="token", rich_help_panel=OPERATING)
app.command(rich_help_panel=OPERATING)(doctor)
app.add_typer(schedules_app, name="schedules", rich_help_panel=OPERATING)
app.add_typer(report_app, name="report", rich_help_panel=REPORTING)
report_app.command("sla")(sla)
report_app.command("queue")(queue)
report_app.command("handoffs")(handoffs)


def main() -> None:
    """Run the ``leadflow`` command line."""
    app(prog_name="leadflow")


if __name__ == "__main__":
    main()
