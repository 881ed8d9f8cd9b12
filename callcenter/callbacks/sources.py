"""Where callback tasks come from: closed orders (R-94, R-101) and calls the centre did not serve (R-95 item 5).

* :func:`sync_order_callbacks` — one task per ``work_order_callbacks`` row still open and without one: the L1
  callback of every closed order, the sampled L2/L3. The L1 callback of a complaint goes to the complaint
  campaign (R-101 「处结后2个工作日内回访」, due by the order's callback deadline) and is kept for the agent who
  took it (R-99 「谁受理谁负责」, R-101 「应转受理人员…回访」) until noon of the next working day, then any agent
  of the group may make it, so an absent receiver never lets the deadline pass.
* :func:`note_missed_call` — a caller who hung up in the IVR, the queue, or while an agent's phone rang;
  :func:`note_unresolved_call` — a call the agent could not resolve (「没有及时解决问题」). One task per caller
  and centre day each: later calls that day only add to it (``calls``). A withheld or undialable number is
  counted on one skipped task per day and reason, never dialled.
"""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import and_, exists, select, true
from sqlalchemy.orm import Session

from callcenter.callbacks.campaigns import built_in
from callcenter.callbacks.errors import CallbackError, NotDialableError
from callcenter.callbacks.models import CallbackTask
from callcenter.callbacks.numbers import check_dialable
from callcenter.callbacks.tasks import TaskView, append_note, calendar_of, new_task, task_view
from callcenter.config import Settings
from callcenter.logs import get_logger
from callcenter.tickets.models import WorkOrder, WorkOrderCallback

log = get_logger(__name__)

MISSED_WHERE = ("ivr", "queue", "ringing")
SYNC_BATCH = 1000


def sync_order_callbacks(session: Session, settings: Settings, now: datetime, *, since: datetime | None = None) -> int:
    """Make the tasks of open order callbacks that have none; returns how many were made.

    ``since``: only callbacks made at or after it (an index range instead of every order's callback row: a
    dialer that syncs every minute passes a lookback of a few days; None, the default, looks at all of them).
    """
    has_task = exists().where(
        and_(CallbackTask.order_id == WorkOrderCallback.order_id, CallbackTask.level == WorkOrderCallback.level)
    )
    stmt = (
        select(WorkOrderCallback, WorkOrder)
        .join(WorkOrder, WorkOrder.id == WorkOrderCallback.order_id)
        .where(WorkOrderCallback.done_at.is_(None), ~has_task)
        .where(WorkOrderCallback.created_at >= since if since is not None else true())
        .order_by(WorkOrderCallback.created_at, WorkOrderCallback.id)  # the created_at index serves ``since``
        .limit(SYNC_BATCH)
    )
    made = 0
    calendar = calendar_of(settings)
    tz = settings.service.tz
    while True:
        rows = session.execute(stmt).all()
        before = made
        for callback, order in rows:
            complaint = order.category == "complaint" and callback.level == 1
            campaign = built_in(session, settings, "complaint" if complaint else "closing", now)
            preferred_until = None
            if complaint:
                closed = (order.closed_at or now).astimezone(tz).date()
                next_day, _ = calendar.nth_working_day_after(closed, 1)
                preferred_until = datetime.combine(next_day, time(12), tzinfo=tz)
            _, created = new_task(
                session, settings, campaign, number=order.caller_number, at=now,
                dedup_key=f"order:{order.id}:L{callback.level}", order_id=order.id, order_number=order.number,
                level=callback.level, customer_name=order.caller_name,
                preferred_agent=order.owner if complaint else None, preferred_until=preferred_until,
                due_by=callback.due_at,
            )
            made += created
        if len(rows) < SYNC_BATCH or made == before:  # a full batch that made nothing would come back forever
            break
    log.info("callback.sync_orders", made=made)
    return made


def note_missed_call(
    session: Session, settings: Settings, *, caller: str | None, at: datetime, where: str, call_id: str
) -> TaskView | None:
    """A caller who was not served (R-95 item 5 「没有接到电话」): ``where`` is ivr, queue or ringing.

    Returns the caller's task of the day (new or added to), or None when the number cannot be called back.
    """
    if where not in MISSED_WHERE:
        raise CallbackError(f"missed call {call_id}: where {where!r}: expected one of {', '.join(MISSED_WHERE)}")
    return _per_caller_day(session, settings, "missed", caller, at, call_id, f"{where} {call_id}")


def note_unresolved_call(
    session: Session,
    settings: Settings,
    *,
    caller: str | None,
    at: datetime,
    call_id: str,
    agent: str | None = None,
    order_number: str | None = None,
    notes: str = "",
) -> TaskView | None:
    """A call the agent could not resolve (R-95 item 5 「没有及时解决问题,应在最短时间内回访说明」); the agent who
    took it is preferred for the callback until noon of the next working day."""
    line = " ".join(p for p in (f"unresolved {call_id}", agent and f"agent {agent}", order_number, notes) if p)
    return _per_caller_day(session, settings, "unresolved", caller, at, call_id, line, agent=agent)


def _per_caller_day(
    session: Session,
    settings: Settings,
    kind: str,
    caller: str | None,
    at: datetime,
    call_id: str,
    line: str,
    *,
    agent: str | None = None,
) -> TaskView | None:
    if at.tzinfo is None:
        raise CallbackError(f"{call_id}: naive datetime {at.isoformat()}: give a time zone")
    tz = settings.service.tz
    local = at.astimezone(tz)
    day = local.date().isoformat()
    campaign = built_in(session, settings, kind, at)
    try:
        number: str | None = check_dialable(caller)
        key = f"{kind}:{number}:{day}"
    except NotDialableError as exc:
        number, key = caller, f"{kind}:{exc.reason}:{day}"  # one counted, skipped task per day and reason
    preferred_until = None
    if agent:
        next_day, _ = calendar_of(settings).nth_working_day_after(local.date(), 1)
        preferred_until = datetime.combine(next_day, time(12), tzinfo=tz)
    task, created = new_task(
        session, settings, campaign, number=number, dedup_key=key, at=at, call_id=call_id,
        preferred_agent=agent, preferred_until=preferred_until,
        notes=f"{local:%H:%M} {line}",
    )
    if not created:
        task.calls += 1
        append_note(task, f"{local:%H:%M} {line}")
        session.flush()
    log.info(f"callback.{kind}_call", call_id=call_id, task=task.id, calls=task.calls, status=task.status)
    return None if task.status == "skipped" else task_view(task, campaign)
