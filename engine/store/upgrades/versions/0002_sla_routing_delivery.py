"""SLA clocks and durable timers, routing state, worker registry, outbox delivery state.

Revision ID: 0002_sla_routing_delivery
Revises: 0001_initial
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_sla_routing_delivery"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_When = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("lf_instances") as batch:
        batch.add_column(
            sa.Column("sla", sa.Text, comment="JSON: the state of each SLA clock of the lead")
        )
    # routing counts each rep's open leads
    op.create_index("ix_lf_instances_owner_closed", "lf_instances", ["owner", "closed"])
    with op.batch_alter_table("lf_outbox") as batch:
        batch.alter_column(
            "instance_id",
            existing_type=_Id,
            nullable=True,
            comment="the lead; NULL for process events (SLA digests)",
        )
        batch.add_column(
            sa.Column(
                "dispatched",
                sa.Boolean,
                nullable=False,
                server_default=sa.false(),
                comment="fanned out into lf_deliveries (one row per subscribed adapter)",
            )
        )
    op.create_index("ix_lf_outbox_dispatched_id", "lf_outbox", ["dispatched", "id"])
    # every change pays for each outbox index; the dispatcher finds a lead's undispatched events
    # through (dispatched, id)
    op.drop_index("ix_lf_outbox_instance_id_seq", "lf_outbox")
    op.create_table(
        "lf_deliveries",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("outbox_id", _Id, nullable=False),
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
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["lf_outbox.id"], name="fk_lf_deliveries_outbox_id_lf_outbox"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_lf_deliveries"),
        sa.UniqueConstraint("outbox_id", "adapter", name="uq_lf_deliveries_outbox_id_adapter"),
    )
    op.create_index(
        "ix_lf_deliveries_adapter_status_next_attempt_at",
        "lf_deliveries",
        ["adapter", "status", "next_attempt_at"],
    )
    op.create_index(
        "ix_lf_deliveries_instance_id_adapter_status_seq",
        "lf_deliveries",
        ["instance_id", "adapter", "status", "seq"],
    )
    op.create_table(
        "lf_timers",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("instance_id", _Id, nullable=False),
        sa.Column("policy", sa.String(64), nullable=False, comment="the SLA policy id"),
        sa.Column("step", sa.Integer, nullable=False, comment="index of the policy's next mark"),
        sa.Column("due_at", _When, nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["lf_instances.id"], name="fk_lf_timers_instance_id_lf_instances"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_lf_timers"),
        sa.UniqueConstraint("instance_id", "policy", name="uq_lf_timers_instance_id_policy"),
    )
    op.create_index("ix_lf_timers_due_at", "lf_timers", ["due_at"])
    op.create_table(
        "lf_team_state",
        sa.Column("process", sa.String(64), nullable=False),
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("pointer", sa.Integer, nullable=False, comment="round-robin position"),
        sa.PrimaryKeyConstraint("process", "team", name="pk_lf_team_state"),
    )
    op.create_table(
        "lf_routes",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("process", sa.String(64), nullable=False),
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("instance_id", _Id, nullable=False),
        sa.Column("owner", sa.String(255)),
        sa.Column("at", _When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lf_routes"),
    )
    op.create_index(
        "ix_lf_routes_process_at_team_instance_id",
        "lf_routes",
        ["process", "at", "team", "instance_id"],
    )
    op.create_table(
        "lf_away",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("member", sa.String(255), nullable=False),
        sa.Column("starts_at", _When, nullable=False),
        sa.Column("ends_at", _When, nullable=False),
        sa.Column("note", sa.String(255)),
        sa.PrimaryKeyConstraint("id", name="pk_lf_away"),
    )
    op.create_index("ix_lf_away_member", "lf_away", ["member"])
    op.create_table(
        "lf_schedule_runs",
        sa.Column("process", sa.String(64), nullable=False),
        sa.Column("schedule", sa.String(64), nullable=False),
        sa.Column("last_due_at", _When, nullable=False, comment="the last fire time that ran"),
        sa.PrimaryKeyConstraint("process", "schedule", name="pk_lf_schedule_runs"),
    )
    op.create_table(
        "lf_workers",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", _When, nullable=False),
        sa.Column("heartbeat_at", _When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lf_workers"),
    )


def downgrade() -> None:
    for table in (
        "lf_workers",
        "lf_schedule_runs",
        "lf_away",
        "lf_routes",
        "lf_team_state",
        "lf_timers",
        "lf_deliveries",
    ):
        op.drop_table(table)
    op.create_index("ix_lf_outbox_instance_id_seq", "lf_outbox", ["instance_id", "seq"])
    op.drop_index("ix_lf_outbox_dispatched_id", "lf_outbox")
    with op.batch_alter_table("lf_outbox") as batch:
        batch.drop_column("dispatched")
        batch.alter_column("instance_id", existing_type=_Id, nullable=False, comment=None)
    op.drop_index("ix_lf_instances_owner_closed", "lf_instances")
    with op.batch_alter_table("lf_instances") as batch:
        batch.drop_column("sla")
