"""An order's clocks: its deadline rows, made by the SLA engine of the policy it was accepted under, met by
the events that answer them (first contact R-78, reply and close R-79, the level-1 callback R-101), and
re-counted when the order is re-classified (R-71)."""

from __future__ import annotations

from datetime import datetime

from callcenter.config import Settings
from callcenter.tickets.deadlines import Deadline, SlaEngine
from callcenter.tickets.models import WorkOrder, WorkOrderDeadline
from callcenter.tickets.policies import policy as lookup_policy


def engine_for(order: WorkOrder, settings: Settings) -> SlaEngine:
    engine = SlaEngine.from_settings(settings)
    engine.policy = lookup_policy(order.policy)  # an order keeps the policy it was accepted under
    return engine


def deadline_row(d: Deadline) -> WorkOrderDeadline:
    return WorkOrderDeadline(
        name=d.name, title=d.title, limit_text=d.limit, clock=d.clock, anchor=d.anchor, due_at=d.due_at,
        provisional=d.provisional, source=d.source[:64],
    )


def meet(order: WorkOrder, at: datetime, *names: str) -> None:
    for row in order.deadlines:
        if row.name in names and row.met_at is None and row.due_at is not None:
            row.met_at = at


def recount(order: WorkOrder, settings: Settings) -> None:
    """Re-count the clocks not met yet after a re-classification; met ones keep their record."""
    engine = engine_for(order, settings)
    fresh = {d.name: d for d in engine.deadlines(order.category, order.major, order.accepted_at, order.closed_at)}
    for row in list(order.deadlines):
        if row.met_at is not None:
            continue
        if row.name not in fresh:
            order.deadlines.remove(row)
            continue
        d = fresh.pop(row.name)
        row.title, row.limit_text, row.clock, row.anchor = d.title, d.limit, d.clock, d.anchor
        row.due_at, row.provisional, row.source, row.escalated_at = d.due_at, d.provisional, d.source, None
    have = {row.name for row in order.deadlines}
    order.deadlines.extend(deadline_row(d) for name, d in fresh.items() if name not in have)
