"""The daily self-check's register (R-119 「每天…检查,并作好登记」): one row per centre day."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store import Base


class HealthCheckRecord(Base):
    __tablename__ = "health_checks"
    # One row per day, across processes: a second writer's insert fails on this and is dropped.
    __table_args__ = (UniqueConstraint("day", name="uq_health_checks_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(8))
    summary: Mapped[str] = mapped_column(String(500))
    components: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
