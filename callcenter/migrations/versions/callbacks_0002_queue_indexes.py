"""callbacks: the queue's indexes read due tasks in due order (per group, and across groups)

The first index (agent_group, next_at) made a picker of two groups read every pending task of both and sort them
(bench/dialer.py: 50,000 due tasks). With ``id`` in the key a group's due tasks come out in the queue's order
(next_at, id) and a LIMIT stops after a few entries; the second index serves claims across every group.

Revision ID: callbacks_0002
Revises: callbacks_0001
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "callbacks_0002"
down_revision = "callbacks_0001"
branch_labels = None
depends_on = None

PENDING = "status IN ('due', 'dialing')"


def upgrade() -> None:
    op.drop_index("ix_callback_tasks_pending", table_name="callback_tasks")
    op.create_index("ix_callback_tasks_pending", "callback_tasks", ["agent_group", "next_at", "id"],
                    sqlite_where=sa.text(PENDING), postgresql_where=sa.text(PENDING))
    op.create_index("ix_callback_tasks_pending_next", "callback_tasks", ["next_at", "id"],
                    sqlite_where=sa.text(PENDING), postgresql_where=sa.text(PENDING))


def downgrade() -> None:
    op.drop_index("ix_callback_tasks_pending_next", table_name="callback_tasks")
    op.drop_index("ix_callback_tasks_pending", table_name="callback_tasks")
    op.create_index("ix_callback_tasks_pending", "callback_tasks", ["agent_group", "next_at"],
                    sqlite_where=sa.text(PENDING), postgresql_where=sa.text(PENDING))
