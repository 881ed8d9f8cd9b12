"""seats: agent seats, their states and reservations with leases (issue 17), group seat order (R-02)

Revision ID: seats_0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "seats_0001"
down_revision = None
branch_labels = ("seats",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agent_seats",
        sa.Column("agent_id", sa.String(64), primary_key=True),
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("work_number", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("locales", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("state_since", TS, nullable=False),
        sa.Column("idle_since", TS, nullable=False),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.Column("holder", sa.String(64), nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("agent_id", name="pk_agent_seats"),
    )
    op.create_index("ix_agent_seats_state", "agent_seats", ["state"])
    op.create_index("ix_agent_seats_expires_at", "agent_seats", ["expires_at"])
    op.create_table(
        "agent_seat_groups",
        sa.Column("group_name", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("group_name", "agent_id", name="pk_agent_seat_groups"),
        sa.ForeignKeyConstraint(["agent_id"], ["agent_seats.agent_id"], ondelete="CASCADE",
                                name="fk_agent_seat_groups_agent_id_agent_seats"),
    )
    op.create_index("ix_agent_seat_groups_position", "agent_seat_groups", ["group_name", "position"])


def downgrade() -> None:
    op.drop_table("agent_seat_groups")
    op.drop_table("agent_seats")
