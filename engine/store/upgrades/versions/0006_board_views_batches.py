"""The web app's saved board views and batch actions.

Revision ID: 0006_board_views_batches
Revises: 0005_journeys
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_board_views_batches"
down_revision = "0005_journeys"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lf_board_views",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("process", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(64), comment="the token name whose view it is; NULL: shared"),
        sa.Column("created_by", sa.String(64), nullable=False, comment="the token name"),
        sa.Column(
            "query", sa.Text, nullable=False, comment="the board's filters as a query string"
        ),
        sa.Column("created_at", _When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lf_board_views"),
    )
    op.create_index("ix_lf_board_views_process_owner", "lf_board_views", ["process", "owner"])
    op.create_table(
        "lf_batch_runs",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("process", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False, comment="fire or assign"),
        sa.Column(
            "argument", sa.String(255), comment="the trigger, or the new owner (NULL: none)"
        ),
        sa.Column("filter", sa.Text, nullable=False, comment="the board filter it ran on"),
        sa.Column("actor", sa.Text, nullable=False, comment="JSON: id, role, team of the actor"),
        sa.Column("created_by", sa.String(64), nullable=False, comment="the token name"),
        sa.Column("created_at", _When, nullable=False),
        sa.Column("finished_at", _When),
        sa.Column("lease_owner", sa.String(64), comment="the server process working on it"),
        sa.Column("lease_until", _When, comment="until when that process holds it"),
        sa.PrimaryKeyConstraint("id", name="pk_lf_batch_runs"),
    )
    op.create_table(
        "lf_batch_items",
        sa.Column("run_id", _Id, nullable=False),
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.Column(
            "status", sa.String(16), nullable=False, comment="pending, succeeded or failed"
        ),
        sa.Column("message", sa.Text, comment="why it failed"),
        sa.PrimaryKeyConstraint("run_id", "lead_id", name="pk_lf_batch_items"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["lf_batch_runs.id"], name="fk_lf_batch_items_run_id_lf_batch_runs"
        ),
    )
    op.create_index("ix_lf_batch_items_run_id_status", "lf_batch_items", ["run_id", "status"])


def downgrade() -> None:
    op.drop_table("lf_batch_items")
    op.drop_table("lf_batch_runs")
    op.drop_table("lf_board_views")
