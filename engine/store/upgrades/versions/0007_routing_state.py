"""Routing state: catch-up turns owed to members, and accounts imported for lead matching.

Revision ID: 0007_routing_state
Revises: 0006_board_views_batches
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_routing_state"
down_revision = "0006_board_views_batches"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "lf_owed_turns",
        sa.Column("process", sa.String(64), nullable=False),
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("member", sa.String(255), nullable=False),
        sa.Column("owed", sa.Integer, nullable=False, comment="turns the rotation owes"),
        sa.PrimaryKeyConstraint("process", "team", "member", name="pk_lf_owed_turns"),
    )
    op.create_table(
        "lf_accounts",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("list", sa.String(64), nullable=False, comment="the account list's name"),
        sa.Column("account", sa.String(255), nullable=False, comment="the CRM's account id"),
        sa.Column("name", sa.String(255)),
        sa.Column("name_key", sa.String(255), comment="the name normalised for matching"),
        sa.Column("domain", sa.String(255)),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lf_accounts"),
        sa.UniqueConstraint("list", "account", name="uq_lf_accounts_list_account"),
    )
    op.create_table(
        "lf_account_lists",
        sa.Column("list", sa.String(64), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False, comment="one more at every import"),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("list", name="pk_lf_account_lists"),
    )
    op.create_index("ix_lf_accounts_list_domain", "lf_accounts", ["list", "domain"])
    op.create_index("ix_lf_accounts_list_name_key", "lf_accounts", ["list", "name_key"])


def downgrade() -> None:
    op.drop_table("lf_account_lists")
    op.drop_table("lf_accounts")
    op.drop_table("lf_owed_turns")
