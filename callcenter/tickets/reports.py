"""Figures over work orders for metrics and the wallboard: SLA outcomes, callback rates (R-94), open and
overdue counts."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.tickets.callbacks import CALLBACK_FLOOR, CALLBACK_LEVELS
from callcenter.tickets.deadlines import require_aware
from callcenter.tickets.errors import InvalidPeriodError
from callcenter.tickets.models import WorkOrder, WorkOrderCallback, WorkOrderDeadline
from callcenter.tickets.rows import visible
from callcenter.tickets.views import SYSTEM, CallbackStat, SlaOutcome, Viewer


def sla_outcomes(
    session: Session, start: datetime, end: datetime, *, now: datetime | None = None, viewer: Viewer = SYSTEM
) -> list[SlaOutcome]:
    """Every deadline falling due in [start, end) and whether it was met (metrics' SLA compliance)."""
    _check_period(start, end)
    now = now or datetime.now(UTC)
    stmt = visible(
        select(WorkOrder.number, WorkOrderDeadline.name, WorkOrderDeadline.due_at, WorkOrderDeadline.met_at)
        .join(WorkOrder, WorkOrder.id == WorkOrderDeadline.order_id),
        viewer,
    ).where(WorkOrderDeadline.due_at >= start, WorkOrderDeadline.due_at < end).order_by(
        WorkOrderDeadline.due_at, WorkOrderDeadline.id
    )
    out = []
    for number, name, due_at, met_at in session.execute(stmt):
        assert due_at is not None  # the query asked for due_at >= start
        if met_at is not None:
            met: bool | None = met_at <= due_at
        else:
            met = False if due_at < now else None
        out.append(SlaOutcome(number, name, due_at, met_at, met))
    return out


def callback_stats(session: Session, start: datetime, end: datetime) -> list[CallbackStat]:
    """Per level (R-94): orders closed in [start, end), callbacks due for them, done, sampling rate achieved."""
    _check_period(start, end)
    closed_ids = select(WorkOrder.id).where(WorkOrder.closed_at >= start, WorkOrder.closed_at < end)
    closed = session.scalar(select(func.count()).select_from(closed_ids.subquery())) or 0
    rows = session.execute(
        select(WorkOrderCallback.level, func.count(), func.count(WorkOrderCallback.done_at))
        .where(WorkOrderCallback.order_id.in_(closed_ids))
        .group_by(WorkOrderCallback.level)
    ).all()
    by_level = {level: (due, done) for level, due, done in rows}
    out = []
    for level in CALLBACK_LEVELS:
        due, done = by_level.get(level, (0, 0))
        out.append(CallbackStat(level, CALLBACK_FLOOR[level], closed, due, done, due / closed if closed else 0.0))
    return out


def count_open_and_overdue(session: Session, now: datetime) -> tuple[int, int]:
    """(orders not yet closed, orders with an unmet deadline past ``now``) for the wallboard."""
    require_aware(now, "now")
    open_count = session.scalar(select(func.count()).where(WorkOrder.closed_at.is_(None))) or 0
    overdue = session.scalar(
        select(func.count(func.distinct(WorkOrderDeadline.order_id))).where(
            WorkOrderDeadline.met_at.is_(None), WorkOrderDeadline.due_at < now
        )
    )
    return int(open_count), int(overdue or 0)


def _check_period(start: datetime, end: datetime) -> None:
    require_aware(start, "start")
    require_aware(end, "end")
    if end < start:
        raise InvalidPeriodError(f"period ends ({end.isoformat()}) before it starts ({start.isoformat()})")
