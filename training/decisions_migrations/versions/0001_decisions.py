"""decision audit trail: decision_batches + decisions

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "decision_batches",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(64)),
        sa.Column("tenant", sa.String(40), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("snapshot_id", sa.String(80)),
        sa.Column("as_of", sa.String(10)),
        sa.Column("decision_day", sa.String(10), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("guarded", sa.Integer, nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("batch_id", Id, sa.ForeignKey("decision_batches.id"), nullable=False),
        sa.Column("customer_id", sa.String(64)),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("probability", sa.Float),
        sa.Column("grade", sa.String(16)),
        sa.Column("action", sa.Text),
        sa.Column("original_action", sa.Text),
        sa.Column("guardrail", sa.String(64)),
        sa.Column("reason_1", sa.Text),
        sa.Column("reason_2", sa.Text),
        sa.Column("reason_3", sa.Text),
    )
    op.create_index("ix_decisions_customer", "decisions", ["customer_id", "batch_id"])


def downgrade() -> None:
    op.drop_index("ix_decisions_customer", table_name="decisions")
    op.drop_table("decisions")
    op.drop_table("decision_batches")
