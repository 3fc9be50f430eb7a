"""API tokens and idempotency keys of the HTTP service.

Revision ID: 0004_tokens_idempotency
Revises: 0003_migrations_canary
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_tokens_idempotency"
down_revision = "0003_migrations_canary"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lf_tokens",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("team", sa.String(64), comment="the team a manager or rep token acts for"),
        sa.Column("owner", sa.String(255), comment="the owner id a rep token acts as"),
        sa.Column(
            "prefix",
            sa.String(16),
            nullable=False,
            comment="the public id inside the token, for lookup",
        ),
        sa.Column("hash", sa.String(64), nullable=False, comment="sha256 of the secret, hex"),
        sa.Column("created_at", _When, nullable=False),
        sa.Column("revoked_at", _When),
        sa.Column("last_used_at", _When, comment="updated at most once a minute"),
        sa.PrimaryKeyConstraint("id", name="pk_lf_tokens"),
        sa.UniqueConstraint("name", name="uq_lf_tokens_name"),
        sa.UniqueConstraint("prefix", name="uq_lf_tokens_prefix"),
    )
    op.create_table(
        "lf_idempotency",
        sa.Column("scope", sa.String(255), nullable=False, comment="whose key: token and route"),
        sa.Column("key", sa.String(255), nullable=False, comment="the Idempotency-Key header"),
        sa.Column(
            "request_hash", sa.String(64), nullable=False, comment="sha256 of the first request"
        ),
        sa.Column("status", sa.Integer, nullable=False, comment="HTTP status of the first answer"),
        sa.Column("body", sa.Text, nullable=False, comment="the first answer's body"),
        sa.Column("created_at", _When, nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name="pk_lf_idempotency"),
    )
    op.create_index("ix_lf_idempotency_created_at", "lf_idempotency", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_lf_idempotency_created_at", "lf_idempotency")
    op.drop_table("lf_idempotency")
    op.drop_table("lf_tokens")
