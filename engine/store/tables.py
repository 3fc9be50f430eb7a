"""The engine's tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` create them.

JSON documents are stored as text on every backend: the hot path writes them with one
``json.dumps`` and no dialect-specific adaptation. Times are timezone-aware UTC.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "APPEND_ONLY",
    "SCHEMA_REVISION",
    "account_lists",
    "accounts",
    "activities",
    "away",
    "batch_items",
    "batch_runs",
    "board_views",
    "canaries",
    "definitions",
    "deliveries",
    "history",
    "idempotency",
    "instances",
    "journeys",
    "metadata",
    "migration_runs",
    "outbox",
    "owed_turns",
    "routes",
    "schedule_runs",
    "team_state",
    "timers",
    "tokens",
    "workers",
]

SCHEMA_REVISION = "0007_routing_state"
"""The Alembic head this code expects; a test checks it matches ``migrations/versions``."""

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_When = sa.DateTime(timezone=True)

definitions = sa.Table(
    "lf_definitions",
    metadata,
    sa.Column("process", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False, comment="sha256 of the canonical JSON"),
    sa.Column("body", sa.Text, nullable=False, comment="the definition as canonical JSON"),
    sa.Column("deployed_at", _When, nullable=False),
)

instances = sa.Table(
    "lf_instances",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("process", sa.String(64), nullable=False),
    sa.Column("lead_id", sa.String(255), nullable=False),
    sa.Column("definition_version", sa.Integer, nullable=False),
    sa.Column("stage", sa.String(64), nullable=False),
    sa.Column("owner", sa.String(255)),
    sa.Column("data", sa.Text, nullable=False, comment="lead data as JSON"),
    sa.Column("closed", sa.String(8), comment="won, lost or NULL while open"),
    sa.Column("version", sa.Integer, nullable=False, comment="+1 on every change"),
    sa.Column("created_at", _When, nullable=False),
    sa.Column("updated_at", _When, nullable=False),
    sa.Column("stage_entered_at", _When, nullable=False),
    sa.Column(
        "stage_seq", sa.Integer, nullable=False, comment="the version that entered the stage"
    ),
    sa.Column("sla", sa.Text, comment="JSON: the state of each SLA clock of the lead"),
    sa.UniqueConstraint("process", "lead_id"),
    sa.Index(None, "process", "stage"),
    sa.Index(None, "owner", "closed"),
)

history = sa.Table(
    "lf_history",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("instance_id", _Id, sa.ForeignKey("lf_instances.id"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False, comment="the instance version this change made"),
    sa.Column("at", _When, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("trigger", sa.String(64)),
    sa.Column("from_stage", sa.String(64)),
    sa.Column("to_stage", sa.String(64)),
    sa.Column("actor", sa.String(255)),
    sa.Column("details", sa.Text, nullable=False, comment="JSON: changes, criteria, activity"),
    sa.UniqueConstraint("instance_id", "seq"),
)

APPEND_ONLY = {
    "sqlite": (
        "CREATE TRIGGER lf_history_no_update BEFORE UPDATE ON lf_history "
        "BEGIN SELECT RAISE(ABORT, 'lf_history is append-only'); END",
        "CREATE TRIGGER lf_history_no_delete BEFORE DELETE ON lf_history "
        "BEGIN SELECT RAISE(ABORT, 'lf_history is append-only'); END",
    ),
    "postgresql": (
        "CREATE FUNCTION lf_history_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'lf_history is append-only'; END $$",
        "CREATE TRIGGER lf_history_append_only BEFORE UPDATE OR DELETE ON lf_history "
        "FOR EACH ROW EXECUTE FUNCTION lf_history_append_only()",
    ),
}
"""History is append-only, and the database says so: UPDATE and DELETE on it are refused."""

for _dialect, _statements in APPEND_ONLY.items():
    for _statement in _statements:
        _ddl = sa.DDL(_statement)  # type: ignore[no-untyped-call]
        sa.event.listen(history, "after_create", _ddl.execute_if(dialect=_dialect))

activities = sa.Table(
    "lf_activities",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("instance_id", _Id, sa.ForeignKey("lf_instances.id"), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("at", _When, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False, comment="the instance version it produced"),
    sa.Column("stage", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(255)),
    sa.Column("data", sa.Text, comment="JSON"),
    sa.Index(None, "instance_id", "type", "at"),
)

outbox = sa.Table(
    "lf_outbox",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),
    sa.Column(
        "instance_id",
        _Id,
        sa.ForeignKey("lf_instances.id"),
        comment="the lead; NULL for process events (SLA digests)",
    ),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("at", _When, nullable=False),
    sa.Column("payload", sa.Text, nullable=False, comment="the CloudEvents 1.0 JSON envelope"),
    sa.Column(
        "dispatched",
        sa.Boolean,
        nullable=False,
        server_default=sa.false(),
        comment="fanned out into lf_deliveries (one row per subscribed adapter)",
    ),
    # no (instance_id, seq) index: the only reader (the dispatcher's "an earlier event of this
    # lead is not fanned out yet" check) looks among the few undispatched rows, and every index
    # here is paid by every change
    sa.Index(None, "dispatched", "id"),
)

deliveries = sa.Table(
    "lf_deliveries",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("outbox_id", _Id, sa.ForeignKey("lf_outbox.id"), nullable=False),
    sa.Column("adapter", sa.String(64), nullable=False),
    sa.Column("instance_id", _Id, comment="NULL for process events"),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("status", sa.String(12), nullable=False, comment="pending, delivered or dead"),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", _When, nullable=False),
    sa.Column("leased_until", _When, comment="claimed by a dispatcher until then"),
    sa.Column("lease_owner", sa.String(32), comment="the dispatcher holding the lease"),
    sa.Column("last_status", sa.Integer, comment="HTTP status of the last attempt"),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", _When, nullable=False),
    sa.Column("delivered_at", _When),
    sa.UniqueConstraint("outbox_id", "adapter"),
    sa.Index(None, "adapter", "status", "next_attempt_at"),
    sa.Index(None, "instance_id", "adapter", "status", "seq"),
)
"""Delivery state of each outbox event for each adapter that subscribes to it."""

timers = sa.Table(
    "lf_timers",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("instance_id", _Id, sa.ForeignKey("lf_instances.id"), nullable=False),
    sa.Column("policy", sa.String(64), nullable=False, comment="the SLA policy id"),
    sa.Column("step", sa.Integer, nullable=False, comment="index of the policy's next mark"),
    sa.Column("due_at", _When, nullable=False),
    sa.UniqueConstraint("instance_id", "policy"),
    sa.Index(None, "due_at"),
)
"""Durable timers: the next due mark (warning, breach, escalation, task) of each running SLA
clock. Written and deleted in the transaction of the change that starts or ends the clock."""

team_state = sa.Table(
    "lf_team_state",
    metadata,
    sa.Column("process", sa.String(64), primary_key=True),
    sa.Column("team", sa.String(64), primary_key=True),
    sa.Column("pointer", sa.Integer, nullable=False, comment="round-robin position"),
)

owed_turns = sa.Table(
    "lf_owed_turns",
    metadata,
    sa.Column("process", sa.String(64), primary_key=True),
    sa.Column("team", sa.String(64), primary_key=True),
    sa.Column("member", sa.String(255), primary_key=True),
    sa.Column("owed", sa.Integer, nullable=False, comment="turns the rotation owes"),
)
"""Fair catch-up (``catch_up: true``): turns a team's rotation owes each member it skipped
while out of office or at capacity; written under the team's ``lf_team_state`` row lock."""

accounts = sa.Table(
    "lf_accounts",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("list", sa.String(64), nullable=False, comment="the account list's name"),
    sa.Column("account", sa.String(255), nullable=False, comment="the CRM's account id"),
    sa.Column("name", sa.String(255)),
    sa.Column("name_key", sa.String(255), comment="the name normalised for matching"),
    sa.Column("domain", sa.String(255)),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("imported_at", _When, nullable=False),
    sa.UniqueConstraint("list", "account"),
    sa.Index(None, "list", "domain"),
    sa.Index(None, "list", "name_key"),
)
"""Accounts imported from the CRM (``leadflow accounts import``) that ``match_account`` matches
leads against, by email domain or normalised company name, in named lists."""

account_lists = sa.Table(
    "lf_account_lists",
    metadata,
    sa.Column("list", sa.String(64), primary_key=True),
    sa.Column("revision", sa.Integer, nullable=False, comment="one more at every import"),
    sa.Column("imported_at", _When, nullable=False),
)
"""One row per account list: its revision tells routing when to read the list's names again."""

routes = sa.Table(
    "lf_routes",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("process", sa.String(64), nullable=False),
    sa.Column("team", sa.String(64), nullable=False),
    sa.Column("instance_id", _Id, nullable=False),
    sa.Column("owner", sa.String(255)),
    sa.Column("at", _When, nullable=False),
    sa.Index(None, "process", "at", "team", "instance_id"),
)
"""Every routing decision (team, owner), for share caps and reports."""

away = sa.Table(
    "lf_away",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("member", sa.String(255), nullable=False),
    sa.Column("starts_at", _When, nullable=False),
    sa.Column("ends_at", _When, nullable=False),
    sa.Column("note", sa.String(255)),
    sa.Index(None, "member"),
)
"""Out-of-office periods: routing skips a member while one covers the moment."""

schedule_runs = sa.Table(
    "lf_schedule_runs",
    metadata,
    sa.Column("process", sa.String(64), primary_key=True),
    sa.Column("schedule", sa.String(64), primary_key=True),
    sa.Column("last_due_at", _When, nullable=False, comment="the last fire time that ran"),
)

workers = sa.Table(
    "lf_workers",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", _When, nullable=False),
    sa.Column("heartbeat_at", _When, nullable=False),
)
"""Running workers and their heartbeats (SQLite allows one at a time)."""

# -- live migration and canary starts (engine/migration/) -----------------------------------

migration_runs = sa.Table(
    "lf_migrations",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("process", sa.String(64), nullable=False),
    sa.Column("from_version", sa.Integer, comment="the version migrated from; NULL: every other"),
    sa.Column("to_version", sa.Integer, nullable=False),
    sa.Column("mapping", sa.Text, nullable=False, comment="JSON: old stage -> new stage"),
    sa.Column("sla_policy", sa.String(16), nullable=False, comment="keep, restart or recompute"),
    sa.Column("status", sa.String(12), nullable=False, comment="running or done"),
    sa.Column("counts", sa.Text, nullable=False, comment="JSON: leads per outcome so far"),
    sa.Column(
        "last_instance_id",
        _Id,
        nullable=False,
        comment="every lead up to this instance id has been processed",
    ),
    sa.Column("batch", sa.Integer, nullable=False),
    sa.Column("actor", sa.String(255)),
    sa.Column("started_at", _When, nullable=False),
    sa.Column("updated_at", _When, nullable=False),
    sa.Column("finished_at", _When),
    sa.Index(None, "process", "status"),
)
"""Live migration runs: their parameters and progress, advanced in each batch's transaction."""

canaries = sa.Table(
    "lf_canaries",
    metadata,
    sa.Column("process", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("share", sa.Float, nullable=False, comment="of new leads, in (0, 1]"),
    sa.Column("set_at", _When, nullable=False),
)
"""Canary starts: a deterministic share of new leads of a process starts on ``version``."""

# -- the HTTP service: API tokens and idempotency keys (engine/store/_tokens.py, _idempotency.py) --

tokens = sa.Table(
    "lf_tokens",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("team", sa.String(64), comment="the team a manager or rep token acts for"),
    sa.Column("owner", sa.String(255), comment="the owner id a rep token acts as"),
    sa.Column(
        "prefix",
        sa.String(16),
        nullable=False,
        unique=True,
        comment="the public id inside the token, for lookup",
    ),
    sa.Column("hash", sa.String(64), nullable=False, comment="sha256 of the secret, hex"),
    sa.Column("created_at", _When, nullable=False),
    sa.Column("revoked_at", _When),
    sa.Column("last_used_at", _When, comment="updated at most once a minute"),
)
"""API tokens of the HTTP service. The token itself is never stored, only its secret's hash."""

idempotency = sa.Table(
    "lf_idempotency",
    metadata,
    sa.Column("scope", sa.String(255), primary_key=True, comment="whose key: token and route"),
    sa.Column("key", sa.String(255), primary_key=True, comment="the Idempotency-Key header"),
    sa.Column("request_hash", sa.String(64), nullable=False, comment="sha256 of the first request"),
    sa.Column("status", sa.Integer, nullable=False, comment="HTTP status of the first answer"),
    sa.Column("body", sa.Text, nullable=False, comment="the first answer's body"),
    sa.Column("created_at", _When, nullable=False),
    sa.Index(None, "created_at"),
)
"""The first answer to each write that carried an Idempotency-Key: a retry (after a crash, or
on another replica) gets the same answer back instead of doing the write twice."""

# -- journeys: which process a new lead starts in (engine/_journeys.py) ------------------------

journeys = sa.Table(
    "lf_journeys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False, comment="always 1"),
    sa.Column("body", sa.Text, nullable=False, comment="the journey rules as JSON"),
    sa.Column("set_at", _When, nullable=False),
)
"""The one current journeys document (``Engine.set_journeys``): a single row, id 1."""

# -- the web app: saved board views and batch actions (engine/store/_saved_views.py, _batch_runs.py)

board_views = sa.Table(
    "lf_board_views",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("process", sa.String(64), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("owner", sa.String(64), comment="the token name whose view it is; NULL: shared"),
    sa.Column("created_by", sa.String(64), nullable=False, comment="the token name"),
    sa.Column("query", sa.Text, nullable=False, comment="the board's filters as a query string"),
    sa.Column("created_at", _When, nullable=False),
    sa.Index(None, "process", "owner"),
)
"""Named board filters, a person's own or shared with everyone who may see the board."""

batch_runs = sa.Table(
    "lf_batch_runs",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("process", sa.String(64), nullable=False),
    sa.Column("action", sa.String(16), nullable=False, comment="fire or assign"),
    sa.Column("argument", sa.String(255), comment="the trigger, or the new owner (NULL: none)"),
    sa.Column("filter", sa.Text, nullable=False, comment="the board filter it ran on"),
    sa.Column("actor", sa.Text, nullable=False, comment="JSON: id, role, team of the actor"),
    sa.Column("created_by", sa.String(64), nullable=False, comment="the token name"),
    sa.Column("created_at", _When, nullable=False),
    sa.Column("finished_at", _When),
    sa.Column("lease_owner", sa.String(64), comment="the server process working on it"),
    sa.Column("lease_until", _When, comment="until when that process holds it"),
)
"""One action on every lead a board filter matched, run lead by lead in the background."""

batch_items = sa.Table(
    "lf_batch_items",
    metadata,
    sa.Column("run_id", _Id, sa.ForeignKey("lf_batch_runs.id"), primary_key=True),
    sa.Column("lead_id", sa.String(255), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False, comment="pending, succeeded or failed"),
    sa.Column("message", sa.Text, comment="why it failed"),
    sa.Index(None, "run_id", "status"),
)
"""The leads of a batch run and how each went."""
