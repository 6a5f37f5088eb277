"""large batches stored as one payload row, exploded into decisions by the indexer

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


def upgrade() -> None:
    # plain ADD COLUMN (SQLite and PostgreSQL alike; existing batches are exploded: pending false)
    op.add_column("decision_batches", sa.Column("payload", sa.Text))
    op.add_column("decision_batches", sa.Column("pending", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("decision_batches", sa.Column("exploded", sa.Integer, nullable=False, server_default="0"))
    op.create_index("ix_batches_pending", "decision_batches", ["pending"])


def downgrade() -> None:
    op.drop_index("ix_batches_pending", table_name="decision_batches")
    with op.batch_alter_table("decision_batches") as batch:  # SQLite drops columns by rebuilding the table
        batch.drop_column("exploded")
        batch.drop_column("pending")
        batch.drop_column("payload")
