"""Work orders as the pages use them, through the tickets service (callcenter.tickets.service) only.

The agent panel opens an order from the live call (R-36: complaints become work orders with their deadlines,
R-78/R-79) and shows the caller's past orders and surname (R-11: recognise repeat callers); the wallboard
counts open and overdue orders. Confidential orders stay hidden from viewers without the grant (R-82): the
service filters every query by the :class:`Viewer` built from the signed-in user.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from callcenter.calls import events as ev
from callcenter.config import Settings
from callcenter.store import session_scope
from callcenter.tickets import service
from callcenter.tickets.categories import CATEGORIES
from callcenter.web.errors import BadRequest
from callcenter.web.users import User

# How many of a repeat caller's latest orders the panel shows.
PAST_ORDERS_SHOWN = 5
CATEGORY_CHOICES = tuple((c.code, c.name) for c in CATEGORIES.values())


def viewer_of(user: User) -> service.Viewer:
    return service.Viewer(user.name, user.role, confidential_access=user.confidential_access)


def past_orders(settings: Settings, user: User, caller: str, now: datetime) -> list[dict[str, Any]]:
    """The caller's most recent orders visible to ``user`` (newest first)."""
    if not caller:
        return []
    with session_scope(settings.database.url) as s:
        mine = service.list_orders(s, viewer_of(user), caller=caller, limit=PAST_ORDERS_SHOWN)
    return [o.as_json(settings.service.tz, now) for o in mine]


def known_address(orders: list[dict[str, Any]], honorifics: tuple[str, ...]) -> dict[str, str]:
    """Surname and honorific from the caller's latest named order (R-11: greet a repeat caller by name),
    or {} when no order names the caller. ``王先生`` → 王 + 先生; a bare name keeps only its surname."""
    for order in orders:
        name = str(order.get("caller_name") or "").strip()
        if not name:
            continue
        honorific = next((h for h in honorifics if name.endswith(h) and len(name) > len(h)), "")
        return {"surname": name[0], "honorific": honorific, "source": order["number"]}
    return {}


def _flag(value: object) -> bool:
    return value in (True, "true", "on", "1", 1)


def open_from_call(
    settings: Settings, user: User, call_id: str, caller: str, form: dict[str, Any], now: datetime,
    caller_name: str = "",
) -> dict[str, Any]:
    """Create the order for ``call_id`` from the panel's form; returns it with its deadlines."""
    category = str(form.get("category", "")).strip()
    if category not in CATEGORIES:
        raise BadRequest(f"category: expected one of {', '.join(CATEGORIES)}")
    summary = str(form.get("summary", "")).strip()
    if not summary:
        raise BadRequest("summary: describe the caller's request (摘要不能为空)")
    with session_scope(settings.database.url) as s:
        order = service.create_order_for_call(
            s, settings, call_id, category=category, summary=summary, accepted_at=now, actor=user.name,
            major=_flag(form.get("major")), confidential=_flag(form.get("confidential")),
            caller_number=caller or None, caller_name=caller_name or None,
        )
    return order.as_json(settings.service.tz, now)


def timeline_data(order: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The ``workorder.created`` event this order adds to its call's timeline."""
    return ev.WORK_ORDER_CREATED, {"number": order["number"], "category": order["category"],
                                   "major": order["major"]}


def open_and_overdue(settings: Settings, now: datetime) -> tuple[int, int]:
    with session_scope(settings.database.url) as s:
        return service.count_open_and_overdue(s, now)
