"""The work-order store's API: create, read, change and report on work orders (工单).

Everything other packages need goes through here; nobody else touches the tables. Rules it enforces:

* Confidential orders (R-82, R-144) are filtered in every query of this package for a :class:`Viewer` without
  the permission — they look exactly like absent orders. Aggregates for the system (metrics, wallboard,
  retention) run as :data:`SYSTEM` by default.
* Every change bumps the order's version; a writer that read an older version gets :class:`StaleOrderError`
  (optimistic concurrency: no lost update between processes) — re-read and retry.
* Every change appends one history row (who, when, what) in the same transaction; history is never updated.
* Deadlines come from the order's SLA policy (deadlines.py, clocks.py); an event meets them: first contact (R-78), reply
  and close (R-79), the level-1 callback (R-101). Closing also meets a still-open first contact and reply (a
  closed order has been answered, R-85) and starts the closing-anchored clocks and the callbacks (R-94).

Functions take a SQLAlchemy session and never commit: the caller owns the unit of work
(``with session_scope(url) as s: ...``); a stale-version failure rolls the session back before it raises.

This module creates and changes orders and is the package's one door: it also offers what the others hold
(``views``: Viewer and the views; ``queries``: reading; ``reports``: figures; ``callbacks``: R-94), and
other packages import only from here (``__all__``). ``rows`` (filter, version, history) and ``clocks``
(deadline rows) are the service's own.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.logs import get_logger
from callcenter.tickets.callbacks import close_order, record_callback
from callcenter.tickets.categories import category as lookup_category
from callcenter.tickets.categories import check_subcategory
from callcenter.tickets.clocks import deadline_row, meet, recount
from callcenter.tickets.deadlines import Deadline, SlaEngine, require_aware
from callcenter.tickets.errors import InvalidTransitionError, TicketError
from callcenter.tickets.models import CHANNELS, STATUSES, TRANSITIONS, WorkOrder, WorkOrderCounter, WorkOrderLink
from callcenter.tickets.queries import (
    get_order,
    linked_order_facts,
    list_orders,
    order_history,
    order_numbers_for_calls,
    overdue_page,
)
from callcenter.tickets.reports import callback_stats, count_open_and_overdue, sla_outcomes
from callcenter.tickets.rows import append_history, flush_view, load_for_change, touch
from callcenter.tickets.views import (
    SYSTEM,
    CallbackStat,
    HistoryEntry,
    OrderFacts,
    OrderView,
    SlaOutcome,
    Viewer,
    view_of,
)

log = get_logger(__name__)

EDITABLE = frozenset(
    {"summary", "details", "department", "assignee", "subcategory", "category", "major", "confidential",
     "caller_name", "caller_number", "channel"}
)
LINK_KINDS = ("call", "recording")
CALLER_NUMBER = re.compile(r"\+?[0-9][0-9-]{2,31}")


# ---------------------------------------------------------------------------------------------- creating


def create_order(
    session: Session,
    settings: Settings,
    *,
    category: str,
    summary: str,
    accepted_at: datetime,
    actor: str,
    major: bool = False,
    subcategory: str | None = None,
    caller_number: str | None = None,
    caller_name: str | None = None,
    details: str = "",
    confidential: bool = False,
    channel: str = "hotline",
    department: str | None = None,
    assignee: str | None = None,
    call_id: str | None = None,
    recording_ids: Iterable[str] = (),
) -> OrderView:
    """Accept a work order (R-69): number it, start its clocks and write the first history row."""
    engine = SlaEngine.from_settings(settings)
    require_aware(accepted_at, "accepted_at")
    lookup_category(category)
    check_subcategory(subcategory)
    _check_text(summary, "summary", 500)
    if caller_number is not None and not CALLER_NUMBER.fullmatch(caller_number):
        raise TicketError(f"caller number {caller_number!r}: expected 3 to 32 digits, optionally with + and -")
    if channel not in CHANNELS:
        raise TicketError(f"channel {channel!r}: expected one of {', '.join(CHANNELS)} (R-68)")
    deadlines = engine.deadlines(category, major, accepted_at)
    number = _next_number(session, settings.tickets.number_prefix, accepted_at.astimezone(engine.tz).date())
    order = WorkOrder(
        number=number, category=category, subcategory=subcategory, major=major, status="accepted", channel=channel,
        caller_number=caller_number, caller_name=caller_name, summary=summary, details=details, owner=actor,
        department=department, assignee=assignee, confidential=confidential, policy=engine.policy.name,
        accepted_at=accepted_at, updated_at=accepted_at, version=1,
    )
    order.deadlines = [deadline_row(d) for d in deadlines]
    order.callbacks = []  # known empty: spares a lazy load when the view is built
    order.links = [WorkOrderLink(kind="call", ref=call_id, linked_at=accepted_at)] if call_id else []
    order.links += [WorkOrderLink(kind="recording", ref=r, linked_at=accepted_at) for r in dict.fromkeys(recording_ids)]
    session.add(order)
    session.flush()
    append_history(session, order, accepted_at, actor, "created",
            {"category": category, "major": major, "confidential": confidential, "call_id": call_id})
    log.info("workorder.created", number=number, category=category, major=major, call_id=call_id)
    return view_of(order)


def create_order_for_call(
    session: Session, settings: Settings, call_id: str, *, category: str, summary: str, accepted_at: datetime,
    actor: str, **fields: Any,
) -> OrderView:
    """An order opened from a live call (the agent panel). Links the call; the caller appends the timeline
    event ``workorder.created`` itself (the timeline belongs to the calls package)."""
    if not call_id:
        raise TicketError("call_id: an order created from a call needs the call's id")
    return create_order(session, settings, category=category, summary=summary, accepted_at=accepted_at,
                        actor=actor, call_id=call_id, **fields)


def due_dates(settings: Settings, category: str, major: bool, accepted_at: datetime) -> list[Deadline]:
    """The deadlines an order would get, without storing anything (``callcenter tickets due``)."""
    return SlaEngine.from_settings(settings).deadlines(category, major, accepted_at)


# ---------------------------------------------------------------------------------------------- changing


def update_order(
    session: Session,
    settings: Settings,
    number: str,
    changes: Mapping[str, object],
    *,
    actor: str,
    at: datetime,
    expected_version: int | None = None,
    viewer: Viewer = SYSTEM,
) -> OrderView:
    """Change editable fields. A new category or major flag re-counts the clocks not met yet (R-71 re-class)."""
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        raise TicketError(f"{number}: field {unknown[0]!r} cannot be changed (editable: {', '.join(sorted(EDITABLE))})")
    order = load_for_change(session, number, viewer, expected_version, at)
    if "category" in changes:
        lookup_category(str(changes["category"]))
    if "subcategory" in changes:
        check_subcategory(changes["subcategory"])  # type: ignore[arg-type]
    if "channel" in changes and changes["channel"] not in CHANNELS:
        raise TicketError(f"channel {changes['channel']!r}: expected one of {', '.join(CHANNELS)} (R-68)")
    if "summary" in changes:
        _check_text(str(changes["summary"]), "summary", 500)
    diff = {k: [_jsonable(getattr(order, k)), _jsonable(v)] for k, v in changes.items() if getattr(order, k) != v}
    if not diff:
        return view_of(order)
    for key, value in changes.items():
        setattr(order, key, value)
    if "category" in diff or "major" in diff:
        recount(order, settings)
    touch(order, at)
    append_history(session, order, at, actor, "updated", diff)
    return flush_view(session, order)


def transition(
    session: Session,
    settings: Settings,
    number: str,
    status: str,
    *,
    actor: str,
    at: datetime,
    expected_version: int | None = None,
    viewer: Viewer = SYSTEM,
    rng: random.Random | None = None,
) -> OrderView:
    """Move an order along the lifecycle of R-85; closing (处结) starts the callback clocks (R-79, R-94)."""
    if status not in STATUSES:
        raise InvalidTransitionError(f"status {status!r}: expected one of {', '.join(STATUSES)}")
    if status == "called_back":
        raise InvalidTransitionError(f"{number}: record the level-1 callback instead (R-101)")
    order = load_for_change(session, number, viewer, expected_version, at)
    if status not in TRANSITIONS[order.status]:
        allowed = ", ".join(sorted(TRANSITIONS[order.status])) or "nothing"
        raise InvalidTransitionError(f"{number}: cannot go from {order.status} to {status} (allowed: {allowed})")
    previous = order.status
    order.status = status
    touch(order, at)
    if status == "closed":
        close_order(session, order, settings, at, rng or random.Random())
    append_history(session, order, at, actor, "status", {"status": [previous, status]})
    return flush_view(session, order)


def record_contact(
    session: Session, number: str, *, actor: str, at: datetime, viewer: Viewer = SYSTEM,
    expected_version: int | None = None,
) -> OrderView:
    """The responsible unit reached the customer (R-78: within 45 minutes)."""
    order = load_for_change(session, number, viewer, expected_version, at)
    if order.first_contacted_at is None:
        order.first_contacted_at = at
    meet(order, at, "first_contact")
    touch(order, at)
    append_history(session, order, at, actor, "contact", {"at": _jsonable(at)})
    return flush_view(session, order)


def record_reply(
    session: Session, number: str, *, actor: str, at: datetime, viewer: Viewer = SYSTEM,
    expected_version: int | None = None,
) -> OrderView:
    """The complainant got an answer (R-79: within 2 working days); a reply is also a contact."""
    order = load_for_change(session, number, viewer, expected_version, at)
    order.replied_at = order.replied_at or at
    order.first_contacted_at = order.first_contacted_at or at
    meet(order, at, "first_contact", "reply")
    touch(order, at)
    append_history(session, order, at, actor, "reply", {"at": _jsonable(at)})
    return flush_view(session, order)


def link(
    session: Session, number: str, kind: str, ref: str, *, actor: str, at: datetime, viewer: Viewer = SYSTEM
) -> OrderView:
    """Link a call or a recording to an order (R-70, R-107); linking twice is a no-op."""
    if kind not in LINK_KINDS:
        raise TicketError(f"link kind {kind!r}: expected one of {', '.join(LINK_KINDS)}")
    order = load_for_change(session, number, viewer, None, at)
    if any(lk.kind == kind and lk.ref == ref for lk in order.links):
        return view_of(order)
    order.links.append(WorkOrderLink(kind=kind, ref=ref, linked_at=at))
    touch(order, at)
    append_history(session, order, at, actor, "linked", {kind: ref})
    return flush_view(session, order)


# ---------------------------------------------------------------------------------------------- internals


def _next_number(session: Session, prefix: str, day: date) -> str:
    """GD20261123-000042: a per-day counter row, incremented under the row's write lock."""
    key = day.strftime("%Y%m%d")
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(WorkOrderCounter).values(day=key, last=0).on_conflict_do_nothing(index_elements=["day"]))
    session.execute(update(WorkOrderCounter).where(WorkOrderCounter.day == key).values(last=WorkOrderCounter.last + 1))
    last = session.scalar(select(WorkOrderCounter.last).where(WorkOrderCounter.day == key))
    return f"{prefix}{key}-{last:06d}"


def _check_text(value: str, what: str, limit: int) -> None:
    if not value.strip():
        raise TicketError(f"{what}: must not be empty")
    if len(value) > limit:
        raise TicketError(f"{what}: {len(value)} characters, at most {limit}")


def _jsonable(value: object) -> object:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value


__all__ = [
    "SYSTEM",
    "CallbackStat",
    "HistoryEntry",
    "OrderFacts",
    "OrderView",
    "SlaOutcome",
    "Viewer",
    "callback_stats",
    "count_open_and_overdue",
    "create_order",
    "create_order_for_call",
    "due_dates",
    "get_order",
    "link",
    "linked_order_facts",
    "list_orders",
    "order_history",
    "order_numbers_for_calls",
    "overdue_page",
    "record_callback",
    "record_contact",
    "record_reply",
    "sla_outcomes",
    "transition",
    "update_order",
]
