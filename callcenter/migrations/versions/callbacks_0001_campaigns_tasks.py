"""callbacks: campaigns, callback tasks and their attempts, the do-not-call list (R-94..R-106)

Revision ID: callbacks_0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "callbacks_0001"
down_revision = None
branch_labels = ("callbacks",)
depends_on = "tickets_0001"  # tasks reference work_orders

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
PENDING = "status IN ('due', 'dialing')"


def upgrade() -> None:
    op.create_table(
        "callback_campaigns",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("agent_group", sa.String(64), nullable=False),
        sa.Column("script", sa.String(64), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=True),
        sa.Column("last_day", sa.Date(), nullable=True),
        sa.Column("hours", sa.String(128), nullable=False),
        sa.Column("rest_days", sa.Boolean(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("retry", sa.String(64), nullable=False),
        sa.Column("scale", sa.String(1), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("name", name="uq_callback_campaigns_name"),
    )
    op.create_table(
        "callback_tasks",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("campaign_id", ID, sa.ForeignKey("callback_campaigns.id"), nullable=False),
        sa.Column("order_id", ID, sa.ForeignKey("work_orders.id", ondelete="SET NULL"), nullable=True),
        sa.Column("order_number", sa.String(32), nullable=True),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("customer_name", sa.String(64), nullable=True),
        sa.Column("agent_group", sa.String(64), nullable=False),
        sa.Column("preferred_agent", sa.String(64), nullable=True),
        sa.Column("preferred_until", TS, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("next_at", TS, nullable=False),
        sa.Column("due_by", TS, nullable=True),
        sa.Column("booked_at", TS, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("lease_holder", sa.String(64), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("result", sa.String(16), nullable=True),
        sa.Column("satisfaction", sa.String(16), nullable=True),
        sa.Column("agent", sa.String(64), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("call_id", sa.String(128), nullable=True),
        sa.Column("skip_reason", sa.String(32), nullable=True),
        sa.Column("dedup_key", sa.String(160), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.UniqueConstraint("dedup_key", name="uq_callback_tasks_dedup_key"),
    )
    op.create_index("ix_callback_tasks_pending", "callback_tasks", ["agent_group", "next_at"],
                    sqlite_where=sa.text(PENDING), postgresql_where=sa.text(PENDING))
    op.create_index("ix_callback_tasks_order", "callback_tasks", ["order_id"])
    op.create_index("ix_callback_tasks_created_at", "callback_tasks", ["created_at"])
    op.create_table(
        "callback_attempts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("task_id", ID, sa.ForeignKey("callback_tasks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("result", sa.String(16), nullable=True),
        sa.Column("call_id", sa.String(128), nullable=True),
        sa.Column("agent", sa.String(64), nullable=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
    )
    op.create_index("ix_callback_attempts_task", "callback_attempts", ["task_id"])
    op.create_index("ix_callback_attempts_started_at", "callback_attempts", ["started_at"])
    op.create_table(
        "callback_do_not_call",
        sa.Column("number", sa.String(32), primary_key=True),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.Column("added_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("callback_do_not_call", "callback_attempts", "callback_tasks", "callback_campaigns"):
        op.drop_table(table)
