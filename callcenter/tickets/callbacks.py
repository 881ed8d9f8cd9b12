"""Callbacks after closing (R-94, R-96, R-101).

Closing (处结) starts the closing-anchored clocks and the callbacks: level 1 (the customer specialist) always,
levels 2 and 3 (manager, director) as a random spot check that never lets a day's achieved rate fall below its
floor. A reached level-1 callback meets the callback deadline and moves the order to ``called_back``; an
unreached attempt is logged and the callback stays due.
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.tickets.clocks import engine_for, meet
from callcenter.tickets.deadlines import SlaEngine
from callcenter.tickets.errors import InvalidTransitionError
from callcenter.tickets.models import WorkOrder, WorkOrderCallback
from callcenter.tickets.rows import append_history, flush_view, load_for_change, touch
from callcenter.tickets.views import SYSTEM, OrderView, Viewer

# L1 customer specialist 100 %, L2 manager at least 10 %, L3 director at least 5 %.
CALLBACK_LEVELS = (1, 2, 3)
CALLBACK_FLOOR = {1: 1.0, 2: 0.10, 3: 0.05}


def close_order(session: Session, order: WorkOrder, settings: Settings, at: datetime, rng: random.Random) -> None:
    order.closed_at = at
    order.first_contacted_at = order.first_contacted_at or at
    order.replied_at = order.replied_at or at
    meet(order, at, "first_contact", "reply", "close")
    engine = engine_for(order, settings)
    fresh = {d.name: d for d in engine.deadlines(order.category, order.major, order.accepted_at, closed_at=at)}
    for row in order.deadlines:
        if row.anchor == "closed" and row.due_at is None and row.name in fresh:
            row.due_at, row.provisional = fresh[row.name].due_at, fresh[row.name].provisional
    callback_due = fresh["callback"].due_at if "callback" in fresh else None
    order.callbacks.append(WorkOrderCallback(level=1, created_at=at, due_at=callback_due, attempts=0, notes=""))
    session.flush()  # the sampler counts this order among the day's closed ones
    day = at.astimezone(engine.tz).date()
    for level in (2, 3):
        rate = _sampling_rate(settings, level)
        if _sample(session, level, rate, engine, day, rng):
            order.callbacks.append(WorkOrderCallback(level=level, created_at=at, due_at=None, attempts=0, notes=""))


def _sampling_rate(settings: Settings, level: int) -> float:
    percent = getattr(settings.tickets, f"callback_l{level}_percent", CALLBACK_FLOOR[level] * 100)
    return max(float(percent) / 100.0, CALLBACK_FLOOR[level])


def _sample(session: Session, level: int, rate: float, engine: SlaEngine, day: date, rng: random.Random) -> bool:
    """R-94 random spot check with a floor: pick at random with probability ``rate``, but never let the day's
    achieved rate drop below it (the first order of a day is always picked, then whenever the quota lags)."""
    start = datetime.combine(day, time(0), tzinfo=engine.tz)
    end = start + timedelta(days=1)
    closed_today = select(WorkOrder.id).where(WorkOrder.closed_at >= start, WorkOrder.closed_at < end)
    closed = session.scalar(select(func.count()).select_from(closed_today.subquery())) or 0
    picked = session.scalar(
        select(func.count()).where(WorkOrderCallback.level == level, WorkOrderCallback.order_id.in_(closed_today))
    ) or 0
    if picked < math.ceil(rate * closed - 1e-9):
        return True
    return rng.random() < rate


def record_callback(
    session: Session,
    number: str,
    level: int,
    *,
    actor: str,
    at: datetime,
    reached: bool,
    satisfaction: str | None = None,
    notes: str = "",
    viewer: Viewer = SYSTEM,
    expected_version: int | None = None,
) -> OrderView:
    """A callback at one level. Unreached: the attempt is logged and it stays due (R-96). A reached level-1
    callback meets the callback deadline (R-101) and moves the order to called_back."""
    order = load_for_change(session, number, viewer, expected_version, at)
    task = next((c for c in order.callbacks if c.level == level), None)
    if task is None:
        raise InvalidTransitionError(f"{number}: no level-{level} callback is due (closing makes L1; L2/L3 sampled)")
    if task.done_at is not None:
        raise InvalidTransitionError(f"{number}: the level-{level} callback was already done")
    task.agent = actor
    task.notes = notes
    if not reached:
        task.attempts += 1
        touch(order, at)
        append_history(session, order, at, actor, "callback_attempt", {"level": level, "attempts": task.attempts})
        return flush_view(session, order)
    task.done_at = at
    task.satisfaction = satisfaction
    if level == 1:
        meet(order, at, "callback")
        if order.status == "closed":
            order.status = "called_back"
    touch(order, at)
    append_history(session, order, at, actor, "callback", {"level": level, "satisfaction": satisfaction})
    return flush_view(session, order)
