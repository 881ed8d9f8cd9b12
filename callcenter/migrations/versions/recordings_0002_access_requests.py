"""recordings: access requests and their decisions (R-111, R-112, R-114)

Revision ID: recordings_0002
Revises: recordings_0001
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "recordings_0002"
down_revision = "recordings_0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recording_access_requests",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("requester", sa.String(64), nullable=False),
        sa.Column("requester_role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("recording_ids", sa.JSON(), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("subject_kind", sa.String(16), nullable=True),
        sa.Column("subject_name", sa.String(64), nullable=True),
        sa.Column("subject_contact", sa.String(32), nullable=True),
        sa.Column("subject_verification", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("valid_until", TS, nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_recording_access_requests"),
    )
    op.create_index("ix_recording_access_requests_requester", "recording_access_requests", ["requester"])
    op.create_index("ix_recording_access_requests_status", "recording_access_requests", ["status"])


def downgrade() -> None:
    op.drop_table("recording_access_requests")
