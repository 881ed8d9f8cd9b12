"""Callback tasks: made once per de-duplication key, read as frozen views.

A new task is due at the first calling hour from its creation (R-95 item 5 「应在最短时间内回访说明」); one
that cannot be dialled at all (withheld or bad number, on the do-not-call list, no calling hours left) is
still stored, as ``skipped`` with its reason, so the figures count it instead of losing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.callbacks.campaigns import CampaignView
from callcenter.callbacks.dnc import blocked
from callcenter.callbacks.errors import CallbackError, NotDialableError
from callcenter.callbacks.models import CallbackTask
from callcenter.callbacks.numbers import check_dialable, normalise
from callcenter.callbacks.schedule import next_dial_time
from callcenter.config import Settings
from callcenter.logs import get_logger
from callcenter.tickets.calendar import WorkingCalendar

log = get_logger(__name__)

NOTES_LIMIT = 4000


@dataclass(frozen=True)
class TaskView:
    id: int
    campaign: str
    kind: str
    mode: str
    order_number: str | None
    level: int | None
    number: str
    customer_name: str | None
    agent_group: str
    preferred_agent: str | None
    status: str
    next_at: datetime
    due_by: datetime | None
    booked_at: datetime | None
    attempts: int
    max_attempts: int
    calls: int
    result: str | None
    satisfaction: str | None
    agent: str | None
    notes: str
    call_id: str | None
    skip_reason: str | None
    lease_holder: str | None
    lease_until: datetime | None
    created_at: datetime
    finished_at: datetime | None
    follow_up: int | None = None  # the task opened for the order's owner after a 不满意 answer (R-97 item 4)

    def as_json(self, tz: Any) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.astimezone(tz).isoformat(timespec="seconds")
        return out


def task_view(task: CallbackTask, campaign: CampaignView, follow_up: int | None = None) -> TaskView:
    return TaskView(
        id=task.id, campaign=campaign.name, kind=campaign.kind, mode=campaign.mode, order_number=task.order_number,
        level=task.level, number=task.number, customer_name=task.customer_name, agent_group=task.agent_group,
        preferred_agent=task.preferred_agent, status=task.status, next_at=task.next_at, due_by=task.due_by,
        booked_at=task.booked_at, attempts=task.attempts, max_attempts=campaign.max_attempts, calls=task.calls,
        result=task.result, satisfaction=task.satisfaction, agent=task.agent, notes=task.notes,
        call_id=task.call_id, skip_reason=task.skip_reason, lease_holder=task.lease_holder,
        lease_until=task.lease_until, created_at=task.created_at, finished_at=task.finished_at, follow_up=follow_up,
    )


def calendar_of(settings: Settings) -> WorkingCalendar:
    return WorkingCalendar.from_settings(settings.tickets)


def append_note(task: CallbackTask, line: str) -> None:
    text = f"{task.notes}\n{line}" if task.notes else line
    task.notes = text[-NOTES_LIMIT:]


def skip(task: CallbackTask, reason: str, at: datetime, status: str = "skipped") -> None:
    task.status, task.skip_reason, task.finished_at = status, reason, at
    task.lease_holder = task.lease_until = None


def new_task(
    session: Session,
    settings: Settings,
    campaign: CampaignView,
    *,
    number: str | None,
    dedup_key: str,
    at: datetime,
    order_id: int | None = None,
    order_number: str | None = None,
    level: int | None = None,
    customer_name: str | None = None,
    preferred_agent: str | None = None,
    preferred_until: datetime | None = None,
    due_by: datetime | None = None,
    call_id: str | None = None,
    notes: str = "",
) -> tuple[CallbackTask, bool]:
    """The task of ``dedup_key``: (the existing one, False) or (a new one, True).

    Made in a savepoint, so two processes noting the same key at once end with one task, not an error.
    """
    existing = session.scalar(select(CallbackTask).where(CallbackTask.dedup_key == dedup_key))
    if existing is not None:
        return existing, False
    if len(dedup_key) > 160:
        raise CallbackError(f"de-duplication key too long: {dedup_key[:40]}…")
    hours = campaign.calling_hours(settings.service.tz)
    first = next_dial_time(hours, calendar_of(settings), at)
    task = CallbackTask(
        campaign_id=campaign.id, order_id=order_id, order_number=order_number, level=level,
        number=normalise(number)[:32], customer_name=customer_name, agent_group=campaign.agent_group,
        preferred_agent=preferred_agent, preferred_until=preferred_until, status="due", next_at=first or at,
        due_by=due_by, booked_at=None, attempts=0, calls=1, notes=notes[-NOTES_LIMIT:], call_id=call_id,
        dedup_key=dedup_key, created_at=at,
    )
    try:
        task.number = check_dialable(number)
        reason = blocked(session, task.number)
        if reason is not None:
            raise NotDialableError(f"{task.number} is on the do-not-call list: {reason}", "do_not_call")
        if first is None:
            raise NotDialableError(f"campaign {campaign.name!r} has no calling hours left", "no_hours_left")
    except NotDialableError as exc:
        skip(task, exc.reason, at)
    try:
        with session.begin_nested():
            session.add(task)
    except IntegrityError:
        # Another process made the same key between our read and our insert: theirs stands.
        task = session.scalars(select(CallbackTask).where(CallbackTask.dedup_key == dedup_key)).one()
        return task, False
    log.info("callback.task_created", task=task.id, campaign=campaign.name, status=task.status,
             reason=task.skip_reason, call_id=call_id)
    return task, True
