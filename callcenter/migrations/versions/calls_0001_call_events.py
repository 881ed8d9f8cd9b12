"""calls: the call timeline (append-only call events)

Revision ID: calls_0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "calls_0001"
down_revision = None
branch_labels = ("calls",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(48), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offset", sa.Float(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.UniqueConstraint("call_id", "seq", name="uq_call_events_call_seq"),
    )
    op.create_index("ix_call_events_call_id", "call_events", ["call_id"])
    op.create_index("ix_call_events_at", "call_events", ["at"])
    op.create_index("ix_call_events_type_at", "call_events", ["type", "at"])


def downgrade() -> None:
    op.drop_table("call_events")
