"""Initial schema: definitions, instances, history, activities, outbox.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_When = sa.DateTime(timezone=True)
_APPEND_ONLY = {
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


def upgrade() -> None:
    op.create_table(
        "lf_definitions",
        sa.Column("process", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False, comment="sha256 of the canonical JSON"),
        sa.Column("body", sa.Text, nullable=False, comment="the definition as canonical JSON"),
        sa.Column("deployed_at", _When, nullable=False),
        sa.PrimaryKeyConstraint("process", "version", name="pk_lf_definitions"),
    )
    op.create_table(
        "lf_instances",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_lf_instances"),
        sa.UniqueConstraint("process", "lead_id", name="uq_lf_instances_process_lead_id"),
    )
    op.create_index("ix_lf_instances_process_stage", "lf_instances", ["process", "stage"])
    op.create_table(
        "lf_history",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("instance_id", _Id, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False, comment="the instance version this change made"),
        sa.Column("at", _When, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("trigger", sa.String(64)),
        sa.Column("from_stage", sa.String(64)),
        sa.Column("to_stage", sa.String(64)),
        sa.Column("actor", sa.String(255)),
        sa.Column("details", sa.Text, nullable=False, comment="JSON: changes, criteria, activity"),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["lf_instances.id"], name="fk_lf_history_instance_id_lf_instances"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_lf_history"),
        sa.UniqueConstraint("instance_id", "seq", name="uq_lf_history_instance_id_seq"),
    )
    # history is append-only: the database refuses UPDATE and DELETE on it
    for statement in _APPEND_ONLY.get(op.get_bind().dialect.name, ()):
        op.execute(statement)
    op.create_table(
        "lf_activities",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("instance_id", _Id, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("at", _When, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False, comment="the instance version it produced"),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(255)),
        sa.Column("data", sa.Text, comment="JSON"),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["lf_instances.id"], name="fk_lf_activities_instance_id_lf_instances"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_lf_activities"),
    )
    op.create_index(
        "ix_lf_activities_instance_id_type_at", "lf_activities", ["instance_id", "type", "at"]
    )
    op.create_table(
        "lf_outbox",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("instance_id", _Id, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("at", _When, nullable=False),
        sa.Column("payload", sa.Text, nullable=False, comment="the CloudEvents 1.0 JSON envelope"),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["lf_instances.id"], name="fk_lf_outbox_instance_id_lf_instances"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_lf_outbox"),
        sa.UniqueConstraint("event_id", name="uq_lf_outbox_event_id"),
    )
    op.create_index("ix_lf_outbox_instance_id_seq", "lf_outbox", ["instance_id", "seq"])


def downgrade() -> None:
    op.drop_table("lf_outbox")
    op.drop_table("lf_activities")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS lf_history_append_only ON lf_history")
        op.execute("DROP FUNCTION IF EXISTS lf_history_append_only()")
    op.drop_table("lf_history")
    op.drop_table("lf_instances")
    op.drop_table("lf_definitions")
