"""The work-order store's API: create, read, change and report on work orders (工单).

Everything other packages need goes through here; nobody else touches the tables. Rules it enforces:

* Confidential orders (R-82, R-144) are filtered in every query of this module for a :class:`Viewer` without
  the permission — they look exactly like absent orders. Aggregates for the system (metrics, wallboard,
  retention) run as :data:`SYSTEM` by default.
* Every change bumps the order's version; a writer that read an older version gets :class:`StaleOrderError`
  (optimistic concurrency: no lost update between processes) — re-read and retry.
* Every change appends one history row (who, when, what) in the same transaction; history is never updated.
* Deadlines come from the order's SLA policy (deadlines.py); an event meets them: first contact (R-78), reply
  and close (R-79), the level-1 callback (R-101). Closing also meets a still-open first contact and reply (a
  closed order has been answered, R-85) and starts the closing-anchored clocks and the callbacks (R-94).

Functions take a SQLAlchemy session and never commit: the caller owns the unit of work
(``with session_scope(url) as s: ...``); a stale-version failure rolls the session back before it raises.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from callcenter.config import Settings
from callcenter.logs import get_logger
from callcenter.tickets.categories import category as lookup_category
from callcenter.tickets.categories import check_subcategory
from callcenter.tickets.deadlines import Deadline, SlaEngine, iso, require_aware
from callcenter.tickets.errors import (
    InvalidPeriodError,
    InvalidTransitionError,
    StaleOrderError,
    TicketError,
    UnknownOrderError,
)
from callcenter.tickets.models import (
    CHANNELS,
    STATUSES,
    TRANSITIONS,
    WorkOrder,
    WorkOrderCallback,
    WorkOrderCounter,
    WorkOrderDeadline,
    WorkOrderHistory,
    WorkOrderLink,
)
from callcenter.tickets.policies import DEADLINE_NAMES
from callcenter.tickets.policies import policy as lookup_policy

log = get_logger(__name__)

# L1 customer specialist 100 %, L2 manager at least 10 %, L3 director at least 5 %.
CALLBACK_LEVELS = (1, 2, 3)
CALLBACK_FLOOR = {1: 1.0, 2: 0.10, 3: 0.05}
# Roles that see confidential orders without an individual grant (the web accounts' roles, R-82/R-143).
CONFIDENTIAL_ROLES = frozenset({"supervisor", "admin"})
EDITABLE = frozenset(
    {"summary", "details", "department", "assignee", "subcategory", "category", "major", "confidential",
     "caller_name", "caller_number", "channel"}
)
LINK_KINDS = ("call", "recording")
CALLER_NUMBER = re.compile(r"\+?[0-9][0-9-]{2,31}")


# ---------------------------------------------------------------------------------------------- value types


@dataclass(frozen=True)
class Viewer:
    """Who is asking. ``confidential_access`` is an individual grant (R-82); some roles hold it by default."""

    name: str
    role: str
    confidential_access: bool = False
    confidential_roles: frozenset[str] = CONFIDENTIAL_ROLES

    @property
    def can_see_confidential(self) -> bool:
        return self.confidential_access or self.role in self.confidential_roles


SYSTEM = Viewer("system", "system", confidential_access=True)


@dataclass(frozen=True)
class OrderFacts:
    """What recording retention needs of a linked order (DESIGN.md, retention)."""

    number: str
    is_complaint: bool
    accepted_at: datetime
    closed_at: datetime | None
    confidential: bool


@dataclass(frozen=True)
class SlaOutcome:
    number: str
    deadline: str
    due_at: datetime
    met_at: datetime | None
    met: bool | None  # None: still open and not yet due


@dataclass(frozen=True)
class CallbackStat:
    level: int
    target_rate: float  # R-94 floor: 1.0, 0.10, 0.05
    orders_closed: int  # orders closed in the period (the population)
    due: int  # callbacks of this level created for them
    done: int  # of those, completed (customer reached)
    sampling_rate: float  # due / orders_closed (0.0 when nothing closed)


@dataclass(frozen=True)
class DeadlineView:
    name: str
    title: str
    limit: str
    clock: str
    anchor: str
    due_at: datetime | None
    met_at: datetime | None
    escalated_at: datetime | None
    provisional: bool
    source: str

    def overdue(self, now: datetime) -> bool:
        return self.met_at is None and self.due_at is not None and self.due_at < now


@dataclass(frozen=True)
class CallbackView:
    level: int
    due_at: datetime | None
    done_at: datetime | None
    attempts: int
    agent: str | None
    satisfaction: str | None


@dataclass(frozen=True)
class OrderView:
    number: str
    category: str
    subcategory: str | None
    major: bool
    status: str
    channel: str
    caller_number: str | None
    caller_name: str | None
    summary: str
    details: str
    owner: str
    department: str | None
    assignee: str | None
    confidential: bool
    policy: str
    accepted_at: datetime
    first_contacted_at: datetime | None
    replied_at: datetime | None
    closed_at: datetime | None
    version: int
    deadlines: tuple[DeadlineView, ...]
    calls: tuple[str, ...]
    recordings: tuple[str, ...]
    callbacks: tuple[CallbackView, ...]

    def as_json(self, tz: Any, now: datetime | None = None) -> dict[str, object]:
        out: dict[str, object] = {
            k: getattr(self, k)
            for k in ("number", "category", "subcategory", "major", "status", "channel", "caller_number",
                      "caller_name", "summary", "details", "owner", "department", "assignee", "confidential",
                      "policy", "version")
        }
        for k in ("accepted_at", "first_contacted_at", "replied_at", "closed_at"):
            out[k] = iso(getattr(self, k), tz)
        out["deadlines"] = [
            {"name": d.name, "title": d.title, "limit": d.limit, "clock": d.clock, "anchor": d.anchor,
             "due_at": iso(d.due_at, tz), "met_at": iso(d.met_at, tz), "escalated_at": iso(d.escalated_at, tz),
             "provisional": d.provisional, "source": d.source}
            | ({"overdue": d.overdue(now)} if now is not None else {})
            for d in self.deadlines
        ]
        out["calls"] = list(self.calls)
        out["recordings"] = list(self.recordings)
        out["callbacks"] = [
            {"level": c.level, "due_at": iso(c.due_at, tz), "done_at": iso(c.done_at, tz), "attempts": c.attempts,
             "agent": c.agent, "satisfaction": c.satisfaction}
            for c in self.callbacks
        ]
        return out


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    actor: str
    action: str
    changes: dict[str, object]


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
    order.deadlines = [_deadline_row(d) for d in deadlines]
    order.callbacks = []  # known empty: spares a lazy load when the view is built
    order.links = [WorkOrderLink(kind="call", ref=call_id, linked_at=accepted_at)] if call_id else []
    order.links += [WorkOrderLink(kind="recording", ref=r, linked_at=accepted_at) for r in dict.fromkeys(recording_ids)]
    session.add(order)
    session.flush()
    _append(session, order, accepted_at, actor, "created",
            {"category": category, "major": major, "confidential": confidential, "call_id": call_id})
    log.info("workorder.created", number=number, category=category, major=major, call_id=call_id)
    return _view(order)


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


# ---------------------------------------------------------------------------------------------- reading


def get_order(session: Session, number: str, viewer: Viewer = SYSTEM) -> OrderView:
    return _view(_load(session, number, viewer))


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
        rows = session.scalars(select(WorkOrder).where(WorkOrder.id.in_(ids)).options(*_eager())).all()
        rank = {order_id: i for i, order_id in enumerate(ids)}
        return [_view(o) for o in sorted(rows, key=lambda o: rank[o.id])]
    stmt = _visible(select(WorkOrder), viewer)
    if open_only:
        stmt = stmt.where(WorkOrder.closed_at.is_(None))
    if caller is not None:
        stmt = stmt.where(WorkOrder.caller_number == caller)
    stmt = stmt.order_by(WorkOrder.accepted_at.desc(), WorkOrder.id.desc()).limit(limit)
    return [_view(o) for o in session.scalars(stmt.options(*_eager())).all()]


def overdue_page(
    session: Session, now: datetime, viewer: Viewer = SYSTEM, *, limit: int = 100, open_only: bool = False
) -> list[int]:
    """Ids of the ``limit`` visible orders whose earliest unmet deadline passed longest ago.

    Walks the partial index of unmet deadlines in due order and stops after ``limit`` orders' worth of rows
    (an order has at most one row per deadline name), so its cost does not grow with the store's history.
    """
    stmt = _visible(
        select(WorkOrderDeadline.order_id).join(WorkOrder, WorkOrder.id == WorkOrderDeadline.order_id), viewer
    ).where(WorkOrderDeadline.met_at.is_(None), WorkOrderDeadline.due_at < now)
    if open_only:
        stmt = stmt.where(WorkOrder.closed_at.is_(None))
    stmt = stmt.order_by(WorkOrderDeadline.due_at, WorkOrderDeadline.order_id).limit(limit * len(DEADLINE_NAMES))
    return list(dict.fromkeys(session.scalars(stmt)))[:limit]


def overdue_order_ids(now: datetime) -> Select[tuple[int]]:
    """Orders with a deadline due before ``now`` and not met: served by the partial index on open deadlines."""
    return select(WorkOrderDeadline.order_id).where(
        WorkOrderDeadline.met_at.is_(None), WorkOrderDeadline.due_at < now
    )


def order_history(session: Session, number: str, viewer: Viewer = SYSTEM) -> list[HistoryEntry]:
    order = _load(session, number, viewer)
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
    stmt = _visible(
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
    stmt = _visible(select(WorkOrder), viewer).where(WorkOrder.number.in_(wanted))
    found = {o.number: o for o in session.scalars(stmt)}
    return [
        OrderFacts(o.number, lookup_category(o.category).is_complaint, o.accepted_at, o.closed_at, o.confidential)
        for n in wanted
        if (o := found.get(n)) is not None
    ]


# ---------------------------------------------------------------------------------------------- reports


def sla_outcomes(
    session: Session, start: datetime, end: datetime, *, now: datetime | None = None, viewer: Viewer = SYSTEM
) -> list[SlaOutcome]:
    """Every deadline falling due in [start, end) and whether it was met (metrics' SLA compliance)."""
    _check_period(start, end)
    now = now or datetime.now(UTC)
    stmt = _visible(
        select(WorkOrder.number, WorkOrderDeadline.name, WorkOrderDeadline.due_at, WorkOrderDeadline.met_at)
        .join(WorkOrder, WorkOrder.id == WorkOrderDeadline.order_id),
        viewer,
    ).where(WorkOrderDeadline.due_at >= start, WorkOrderDeadline.due_at < end).order_by(
        WorkOrderDeadline.due_at, WorkOrderDeadline.id
    )
    out = []
    for number, name, due_at, met_at in session.execute(stmt):
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
    order = _load_for_change(session, number, viewer, expected_version, at)
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
        return _view(order)
    for key, value in changes.items():
        setattr(order, key, value)
    if "category" in diff or "major" in diff:
        _recount(order, settings)
    _touch(order, at)
    _append(session, order, at, actor, "updated", diff)
    return _flush_view(session, order)


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
    order = _load_for_change(session, number, viewer, expected_version, at)
    if status not in TRANSITIONS[order.status]:
        allowed = ", ".join(sorted(TRANSITIONS[order.status])) or "nothing"
        raise InvalidTransitionError(f"{number}: cannot go from {order.status} to {status} (allowed: {allowed})")
    previous = order.status
    order.status = status
    _touch(order, at)
    if status == "closed":
        _close(session, order, settings, at, rng or random.Random())
    _append(session, order, at, actor, "status", {"status": [previous, status]})
    return _flush_view(session, order)


def record_contact(
    session: Session, number: str, *, actor: str, at: datetime, viewer: Viewer = SYSTEM,
    expected_version: int | None = None,
) -> OrderView:
    """The responsible unit reached the customer (R-78: within 45 minutes)."""
    order = _load_for_change(session, number, viewer, expected_version, at)
    if order.first_contacted_at is None:
        order.first_contacted_at = at
    _meet(order, at, "first_contact")
    _touch(order, at)
    _append(session, order, at, actor, "contact", {"at": _jsonable(at)})
    return _flush_view(session, order)


def record_reply(
    session: Session, number: str, *, actor: str, at: datetime, viewer: Viewer = SYSTEM,
    expected_version: int | None = None,
) -> OrderView:
    """The complainant got an answer (R-79: within 2 working days); a reply is also a contact."""
    order = _load_for_change(session, number, viewer, expected_version, at)
    order.replied_at = order.replied_at or at
    order.first_contacted_at = order.first_contacted_at or at
    _meet(order, at, "first_contact", "reply")
    _touch(order, at)
    _append(session, order, at, actor, "reply", {"at": _jsonable(at)})
    return _flush_view(session, order)


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
    order = _load_for_change(session, number, viewer, expected_version, at)
    task = next((c for c in order.callbacks if c.level == level), None)
    if task is None:
        raise InvalidTransitionError(f"{number}: no level-{level} callback is due (closing makes L1; L2/L3 sampled)")
    if task.done_at is not None:
        raise InvalidTransitionError(f"{number}: the level-{level} callback was already done")
    task.agent = actor
    task.notes = notes
    if not reached:
        task.attempts += 1
        _touch(order, at)
        _append(session, order, at, actor, "callback_attempt", {"level": level, "attempts": task.attempts})
        return _flush_view(session, order)
    task.done_at = at
    task.satisfaction = satisfaction
    if level == 1:
        _meet(order, at, "callback")
        if order.status == "closed":
            order.status = "called_back"
    _touch(order, at)
    _append(session, order, at, actor, "callback", {"level": level, "satisfaction": satisfaction})
    return _flush_view(session, order)


def link(
    session: Session, number: str, kind: str, ref: str, *, actor: str, at: datetime, viewer: Viewer = SYSTEM
) -> OrderView:
    """Link a call or a recording to an order (R-70, R-107); linking twice is a no-op."""
    if kind not in LINK_KINDS:
        raise TicketError(f"link kind {kind!r}: expected one of {', '.join(LINK_KINDS)}")
    order = _load_for_change(session, number, viewer, None, at)
    if any(lk.kind == kind and lk.ref == ref for lk in order.links):
        return _view(order)
    order.links.append(WorkOrderLink(kind=kind, ref=ref, linked_at=at))
    _touch(order, at)
    _append(session, order, at, actor, "linked", {kind: ref})
    return _flush_view(session, order)


# ---------------------------------------------------------------------------------------------- internals


def _visible(stmt: Select[Any], viewer: Viewer) -> Select[Any]:
    """R-82: the confidentiality filter every query of this module goes through."""
    if viewer.can_see_confidential:
        return stmt
    return stmt.where(WorkOrder.confidential.is_(False))


def _eager() -> tuple[Any, ...]:
    return (selectinload(WorkOrder.deadlines), selectinload(WorkOrder.links), selectinload(WorkOrder.callbacks))


def _load(session: Session, number: str, viewer: Viewer) -> WorkOrder:
    stmt = _visible(select(WorkOrder), viewer).where(WorkOrder.number == number).options(*_eager())
    order = session.scalars(stmt).one_or_none()
    if order is None:
        raise UnknownOrderError(f"work order {number!r} does not exist")
    return order


def _load_for_change(
    session: Session, number: str, viewer: Viewer, expected_version: int | None, at: datetime
) -> WorkOrder:
    require_aware(at, "at")
    order = _load(session, number, viewer)
    if expected_version is not None and order.version != expected_version:
        raise StaleOrderError(
            f"work order {number} is at version {order.version}, not {expected_version}: someone changed it; re-read"
        )
    return order


def _flush_view(session: Session, order: WorkOrder) -> OrderView:
    number = order.number
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise StaleOrderError(f"work order {number} was changed by someone else meanwhile; re-read and retry") from None
    return _view(order)


def _touch(order: WorkOrder, at: datetime) -> None:
    """Bump the version by hand (``version_id_generator=False``): the row's UPDATE then always carries
    ``WHERE version = <read version>``, even when only child rows (deadlines, callbacks) change."""
    order.version = order.version + 1
    order.updated_at = max(at, order.updated_at)


def _append(session: Session, order: WorkOrder, at: datetime, actor: str, action: str, changes: dict) -> None:
    session.add(WorkOrderHistory(order_id=order.id, at=at, actor=actor, action=action, changes=changes))


def _meet(order: WorkOrder, at: datetime, *names: str) -> None:
    for row in order.deadlines:
        if row.name in names and row.met_at is None and row.due_at is not None:
            row.met_at = at


def _close(session: Session, order: WorkOrder, settings: Settings, at: datetime, rng: random.Random) -> None:
    order.closed_at = at
    order.first_contacted_at = order.first_contacted_at or at
    order.replied_at = order.replied_at or at
    _meet(order, at, "first_contact", "reply", "close")
    engine = _engine_for(order, settings)
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


def _recount(order: WorkOrder, settings: Settings) -> None:
    """Re-count the clocks not met yet after a re-classification; met ones keep their record."""
    engine = _engine_for(order, settings)
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
    order.deadlines.extend(_deadline_row(d) for name, d in fresh.items() if name not in have)


def _engine_for(order: WorkOrder, settings: Settings) -> SlaEngine:
    engine = SlaEngine.from_settings(settings)
    engine.policy = lookup_policy(order.policy)  # an order keeps the policy it was accepted under
    return engine


def _deadline_row(d: Deadline) -> WorkOrderDeadline:
    return WorkOrderDeadline(
        name=d.name, title=d.title, limit_text=d.limit, clock=d.clock, anchor=d.anchor, due_at=d.due_at,
        provisional=d.provisional, source=d.source[:64],
    )


def _next_number(session: Session, prefix: str, day: date) -> str:
    """GD20261123-000042: a per-day counter row, incremented under the row's write lock."""
    key = day.strftime("%Y%m%d")
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(WorkOrderCounter).values(day=key, last=0).on_conflict_do_nothing(index_elements=["day"]))
    session.execute(update(WorkOrderCounter).where(WorkOrderCounter.day == key).values(last=WorkOrderCounter.last + 1))
    last = session.scalar(select(WorkOrderCounter.last).where(WorkOrderCounter.day == key))
    return f"{prefix}{key}-{last:06d}"


def _view(o: WorkOrder) -> OrderView:
    return OrderView(
        number=o.number, category=o.category, subcategory=o.subcategory, major=o.major, status=o.status,
        channel=o.channel, caller_number=o.caller_number, caller_name=o.caller_name, summary=o.summary,
        details=o.details, owner=o.owner, department=o.department, assignee=o.assignee, confidential=o.confidential,
        policy=o.policy, accepted_at=o.accepted_at, first_contacted_at=o.first_contacted_at, replied_at=o.replied_at,
        closed_at=o.closed_at, version=o.version,
        deadlines=tuple(
            DeadlineView(d.name, d.title, d.limit_text, d.clock, d.anchor, d.due_at, d.met_at, d.escalated_at,
                         d.provisional, d.source)
            for d in o.deadlines
        ),
        calls=tuple(lk.ref for lk in o.links if lk.kind == "call"),
        recordings=tuple(lk.ref for lk in o.links if lk.kind == "recording"),
        callbacks=tuple(
            CallbackView(c.level, c.due_at, c.done_at, c.attempts, c.agent, c.satisfaction) for c in o.callbacks
        ),
    )


def _check_period(start: datetime, end: datetime) -> None:
    require_aware(start, "start")
    require_aware(end, "end")
    if end < start:
        raise InvalidPeriodError(f"period ends ({end.isoformat()}) before it starts ({start.isoformat()})")


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
