"""The seats table: every agent seat of the centre, its state and its reservation (issue 17).

One row per agent (``agent_seats``) and one per group membership with its seat position (``agent_seat_groups``:
the group's row of seats, R-02's neighbour order). A reservation is the row's ``call_id`` with the process that
rings or carries the call (``holder``) and a lease (``expires_at``) the holder renews; a seat whose lease ran
out belongs to a process that died and is released (:mod:`callcenter.calls.seat_store`). Times are UTC.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store import Base

TS = DateTime(timezone=True)


class Seat(Base):
    __tablename__ = "agent_seats"

    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(128))
    work_number: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64), default="")
    locales: Mapped[list[str]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    state_since: Mapped[datetime] = mapped_column(TS)
    idle_since: Mapped[datetime] = mapped_column(TS)
    call_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    holder: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)

    __table_args__ = (Index("ix_agent_seats_state", "state"), Index("ix_agent_seats_expires_at", "expires_at"))


class SeatGroup(Base):
    __tablename__ = "agent_seat_groups"

    group_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("agent_seats.agent_id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_agent_seat_groups_position", "group_name", "position"),)
