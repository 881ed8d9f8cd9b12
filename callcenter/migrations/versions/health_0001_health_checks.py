"""health: the daily self-check's register, one row per centre day (R-119)

Revision ID: health_0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "health_0001"
down_revision = None
branch_labels = ("health",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "health_checks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("summary", sa.String(500), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.UniqueConstraint("day", name="uq_health_checks_day"),
    )


def downgrade() -> None:
    op.drop_table("health_checks")
