"""web: password age, forced change, lock-out and password history (R-120)

Revision ID: web_0002
Revises: web_0001
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "web_0002"
down_revision = "web_0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("web_users") as batch:
        batch.add_column(sa.Column("password_changed_at", TS, nullable=True))
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("failed_since", TS, nullable=True))
        batch.add_column(sa.Column("locked_at", TS, nullable=True))
    # Existing accounts: their password dates from the account's creation (the age counts from there).
    op.execute("UPDATE web_users SET password_changed_at = created_at")
    op.create_table(
        "web_password_history",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("replaced_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["web_users.id"], name="fk_web_password_history_user_id_web_users",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_web_password_history_user_id", "web_password_history", ["user_id"])


def downgrade() -> None:
    op.drop_table("web_password_history")
    with op.batch_alter_table("web_users") as batch:
        for column in ("locked_at", "failed_since", "failed_logins", "must_change_password", "password_changed_at"):
            batch.drop_column(column)
