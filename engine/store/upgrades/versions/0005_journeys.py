"""Journeys: the rules that pick the process a new lead starts in.

Revision ID: 0005_journeys
Revises: 0004_tokens_idempotency
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_journeys"
down_revision = "0004_tokens_idempotency"
branch_labels = None
depends_on = None

_When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lf_journeys",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False, comment="always 1"),
        sa.Column("body", sa.Text, nullable=False, comment="the journey rules as JSON"),
        sa.Column("set_at", _When, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lf_journeys"),
    )


def downgrade() -> None:
    op.drop_table("lf_journeys")
