"""commands: which process holds each live call, and the commands carried to it (issue 17)

Revision ID: commands_0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "commands_0001"
down_revision = None
branch_labels = ("commands",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_owners",
        sa.Column("call_id", sa.String(64), primary_key=True),
        sa.Column("process", sa.String(80), nullable=False),
        sa.Column("server", sa.String(32), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_call_owners_server_process", "call_owners", ["server", "process"])
    op.create_table(
        "call_commands",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("from_process", sa.String(80), nullable=False),
        sa.Column("to_process", sa.String(80), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_call_commands_call_id", "call_commands", ["call_id"])
    op.create_index("ix_call_commands_to_state", "call_commands", ["to_process", "state"])


def downgrade() -> None:
    op.drop_table("call_commands")
    op.drop_table("call_owners")
