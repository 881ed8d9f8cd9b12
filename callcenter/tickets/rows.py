"""One order's rows, read and written the way every function of the service does it.

* Read through the confidentiality filter (R-82, R-144): for a :class:`Viewer` without the permission a
  confidential order looks exactly like an absent one.
* Written under a version: every change bumps it, and a writer that read an older version gets
  :class:`StaleOrderError` (optimistic concurrency: no lost update between processes); the session is rolled
  back before it raises.
* Every change appends one history row (who, when, what) in the same transaction; history is never updated.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from callcenter.tickets.deadlines import require_aware
from callcenter.tickets.errors import StaleOrderError, UnknownOrderError
from callcenter.tickets.models import WorkOrder, WorkOrderHistory
from callcenter.tickets.views import OrderView, Viewer, view_of

_Query = TypeVar("_Query", bound="Select[*tuple[Any, ...]]")


def visible(stmt: _Query, viewer: Viewer) -> _Query:
    """R-82: the confidentiality filter every query of this module goes through."""
    if viewer.can_see_confidential:
        return stmt
    return stmt.where(WorkOrder.confidential.is_(False))


def eager_loads() -> tuple[Any, ...]:
    return (selectinload(WorkOrder.deadlines), selectinload(WorkOrder.links), selectinload(WorkOrder.callbacks))


def load_order(session: Session, number: str, viewer: Viewer) -> WorkOrder:
    stmt = visible(select(WorkOrder), viewer).where(WorkOrder.number == number).options(*eager_loads())
    order: WorkOrder | None = session.scalars(stmt).one_or_none()
    if order is None:
        raise UnknownOrderError(f"work order {number!r} does not exist")
    return order


def load_for_change(
    session: Session, number: str, viewer: Viewer, expected_version: int | None, at: datetime
) -> WorkOrder:
    require_aware(at, "at")
    order = load_order(session, number, viewer)
    if expected_version is not None and order.version != expected_version:
        raise StaleOrderError(
            f"work order {number} is at version {order.version}, not {expected_version}: someone changed it; re-read"
        )
    return order


def flush_view(session: Session, order: WorkOrder) -> OrderView:
    number = order.number
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise StaleOrderError(f"work order {number} was changed by someone else meanwhile; re-read and retry") from None
    return view_of(order)


def touch(order: WorkOrder, at: datetime) -> None:
    """Bump the version by hand (``version_id_generator=False``): the row's UPDATE then always carries
    ``WHERE version = <read version>``, even when only child rows (deadlines, callbacks) change."""
    order.version = order.version + 1
    order.updated_at = max(at, order.updated_at)


def append_history(session: Session, order: WorkOrder, at: datetime, actor: str, action: str,
                   changes: dict[str, Any]) -> None:
    session.add(WorkOrderHistory(order_id=order.id, at=at, actor=actor, action=action, changes=changes))
