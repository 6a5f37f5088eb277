"""large batches committed as payload chunks, exploded into decisions by the indexer

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # plain ADD COLUMN (SQLite and PostgreSQL alike): existing batches are fully exploded, pending false
    op.add_column("decision_batches", sa.Column("pending", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_index("ix_batches_pending", "decision_batches", ["pending"])
    op.create_table(
        "decision_payloads",
        sa.Column("batch_id", Id, sa.ForeignKey("decision_batches.id"), nullable=False),
        sa.Column("chunk", sa.Integer, nullable=False),
        sa.Column("rows", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "chunk"),
    )


def downgrade() -> None:
    op.drop_table("decision_payloads")
    op.drop_index("ix_batches_pending", table_name="decision_batches")
    with op.batch_alter_table("decision_batches") as batch:  # SQLite drops columns by rebuilding the table
        batch.drop_column("pending")
