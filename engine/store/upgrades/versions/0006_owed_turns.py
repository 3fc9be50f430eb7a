"""Fair catch-up: the turns a rotation owes members it skipped while away or at capacity.

Revision ID: 0006_owed_turns
Revises: 0005_journeys
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_owed_turns"
down_revision = "0005_journeys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lf_owed_turns",
        sa.Column("process", sa.String(64), nullable=False),
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("member", sa.String(255), nullable=False),
        sa.Column("owed", sa.Integer, nullable=False, comment="turns the rotation owes"),
        sa.PrimaryKeyConstraint("process", "team", "member", name="pk_lf_owed_turns"),
    )


def downgrade() -> None:
    op.drop_table("lf_owed_turns")
