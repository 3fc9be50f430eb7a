"""Live migration runs and canary starts.

Revision ID: 0003_migrations_canary
Revises: 0002_sla_routing_delivery
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_migrations_canary"
down_revision = "0002_sla_routing_delivery"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lf_migrations",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("process", sa.String(64), nullable=False),
        sa.Column(
            "from_version", sa.Integer, comment="the version migrated from; NULL: every other"
        ),
        sa.Column("to_version", sa.Integer, nullable=False),
        sa.Column("mapping", sa.Text, nullable=False, comment="JSON: old stage -> new stage"),
        sa.Column(
            "sla_policy", sa.String(16), nullable=False, comment="keep, restart or recompute"
        ),
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
        sa.PrimaryKeyConstraint("id", name="pk_lf_migrations"),
    )
    op.create_index("ix_lf_migrations_process_status", "lf_migrations", ["process", "status"])
    op.create_table(
        "lf_canaries",
        sa.Column("process", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("share", sa.Float, nullable=False, comment="of new leads, in (0, 1]"),
        sa.Column("set_at", _When, nullable=False),
        sa.PrimaryKeyConstraint("process", name="pk_lf_canaries"),
    )


def downgrade() -> None:
    op.drop_table("lf_canaries")
    op.drop_index("ix_lf_migrations_process_status", "lf_migrations")
    op.drop_table("lf_migrations")
