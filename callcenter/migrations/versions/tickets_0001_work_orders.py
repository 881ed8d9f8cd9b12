"""tickets: work orders, deadlines, links, append-only history, callbacks, number counters

Revision ID: tickets_0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "tickets_0001"
down_revision = None
branch_labels = ("tickets",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def _id() -> sa.Column[int]:
    return sa.Column("id", ID, primary_key=True, autoincrement=True)


def _order_fk() -> sa.Column[int]:
    return sa.Column("order_id", ID, sa.ForeignKey("work_orders.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "work_orders",
        _id(),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("category", sa.String(24), nullable=False),
        sa.Column("subcategory", sa.String(24), nullable=True),
        sa.Column("major", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("caller_number", sa.String(32), nullable=True),
        sa.Column("caller_name", sa.String(64), nullable=True),
        sa.Column("summary", sa.String(500), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("department", sa.String(64), nullable=True),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.Column("policy", sa.String(48), nullable=False),
        sa.Column("accepted_at", TS, nullable=False),
        sa.Column("first_contacted_at", TS, nullable=True),
        sa.Column("replied_at", TS, nullable=True),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("number", name="uq_work_orders_number"),
    )
    op.create_index(
        "ix_work_orders_open", "work_orders", ["accepted_at"],
        sqlite_where=sa.text("closed_at IS NULL"), postgresql_where=sa.text("closed_at IS NULL"),
    )
    op.create_index("ix_work_orders_closed_at", "work_orders", ["closed_at"])
    op.create_index("ix_work_orders_caller_accepted", "work_orders", ["caller_number", "accepted_at"])

    op.create_table(
        "work_order_deadlines",
        _id(),
        _order_fk(),
        sa.Column("name", sa.String(24), nullable=False),
        sa.Column("title", sa.String(32), nullable=False),
        sa.Column("limit_text", sa.String(32), nullable=False),
        sa.Column("clock", sa.String(16), nullable=False),
        sa.Column("anchor", sa.String(16), nullable=False),
        sa.Column("due_at", TS, nullable=True),
        sa.Column("met_at", TS, nullable=True),
        sa.Column("escalated_at", TS, nullable=True),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.UniqueConstraint("order_id", "name", name="uq_work_order_deadlines_order_name"),
    )
    op.create_index(
        "ix_work_order_deadlines_open_due", "work_order_deadlines", ["due_at", "order_id"],
        sqlite_where=sa.text("met_at IS NULL"), postgresql_where=sa.text("met_at IS NULL"),
    )
    op.create_index("ix_work_order_deadlines_due_at", "work_order_deadlines", ["due_at"])

    op.create_table(
        "work_order_links",
        _id(),
        _order_fk(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(128), nullable=False),
        sa.Column("linked_at", TS, nullable=False),
        sa.UniqueConstraint("order_id", "kind", "ref", name="uq_work_order_links_order_kind_ref"),
    )
    op.create_index("ix_work_order_links_kind_ref", "work_order_links", ["kind", "ref"])

    op.create_table(
        "work_order_history",
        _id(),
        _order_fk(),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
    )
    op.create_index("ix_work_order_history_order_id", "work_order_history", ["order_id"])
    _history_is_append_only()

    op.create_table(
        "work_order_callbacks",
        _id(),
        _order_fk(),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("due_at", TS, nullable=True),
        sa.Column("done_at", TS, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(64), nullable=True),
        sa.Column("satisfaction", sa.String(16), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.UniqueConstraint("order_id", "level", name="uq_work_order_callbacks_order_level"),
    )
    op.create_index("ix_work_order_callbacks_created_at", "work_order_callbacks", ["created_at"])

    op.create_table(
        "work_order_counters",
        sa.Column("day", sa.String(8), primary_key=True),
        sa.Column("last", sa.Integer(), nullable=False),
    )


def _history_is_append_only() -> None:
    """The database itself refuses UPDATE and DELETE of history rows (only deleting a whole order cascades)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER work_order_history_no_update BEFORE UPDATE ON work_order_history "
            "BEGIN SELECT RAISE(ABORT, 'work_order_history is append-only'); END"
        )
        return
    op.execute(
        "CREATE FUNCTION work_order_history_append_only() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'work_order_history is append-only'; END $$ LANGUAGE plpgsql"
    )
    op.execute(
        "CREATE TRIGGER work_order_history_no_update BEFORE UPDATE ON work_order_history "
        "FOR EACH ROW EXECUTE FUNCTION work_order_history_append_only()"
    )


def downgrade() -> None:
    for table in ("work_order_counters", "work_order_callbacks", "work_order_history", "work_order_links",
                  "work_order_deadlines", "work_orders"):
        op.drop_table(table)
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS work_order_history_append_only()")
