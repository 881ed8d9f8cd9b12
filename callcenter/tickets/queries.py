"""Reading work orders: one order, lists and pages, history, and what other packages ask of orders
(the orders of a call; retention's facts). Every query goes through the confidentiality filter (R-82)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from callcenter.tickets.categories import category as lookup_category
from callcenter.tickets.deadlines import require_aware
from callcenter.tickets.models import WorkOrder, WorkOrderDeadline, WorkOrderHistory, WorkOrderLink
from callcenter.tickets.policies import DEADLINE_NAMES
from callcenter.tickets.rows import eager_loads, load_order, visible
from callcenter.tickets.views import SYSTEM, HistoryEntry, OrderFacts, OrderView, Viewer, view_of


def get_order(session: Session, number: str, viewer: Viewer = SYSTEM) -> OrderView:
    return view_of(load_order(session, number, viewer))


def list_orders(
    session: Session,
    viewer: Viewer = SYSTEM,
    *,
    overdue_at: datetime | None = None,
    open_only: bool = False,
    caller: str | None = None,
    limit: int = 100,
) -> list[OrderView]:
    """Orders visible to ``viewer``: newest first; with ``overdue_at`` only those past an unmet deadline,
    the longest overdue first (the order a supervisor chases them in); with ``caller`` only that caller's
    (the panel's past orders of a repeat caller, R-11)."""
    if overdue_at is not None:
        ids = overdue_page(session, require_aware(overdue_at, "overdue_at"), viewer, limit=limit, open_only=open_only)
        rows = session.scalars(select(WorkOrder).where(WorkOrder.id.in_(ids)).options(*eager_loads())).all()
        rank = {order_id: i for i, order_id in enumerate(ids)}
        return [view_of(o) for o in sorted(rows, key=lambda o: rank[o.id])]
    stmt = visible(select(WorkOrder), viewer)
    if open_only:
        stmt = stmt.where(WorkOrder.closed_at.is_(None))
    if caller is not None:
        stmt = stmt.where(WorkOrder.caller_number == caller)
    stmt = stmt.order_by(WorkOrder.accepted_at.desc(), WorkOrder.id.desc()).limit(limit)
    return [view_of(o) for o in session.scalars(stmt.options(*eager_loads())).all()]


def overdue_page(
    session: Session, now: datetime, viewer: Viewer = SYSTEM, *, limit: int = 100, open_only: bool = False
) -> list[int]:
    """Ids of the ``limit`` visible orders whose earliest unmet deadline passed longest ago.

    Walks the partial index of unmet deadlines in due order and stops after ``limit`` orders' worth of rows
    (an order has at most one row per deadline name), so its cost does not grow with the store's history.
    """
    stmt = visible(
        select(WorkOrderDeadline.order_id).join(WorkOrder, WorkOrder.id == WorkOrderDeadline.order_id), viewer
    ).where(WorkOrderDeadline.met_at.is_(None), WorkOrderDeadline.due_at < now)
    if open_only:
        stmt = stmt.where(WorkOrder.closed_at.is_(None))
    stmt = stmt.order_by(WorkOrderDeadline.due_at, WorkOrderDeadline.order_id).limit(limit * len(DEADLINE_NAMES))
    return list(dict.fromkeys(session.scalars(stmt)))[:limit]


def overdue_order_ids(now: datetime) -> Select[int]:
    """Orders with a deadline due before ``now`` and not met: served by the partial index on open deadlines."""
    return select(WorkOrderDeadline.order_id).where(
        WorkOrderDeadline.met_at.is_(None), WorkOrderDeadline.due_at < now
    )


def order_history(session: Session, number: str, viewer: Viewer = SYSTEM) -> list[HistoryEntry]:
    order = load_order(session, number, viewer)
    rows = session.scalars(
        select(WorkOrderHistory).where(WorkOrderHistory.order_id == order.id).order_by(WorkOrderHistory.id)
    )
    return [HistoryEntry(r.at, r.actor, r.action, dict(r.changes)) for r in rows]


def order_numbers_for_calls(
    session: Session, call_ids: Iterable[str], viewer: Viewer = SYSTEM
) -> dict[str, list[str]]:
    """The orders linked to each call (for retention, the panel and QA)."""
    ids = list(dict.fromkeys(call_ids))
    if not ids:
        return {}
    stmt = visible(
        select(WorkOrderLink.ref, WorkOrder.number).join(WorkOrder, WorkOrder.id == WorkOrderLink.order_id), viewer
    ).where(WorkOrderLink.kind == "call", WorkOrderLink.ref.in_(ids)).order_by(WorkOrder.id)
    out: dict[str, list[str]] = {}
    for call_id, number in session.execute(stmt):
        out.setdefault(call_id, []).append(number)
    return out


def linked_order_facts(session: Session, numbers: Iterable[str], viewer: Viewer = SYSTEM) -> list[OrderFacts]:
    """Retention facts of the given orders (unknown numbers are skipped), in the order asked."""
    wanted = list(dict.fromkeys(numbers))
    if not wanted:
        return []
    stmt = visible(select(WorkOrder), viewer).where(WorkOrder.number.in_(wanted))
    found = {o.number: o for o in session.scalars(stmt)}
    return [
        OrderFacts(o.number, lookup_category(o.category).is_complaint, o.accepted_at, o.closed_at, o.confidential)
        for n in wanted
        if (o := found.get(n)) is not None
    ]
