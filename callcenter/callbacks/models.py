"""Tables of the callbacks the system dials: campaigns, tasks, attempts and the do-not-call list.

A task is due when ``status`` is ``due`` and ``next_at`` has come. Claiming it (queue.py) sets ``status`` to
``dialing`` and ``next_at`` to the end of its lease, so one partial index over the pending tasks answers both
"due" and "lease expired" with the same condition (``status IN ('due', 'dialing') AND next_at <= now``).
Times are UTC (the tickets' :class:`UTCDateTime`); calling hours are local to the centre (``service.timezone``).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store import Base
from callcenter.tickets.models import ID, UTCDateTime

KINDS = ("closing", "complaint", "missed", "unresolved", "periodic", "questionnaire")
MODES = ("preview", "progressive", "survey")
SCALES = ("3", "5")
STATUSES = ("due", "dialing", "done", "unreached", "skipped", "cancelled")
PENDING = ("due", "dialing")
PENDING_SQL = "status IN ('due', 'dialing')"


class CallbackCampaign(Base):
    __tablename__ = "callback_campaigns"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16))
    agent_group: Mapped[str] = mapped_column(String(64))
    script: Mapped[str] = mapped_column(String(64))
    first_day: Mapped[date | None] = mapped_column(Date)
    last_day: Mapped[date | None] = mapped_column(Date)
    # Local calling windows, "09:00-12:00,14:00-20:00" (R-103 「不打扰客户」), on working days unless rest_days.
    hours: Mapped[str] = mapped_column(String(128))
    rest_days: Mapped[bool] = mapped_column(Boolean, default=False)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    # The growing wait after each unreached attempt, "30m,2h,next": minutes, hours, or the next working day.
    retry: Mapped[str] = mapped_column(String(64))
    scale: Mapped[str] = mapped_column(String(1), default="3")
    # The matter the R-105 opening names (「想针对我们公司…的满意程度做个简单的回访」).
    subject: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CallbackTask(Base):
    __tablename__ = "callback_tasks"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("callback_campaigns.id"))
    # The order called back about; SET NULL when the order is deleted, its number stays (the task is refused).
    order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id", ondelete="SET NULL"))
    order_number: Mapped[str | None] = mapped_column(String(32))
    level: Mapped[int | None] = mapped_column(Integer)  # the work_order_callbacks row (R-94 L1/L2/L3)
    number: Mapped[str] = mapped_column(String(32))
    customer_name: Mapped[str | None] = mapped_column(String(64))
    agent_group: Mapped[str] = mapped_column(String(64))  # the campaign's, copied: the queue reads one table
    # R-101 「应转受理人员…回访」: only this agent may take it until preferred_until, then anyone of the group.
    preferred_agent: Mapped[str | None] = mapped_column(String(64))
    preferred_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="due")
    next_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_by: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the deadline (R-101: 2 working days)
    booked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a time the customer asked for
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    calls: Mapped[int] = mapped_column(Integer, default=1)  # calls folded into this task (missed: per day)
    lease_holder: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[str | None] = mapped_column(String(16))
    satisfaction: Mapped[str | None] = mapped_column(String(16))
    agent: Mapped[str | None] = mapped_column(String(64))
    notes: Mapped[str] = mapped_column(Text, default="")
    call_id: Mapped[str | None] = mapped_column(String(128))  # the call that caused it, then the last attempt's
    skip_reason: Mapped[str | None] = mapped_column(String(32))
    dedup_key: Mapped[str] = mapped_column(String(160), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # The queue (due_for_agent, claim): pending tasks of a group, and of every group, in the queue's order
        # (next_at, id), so a LIMIT reads a few entries; finished tasks never enter them (bench/dialer.py).
        Index("ix_callback_tasks_pending", "agent_group", "next_at", "id", sqlite_where=text(PENDING_SQL),
              postgresql_where=text(PENDING_SQL)),
        Index("ix_callback_tasks_pending_next", "next_at", "id", sqlite_where=text(PENDING_SQL),
              postgresql_where=text(PENDING_SQL)),
        Index("ix_callback_tasks_order", "order_id"),
        Index("ix_callback_tasks_created_at", "created_at"),
    )


class CallbackAttempt(Base):
    """One dialled attempt. Written when the task is claimed (a crash leaves it open, never lost)."""

    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("callback_tasks.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[str | None] = mapped_column(String(16))
    call_id: Mapped[str | None] = mapped_column(String(128))
    agent: Mapped[str | None] = mapped_column(String(64))
    holder: Mapped[str] = mapped_column(String(64))
    notes: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index("ix_callback_attempts_task", "task_id"),
        Index("ix_callback_attempts_started_at", "started_at"),
    )


class DoNotCall(Base):
    """Numbers the centre never dials (a customer who asked not to be called, R-103 「不打扰客户」)."""

    __tablename__ = "callback_do_not_call"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)

