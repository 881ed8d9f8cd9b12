"""What a dialled attempt came to, written back: the attempt, the task, and the work order it is about.

* Reached (:data:`~callcenter.callbacks.results.REACHED`): the task is done. An order's callback is recorded
  through the tickets service (``record_callback``): a level-1 callback moves the order to ``called_back`` and
  meets its callback deadline (R-101), and the order's history shows it with the satisfaction (R-97).
  An answer of 不满意 (1 or 2 on the five-point scale) opens a follow-up task for the order's owner (R-97 item 4
  「出现疑问按类别分类,并提交相关部门或相关人员进行改进或解决」).
* Not reached: the attempt is logged on the order's history (R-96 「未联系到负责人,记录下回访时间,再安排时间回访」)
  and the next attempt scheduled on the campaign's growing interval within its calling hours; after the last
  attempt, or with no calling hours left, the task ends ``unreached`` — counted by the figures, never dropped.
* A result for a task whose order was deleted or reopened, or whose callback was recorded by hand, while it was
  dialled is kept on the task and its attempt, and the task is cancelled with the reason; the order is left as is.
"""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.callbacks.campaigns import CampaignView, built_in, campaigns_by_id
from callcenter.callbacks.errors import CallbackError, LeaseError
from callcenter.callbacks.models import CallbackAttempt, CallbackTask
from callcenter.callbacks.results import FINAL_UNREACHED, REACHED, AttemptResult, parse_result
from callcenter.callbacks.schedule import next_dial_time, parse_retry, retry_after
from callcenter.callbacks.tasks import TaskView, append_note, calendar_of, new_task, skip, task_view
from callcenter.config import Settings
from callcenter.logs import get_logger
from callcenter.tickets.models import OPEN_STATUSES, WorkOrder, WorkOrderCallback
from callcenter.tickets.service import record_callback

log = get_logger(__name__)

# R-125 satisfaction grades on the three-point scale; the survey's keys name them in English too.
GRADES_3 = {"满意": "满意", "基本满意": "基本满意", "不满意": "不满意", "satisfied": "满意",
            "basically_satisfied": "基本满意", "dissatisfied": "不满意"}
SATISFIED = frozenset({"满意", "基本满意", "4", "5"})
DISSATISFIED = frozenset({"不满意", "1", "2"})


def satisfaction_of(value: str | None, scale: str) -> str | None:
    """The stored grade of an answer on the campaign's scale, or one sentence saying what is expected."""
    if value is None:
        return None
    if scale == "5":
        if value.strip() in ("1", "2", "3", "4", "5"):
            return value.strip()
        raise CallbackError(f"satisfaction {value!r}: the campaign's scale is 1 to 5")
    grade = GRADES_3.get(value.strip())
    if grade is None:
        raise CallbackError(f"satisfaction {value!r}: expected 满意, 基本满意 or 不满意")
    return grade


def record_attempt(
    session: Session,
    settings: Settings,
    task_id: int,
    *,
    result: AttemptResult | str,
    at: datetime,
    call_id: str | None,
    agent: str | None = None,
    satisfaction: str | None = None,
    notes: str = "",
    holder: str,
) -> TaskView:
    """Write one attempt's result, release the lease, and finish or reschedule the task."""
    outcome = parse_result(str(result))
    if at.tzinfo is None:
        raise CallbackError(f"attempt of task {task_id}: naive datetime {at.isoformat()}")
    task = session.get(CallbackTask, task_id, with_for_update=True)
    if task is None:
        raise CallbackError(f"callback task {task_id} does not exist")
    if task.status != "dialing" or task.lease_holder != holder:
        who = f"held by {task.lease_holder}" if task.status == "dialing" else task.status
        raise LeaseError(f"callback task {task_id} is not being dialled by {holder} (it is {who}): result not taken")
    campaign = campaigns_by_id(session)[task.campaign_id]
    grade = satisfaction_of(satisfaction, campaign.scale)
    if grade is not None and outcome is not AttemptResult.REACHED:
        raise CallbackError(f"callback task {task_id}: a satisfaction answer needs the result 'reached', "
                            f"not {outcome.value!r}")
    attempt = session.scalars(
        select(CallbackAttempt).where(CallbackAttempt.task_id == task.id, CallbackAttempt.ended_at.is_(None))
        .order_by(CallbackAttempt.id.desc())
    ).first()
    if attempt is None:  # a claim always opens one; an attempt reported without it is still recorded
        attempt = CallbackAttempt(task_id=task.id, started_at=at, holder=holder, notes="")
        session.add(attempt)
    attempt.ended_at, attempt.result, attempt.call_id, attempt.agent = at, outcome.value, call_id, agent
    attempt.notes = notes[:2000]
    task.lease_holder = task.lease_until = None
    task.call_id = call_id or task.call_id
    task.agent = agent or task.agent
    task.booked_at = None  # a booked time is used once; what follows is the campaign's schedule
    if notes:
        append_note(task, notes)
    follow_up = None
    gone = _order_gone(session, task)
    if gone:
        task.attempts += 1
        task.result = outcome.value
        skip(task, gone, at, "cancelled")
        append_note(task, f"{outcome.value}: not written to work order {task.order_number} ({gone})")
    elif outcome in REACHED:
        follow_up = _reached(session, settings, task, campaign, outcome, grade, at, agent or holder, notes)
    else:
        _unreached(session, settings, task, campaign, outcome, at, agent or holder)
    session.flush()
    log.info("callback.attempt", task=task.id, result=outcome.value, status=task.status, call_id=call_id,
             attempts=task.attempts)
    return task_view(task, campaign, follow_up)


def _order_gone(session: Session, task: CallbackTask) -> str | None:
    if task.order_number is None:
        return None
    order = session.get(WorkOrder, task.order_id) if task.order_id is not None else None
    if order is None:
        return "order_deleted"
    if order.status in OPEN_STATUSES:
        return "order_reopened"
    if task.level is not None:
        done = session.scalar(select(WorkOrderCallback.done_at).where(
            WorkOrderCallback.order_id == order.id, WorkOrderCallback.level == task.level))
        if done is not None:  # recorded by hand (the panel, the CLI) while this attempt was dialled
            return "already_done"
    return None


def _reached(session: Session, settings: Settings, task: CallbackTask, campaign: CampaignView,
             outcome: AttemptResult, grade: str | None, at: datetime, actor: str, notes: str) -> int | None:
    task.attempts += 1
    task.status, task.result, task.satisfaction, task.finished_at = "done", outcome.value, grade, at
    if task.order_number is None or task.level is None:
        return None
    record_callback(session, task.order_number, task.level, actor=actor, at=at, reached=True, satisfaction=grade,
                    notes=notes)
    if grade not in DISSATISFIED:
        return None
    order = session.get(WorkOrder, task.order_id)
    assert order is not None  # checked by _order_gone in this transaction
    follow_campaign = built_in(session, settings, "unresolved", at)
    tz = settings.service.tz
    next_day, _ = calendar_of(settings).nth_working_day_after(at.astimezone(tz).date(), 1)
    follow, _ = new_task(
        session, settings, follow_campaign, number=task.number, at=at, dedup_key=f"followup:{task.id}",
        customer_name=task.customer_name, preferred_agent=order.owner,
        preferred_until=datetime.combine(next_day, time(12), tzinfo=tz), call_id=task.call_id,
        notes=f"回访不满意 ({grade}) order {task.order_number} L{task.level}: follow up (R-97)",
    )
    session.flush()
    return follow.id


def _unreached(session: Session, settings: Settings, task: CallbackTask, campaign: CampaignView,
               outcome: AttemptResult, at: datetime, actor: str) -> None:
    task.attempts += 1
    task.result = outcome.value
    hours = campaign.calling_hours(settings.service.tz)
    nxt = retry_after(task.attempts, outcome, at=at, hours=hours, calendar=calendar_of(settings),
                      intervals=parse_retry(campaign.retry), max_attempts=campaign.max_attempts)
    local = at.astimezone(settings.service.tz)
    when = nxt.astimezone(settings.service.tz).strftime("%m-%d %H:%M") if nxt else "none"
    line = f"{local:%m-%d %H:%M} 未联系到 ({outcome.value}), attempt {task.attempts}, next {when}"
    append_note(task, line)
    if task.order_number is not None and task.level is not None:
        record_callback(session, task.order_number, task.level, actor=actor, at=at, reached=False, notes=line)
    if nxt is not None:
        task.status, task.next_at = "due", nxt
        return
    reason = ("customer_hung_up" if outcome in FINAL_UNREACHED
              else "attempts_used" if task.attempts >= campaign.max_attempts else "no_hours_left")
    task.status, task.skip_reason, task.finished_at = "unreached", reason, at


def book(
    session: Session,
    settings: Settings,
    task_id: int,
    when: datetime,
    *,
    now: datetime,
    by: str,
    customer_asked: bool = True,
) -> TaskView:
    """Call the task at ``when`` (R-103 「时间…的预约要充分考虑客户的时间安排」).

    A time the customer asked for is kept as it is, even outside the calling hours; otherwise it is moved to the
    first calling hour at or after it.
    """
    if when.tzinfo is None:
        raise CallbackError(f"booked time {when.isoformat()}: give a time zone (e.g. +08:00)")
    if when <= now:
        raise CallbackError(f"booked time {when.isoformat()} is not in the future")
    task = session.get(CallbackTask, task_id, with_for_update=True)
    if task is None:
        raise CallbackError(f"callback task {task_id} does not exist")
    if task.status != "due":
        raise CallbackError(f"callback task {task_id} is {task.status}: only a due task can be booked")
    campaign = campaigns_by_id(session)[task.campaign_id]
    hours = campaign.calling_hours(settings.service.tz)
    if hours.last_day is not None and when.astimezone(settings.service.tz).date() > hours.last_day:
        raise CallbackError(f"booked time {when.isoformat()} is after the campaign's last day {hours.last_day}")
    at = when
    if not customer_asked:
        moved = next_dial_time(hours, calendar_of(settings), when)
        if moved is None:
            raise CallbackError(f"campaign {campaign.name!r} has no calling hours after {when.isoformat()}")
        at = moved
    task.status, task.next_at, task.lease_holder, task.lease_until = "due", at, None, None
    task.booked_at = at if customer_asked else None
    local = at.astimezone(settings.service.tz)
    append_note(task, f"booked for {local:%m-%d %H:%M} by {by}" + (" (customer's time)" if customer_asked else ""))
    session.flush()
    return task_view(task, campaign)
