"""pbx: the seat kind of an account, a desk phone or the browser panel (issue 15)

Revision ID: pbx_0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "pbx_0001"
down_revision = None
branch_labels = ("pbx",)
depends_on = "web_0001"  # the column belongs to web_users


def upgrade() -> None:
    # Every existing seat stays what it was: a desk phone.
    with op.batch_alter_table("web_users") as batch:
        batch.add_column(sa.Column("seat", sa.String(8), nullable=False, server_default="desk"))


def downgrade() -> None:
    with op.batch_alter_table("web_users") as batch:
        batch.drop_column("seat")
