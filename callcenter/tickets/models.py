"""Tables of the work-order store (工单): orders, their deadlines, links, history and callbacks.

Every change to an order bumps ``version`` (SQLAlchemy's ``version_id_col``, bumped by service.py): an UPDATE carries
``WHERE version = <read version>``, so two writers that read the same version cannot both win — the second
gets :class:`~callcenter.tickets.errors.StaleOrderError` instead of silently overwriting the first.
History rows are append-only (no update or delete path in the API, and a database trigger refuses UPDATE).
Times are stored in UTC and come back as aware datetimes on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from callcenter.store import Base

ID = BigInteger().with_variant(Integer(), "sqlite")

# R-85 lifecycle: 受理 → 派发 → 处理中 → 待审核 → (退回重查 → 处理中) → 处结 → 已回访 → 归档.
STATUSES = ("accepted", "dispatched", "in_progress", "pending_review", "returned", "closed", "called_back", "archived")
OPEN_STATUSES = frozenset(STATUSES[:5])
TRANSITIONS: dict[str, frozenset[str]] = {
    "accepted": frozenset({"dispatched", "in_progress", "closed"}),
    "dispatched": frozenset({"in_progress", "closed"}),
    "in_progress": frozenset({"pending_review", "closed"}),
    "pending_review": frozenset({"returned", "closed"}),
    "returned": frozenset({"in_progress"}),
    "closed": frozenset({"called_back", "archived"}),
    "called_back": frozenset({"archived"}),
    "archived": frozenset(),
}
CHANNELS = ("hotline", "hall", "web", "regulator", "letter", "opinion_box", "walk_in", "forwarded")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC; SQLite has no time zones, so it stores naive UTC and we re-attach it."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to a work-order column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class WorkOrder(Base):
    __tablename__ = "work_orders"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    category: Mapped[str] = mapped_column(String(24))
    subcategory: Mapped[str | None] = mapped_column(String(24))
    major: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="accepted")
    channel: Mapped[str] = mapped_column(String(16), default="hotline")
    caller_number: Mapped[str | None] = mapped_column(String(32))
    caller_name: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(String(500))
    details: Mapped[str] = mapped_column(Text, default="")
    # the first-responsible receiver never changes; the assignee does.
    owner: Mapped[str] = mapped_column(String(64))
    department: Mapped[str | None] = mapped_column(String(64))
    assignee: Mapped[str | None] = mapped_column(String(64))
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    policy: Mapped[str] = mapped_column(String(48))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_contacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    deadlines: Mapped[list[WorkOrderDeadline]] = relationship(
        back_populates="order", order_by="WorkOrderDeadline.id", cascade="all, delete-orphan"
    )
    links: Mapped[list[WorkOrderLink]] = relationship(order_by="WorkOrderLink.id", cascade="all, delete-orphan")
    callbacks: Mapped[list[WorkOrderCallback]] = relationship(
        order_by="WorkOrderCallback.level", cascade="all, delete-orphan"
    )

    # SQLAlchemy's typing declares it an instance variable; ruff (RUF012) wants a ClassVar: it is one.
    __mapper_args__: ClassVar[dict[str, object]] = {  # type: ignore[misc]
        "version_id_col": version, "version_id_generator": False,
    }
    __table_args__ = (
        # Open orders (wallboard count, list): small partial index, closed orders never enter it.
        Index("ix_work_orders_open", "accepted_at", sqlite_where=text("closed_at IS NULL"),
              postgresql_where=text("closed_at IS NULL")),
        Index("ix_work_orders_closed_at", "closed_at"),
        # the agent panel shows a repeat caller's past orders while the phone rings.
        Index("ix_work_orders_caller_accepted", "caller_number", "accepted_at"),
    )


class WorkOrderDeadline(Base):
    __tablename__ = "work_order_deadlines"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(24))
    title: Mapped[str] = mapped_column(String(32))
    limit_text: Mapped[str] = mapped_column(String(32))
    clock: Mapped[str] = mapped_column(String(16))
    anchor: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    met_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set once by the overdue job (overdue.py): the escalation of this deadline has been recorded.
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(64), default="")

    order: Mapped[WorkOrder] = relationship(back_populates="deadlines")

    __table_args__ = (
        UniqueConstraint("order_id", "name", name="uq_work_order_deadlines_order_name"),
        # The overdue query and the escalation job read only unmet deadlines: a partial index keeps them tiny
        # however many closed orders pile up, and carrying order_id lets the overdue count read the index alone
        # (bench/tickets.py measures it).
        Index("ix_work_order_deadlines_open_due", "due_at", "order_id", sqlite_where=text("met_at IS NULL"),
              postgresql_where=text("met_at IS NULL")),
        Index("ix_work_order_deadlines_due_at", "due_at"),
    )


class WorkOrderLink(Base):
    """A call or a recording the order came from or refers to (R-70 linked recording ids, R-107)."""

    __tablename__ = "work_order_links"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # "call" | "recording"
    ref: Mapped[str] = mapped_column(String(128))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("order_id", "kind", "ref", name="uq_work_order_links_order_kind_ref"),
        Index("ix_work_order_links_kind_ref", "kind", "ref"),
    )


class WorkOrderHistory(Base):
    """Append-only: who changed what when (R-71 re-classification trail, R-85 closed loop)."""

    __tablename__ = "work_order_history"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    changes: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_work_order_history_order_id", "order_id"),)


class WorkOrderCallback(Base):
    """A callback (回访) task at one level (R-94): L1 every order, L2 and L3 sampled."""

    __tablename__ = "work_order_callbacks"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"))
    level: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # unreached attempts are logged
    agent: Mapped[str | None] = mapped_column(String(64))
    satisfaction: Mapped[str | None] = mapped_column(String(16))
    notes: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        UniqueConstraint("order_id", "level", name="uq_work_order_callbacks_order_level"),
        Index("ix_work_order_callbacks_created_at", "created_at"),
    )


class WorkOrderCounter(Base):
    """Per local day sequence for human-readable numbers (GD20261123-000042)."""

    __tablename__ = "work_order_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, nullable=False)
