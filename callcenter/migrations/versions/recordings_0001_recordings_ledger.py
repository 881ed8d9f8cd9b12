"""recordings: metadata rows, work-order links, purge tombstones, hash-chained access ledger

Revision ID: recordings_0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "recordings_0001"
down_revision = None
branch_labels = ("recordings",)
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
# The ledger chain starts from this hash (64 zeros); it is also the head's hash while the ledger is empty.
GENESIS = "0" * 64


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("agent", sa.String(64), nullable=True),
        sa.Column("caller", sa.String(32), nullable=True),
        sa.Column("disposition", sa.String(32), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("path", sa.String(255), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("original_bytes", sa.BigInteger(), nullable=True),
        sa.Column("browser_path", sa.String(255), nullable=True),
        sa.Column("browser_format", sa.String(8), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("analysis", sa.JSON(), nullable=True),
        sa.Column("silence_ratio", sa.Float(), nullable=True),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.Column("retain_until", TS, nullable=True),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("hold_reason", sa.Text(), nullable=True),
        sa.Column("hold_by", sa.String(64), nullable=True),
        sa.Column("hold_at", TS, nullable=True),
        sa.Column("purge_claim", sa.String(36), nullable=True),
        sa.Column("purge_claimed_at", TS, nullable=True),
        sa.Column("purged_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recordings"),
        sa.UniqueConstraint("call_id", name="uq_recordings_call_id"),
    )
    for column in ("agent", "disposition", "started_at", "status"):
        op.create_index(f"ix_recordings_{column}", "recordings", [column])
    op.create_index("ix_recordings_due", "recordings", ["legal_hold", "retain_until"])

    op.create_table(
        "recording_work_orders",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("recording_id", BigId, nullable=False),
        sa.Column("order_number", sa.String(32), nullable=False),
        sa.Column("linked_at", TS, nullable=False),
        sa.Column("linked_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recording_work_orders"),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name="fk_recording_work_orders_recording_id_recordings",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("recording_id", "order_number", name="uq_recording_work_orders_pair"),
    )
    op.create_index("ix_recording_work_orders_recording_id", "recording_work_orders", ["recording_id"])
    op.create_index("ix_recording_work_orders_order_number", "recording_work_orders", ["order_number"])

    op.create_table(
        "recording_tombstones",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("recording_id", BigId, nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("path", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("purged_by", sa.String(64), nullable=False),
        sa.Column("purged_at", TS, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recording_tombstones"),
        sa.ForeignKeyConstraint(
            ["recording_id"], ["recordings.id"], name="fk_recording_tombstones_recording_id_recordings"
        ),
        sa.UniqueConstraint("recording_id", name="uq_recording_tombstones_recording_id"),
    )

    op.create_table(
        "recording_access_ledger",
        sa.Column("seq", BigId, primary_key=True, autoincrement=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("recording_id", sa.BigInteger(), nullable=True),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_recording_access_ledger"),
    )
    op.create_index("ix_recording_access_ledger_recording_id", "recording_access_ledger", ["recording_id"])

    head = op.create_table(
        "recording_ledger_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recording_ledger_head"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])


def downgrade() -> None:
    op.drop_table("recording_ledger_head")
    op.drop_table("recording_access_ledger")
    op.drop_table("recording_tombstones")
    op.drop_table("recording_work_orders")
    op.drop_table("recordings")
