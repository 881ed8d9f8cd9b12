"""The queue of due callbacks: the agent's preview list and the dialer's claim with a lease.

A task is due when ``status`` is ``due`` and ``next_at`` has come, within its campaign's calling hours (a time
the customer booked is kept even outside them, R-103). Claiming marks it ``dialing`` with a lease
(``lease_holder``, ``lease_until``) and moves ``next_at`` to the lease's end, and opens the attempt's row at once.
A crash leaves the task ``dialing`` with its attempt open; when the lease has run out the same condition makes it
due again, and the next claim closes the forgotten attempt as ``failed`` (it counts: the customer's phone may
have rung) before dialling again — the attempt record is never lost, and while the lease holds nobody else dials.

Two claimers never get the same task: PostgreSQL skips rows another transaction has locked
(``FOR UPDATE SKIP LOCKED``); on SQLite (one writer) and everywhere the claim's UPDATE is conditional on the
row being as it was read (status and ``next_at``), so a claimer that lost a race gets no row and moves on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, or_, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from callcenter.callbacks.campaigns import CampaignView, campaigns_by_id
from callcenter.callbacks.dnc import blocked
from callcenter.callbacks.errors import CallbackError, LeaseError, NotDialableError
from callcenter.callbacks.models import PENDING, PENDING_SQL, CallbackAttempt, CallbackTask
from callcenter.callbacks.numbers import check_dialable
from callcenter.callbacks.opening import opening_text
from callcenter.callbacks.results import AttemptResult
from callcenter.callbacks.schedule import next_dial_time
from callcenter.callbacks.tasks import TaskView, append_note, calendar_of, skip, task_view
from callcenter.config import Settings
from callcenter.logs import get_logger
from callcenter.tickets.models import OPEN_STATUSES, WorkOrder, WorkOrderCallback, WorkOrderHistory, WorkOrderLink
from callcenter.tickets.service import HistoryEntry

log = get_logger(__name__)

MAX_LEASE_SECONDS = 3600
MAX_LIMIT = 500


@dataclass(frozen=True)
class DueTask:
    """A due callback with what the agent sees before and while calling (the preview panel)."""

    task: TaskView
    script: str
    scale: str
    opening: str  # R-105, with the holiday greeting on the statutory holidays it names
    summary: str | None  # the order's
    history: tuple[HistoryEntry, ...]
    recordings: tuple[str, ...]  # the order's earlier recordings' ids
    attempt_id: int | None = None  # set by claim(): the attempt row opened for this dial


def _open_campaigns(campaigns: dict[int, CampaignView], settings: Settings, now: datetime,
                    mode: str | None) -> list[int]:
    calendar = calendar_of(settings)
    tz = settings.service.tz
    return [c.id for c in campaigns.values()
            if c.active and (mode is None or c.mode == mode) and c.calling_hours(tz).contains(now, calendar)]


def _due_query(now: datetime, group: str | None, agent: str | None, open_ids: list[int],
               booked_ids: list[int]) -> Select[CallbackTask]:
    """Due tasks of one group (or of all), in the queue's order: what ``ix_callback_tasks_pending`` (per group)
    and ``ix_callback_tasks_pending_next`` (all groups) hold in that order."""
    # The partial indexes' own condition, as literal SQL: a planner proves the index applies only from the same
    # constants (SQLite never from bound parameters; PostgreSQL not in a generic plan of a prepared statement).
    stmt = select(CallbackTask).where(text(PENDING_SQL), CallbackTask.next_at <= now)
    if group is not None:
        stmt = stmt.where(CallbackTask.agent_group == group)
    # inside the campaign's calling hours, or at a time the customer booked.
    stmt = stmt.where(or_(CallbackTask.campaign_id.in_(open_ids),
                          CallbackTask.booked_at.is_not(None) & CallbackTask.campaign_id.in_(booked_ids)))
    # a task kept for its receiver waits for them until the preference runs out.
    keep = or_(CallbackTask.preferred_agent.is_(None), CallbackTask.preferred_until <= now)
    if agent is not None:
        keep = or_(keep, CallbackTask.preferred_agent == agent)
    return stmt.where(keep).order_by(CallbackTask.next_at, CallbackTask.id)


def _pending(session: Session, now: datetime, groups: Sequence[str] | None, agent: str | None,
             open_ids: list[int], booked_ids: list[int], limit: int) -> list[CallbackTask]:
    """The first ``limit`` due tasks of ``groups`` (None: every group): one index range per group, merged."""
    if groups is None:
        return list(session.scalars(_due_query(now, None, agent, open_ids, booked_ids).limit(limit)))
    rows: list[CallbackTask] = []
    for group in dict.fromkeys(groups):
        rows.extend(session.scalars(_due_query(now, group, agent, open_ids, booked_ids).limit(limit)))
    rows.sort(key=lambda t: (t.next_at, t.id))
    return rows[:limit]


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise CallbackError(f"limit {limit}: 1 to {MAX_LIMIT}")


def due_for_agent(
    session: Session, agent_id: str, groups: Sequence[str], now: datetime, limit: int, *, settings: Settings
) -> list[DueTask]:
    """The preview queue of a ready agent: due tasks of preview campaigns in ``groups``, earliest first."""
    _check_limit(limit)
    campaigns = campaigns_by_id(session)
    open_ids = _open_campaigns(campaigns, settings, now, "preview")
    booked = [c.id for c in campaigns.values() if c.active and c.mode == "preview"]
    tasks = _pending(session, now, groups, agent_id, open_ids, booked, limit)
    return details_of(session, settings, [(t, None) for t in tasks], campaigns, now)


def due_tasks(session: Session, settings: Settings, now: datetime, limit: int, *,
              groups: Sequence[str] | None = None, mode: str | None = None) -> list[TaskView]:
    """What a claim would take now, without taking it (any agent, every mode unless ``mode``), earliest first."""
    _check_limit(limit)
    campaigns = campaigns_by_id(session)
    open_ids = _open_campaigns(campaigns, settings, now, mode)
    booked = [c.id for c in campaigns.values() if c.active and (mode is None or c.mode == mode)]
    tasks = _pending(session, now, groups, None, open_ids, booked, limit)
    return [task_view(t, campaigns[t.campaign_id]) for t in tasks]


def details(session: Session, settings: Settings, task: CallbackTask, campaign: CampaignView, now: datetime,
            attempt_id: int | None = None) -> DueTask:
    return details_of(session, settings, [(task, attempt_id)], {campaign.id: campaign}, now)[0]


def details_of(session: Session, settings: Settings, tasks: Sequence[tuple[CallbackTask, int | None]],
               campaigns: dict[int, CampaignView], now: datetime) -> list[DueTask]:
    """The preview of each task: its order's summary, history and recordings read for all of them at once (three
    queries, not five per task — bench/dialer.py), and the R-105 opening of the day."""
    order_ids = sorted({t.order_id for t, _ in tasks if t.order_id is not None and t.order_number is not None})
    orders: dict[int, WorkOrder] = {}
    history: dict[int, list[HistoryEntry]] = {}
    recordings: dict[int, list[str]] = {}
    if order_ids:
        orders = {o.id: o for o in session.scalars(select(WorkOrder).where(WorkOrder.id.in_(order_ids)))}
        for link in session.scalars(select(WorkOrderLink).where(
                WorkOrderLink.order_id.in_(order_ids), WorkOrderLink.kind == "recording").order_by(WorkOrderLink.id)):
            recordings.setdefault(link.order_id, []).append(link.ref)
        for h in session.scalars(select(WorkOrderHistory).where(WorkOrderHistory.order_id.in_(order_ids))
                                 .order_by(WorkOrderHistory.id)):
            history.setdefault(h.order_id, []).append(HistoryEntry(h.at, h.actor, h.action, dict(h.changes)))
    day = now.astimezone(settings.service.tz).date()
    out = []
    for task, attempt_id in tasks:
        campaign = campaigns[task.campaign_id]
        order = orders.get(task.order_id) if task.order_id is not None else None
        key = task.order_id if order is not None else None
        out.append(DueTask(
            task=task_view(task, campaign), script=campaign.script, scale=campaign.scale,
            opening=opening_text(day, task.customer_name, settings.service.center, campaign.subject),
            summary=order.summary if order is not None else None,
            history=tuple(history.get(key, ())) if key is not None else (),
            recordings=tuple(recordings.get(key, ())) if key is not None else (), attempt_id=attempt_id,
        ))
    return out


def claim(
    session: Session,
    *,
    settings: Settings,
    now: datetime,
    holder: str,
    lease_seconds: float,
    mode: str,
    group: str | None = None,
    task_id: int | None = None,
    agent: str | None = None,
    limit: int = 1,
) -> list[DueTask]:
    """Mark up to ``limit`` due tasks ``dialing`` for ``holder`` and open their attempts.

    ``task_id``: that task only (the agent clicked it in the preview list); it is refused with one
    :class:`NotDialableError` when it must not be dialled. Otherwise tasks that must not be dialled are set
    aside (skipped or cancelled, with the reason) and the next ones taken. ``agent``: the agent the calls are
    for (tasks kept for another agent are left to them).
    """
    _check_limit(limit)
    if not holder or len(holder) > 64:
        raise CallbackError("claim: holder must be 1 to 64 characters (who dials)")
    if not 1 <= lease_seconds <= MAX_LEASE_SECONDS:
        raise CallbackError(f"lease {lease_seconds} s: 1 to {MAX_LEASE_SECONDS} seconds")
    if now.tzinfo is None:
        raise CallbackError("claim: naive datetime for now")
    if session.get_bind().dialect.name == "sqlite":
        # One writer: take SQLite's write lock before reading, so the rows read are the rows updated.
        session.execute(text("UPDATE callback_tasks SET id = id WHERE 0 = 1"))
    campaigns = campaigns_by_id(session)
    open_ids = _open_campaigns(campaigns, settings, now, mode)
    booked = [c.id for c in campaigns.values() if c.active and c.mode == mode]
    if task_id is not None:
        return [_claim_one(session, settings, campaigns, task_id, now, holder, lease_seconds, mode, open_ids)]
    stmt = _due_query(now, group, agent, open_ids, booked)
    claimed: list[DueTask] = []
    for _round in range(4):  # rows set aside or lost to another claimer are replaced by the next ones
        want = limit - len(claimed)
        rows = list(session.scalars(stmt.limit(want * 2).with_for_update(skip_locked=True)))
        for task in rows:
            if len(claimed) == limit:
                break
            try:
                _check(session, settings, task, campaigns[task.campaign_id], now)
            except NotDialableError as exc:
                _set_aside(session, task, exc, now)
                continue
            got = _take(session, settings, task, campaigns[task.campaign_id], now, holder, lease_seconds)
            if got is not None:
                claimed.append(got)
        if len(claimed) == limit or len(rows) < want * 2:
            break
    return claimed


def _claim_one(session: Session, settings: Settings, campaigns: dict[int, CampaignView], task_id: int,
               now: datetime, holder: str, lease_seconds: float, mode: str, open_ids: list[int]) -> DueTask:
    task = session.get(CallbackTask, task_id, with_for_update=True)
    if task is None:
        raise CallbackError(f"callback task {task_id} does not exist")
    campaign = campaigns[task.campaign_id]
    if campaign.mode != mode:
        raise CallbackError(f"callback task {task_id} is in a {campaign.mode} campaign, not {mode}")
    leased = task.status == "dialing" and task.next_at > now
    if task.status not in PENDING or leased:
        state = f"being dialled by {task.lease_holder}" if leased else task.status
        raise CallbackError(f"callback task {task_id} is {state}, not due")
    _check(session, settings, task, campaign, now)
    if task.booked_at is None and campaign.id not in open_ids:
        raise NotDialableError(f"callback task {task_id}: outside the calling hours of {campaign.name!r} "
                               f"(R-103 不打扰客户)", "outside_hours")
    got = _take(session, settings, task, campaign, now, holder, lease_seconds)
    if got is None:
        raise CallbackError(f"callback task {task_id} was claimed by someone else just now")
    return got


def _check(session: Session, settings: Settings, task: CallbackTask, campaign: CampaignView, now: datetime) -> None:
    """Refuse what must not be dialled: the order reopened or deleted or its callback done, a do-not-call or
    undialable number, a campaign with no calling hours left."""
    if task.order_number is not None:
        if task.order_id is None:
            raise NotDialableError(f"work order {task.order_number} was deleted: no callback", "order_deleted")
        order = session.get(WorkOrder, task.order_id)
        if order is None:
            raise NotDialableError(f"work order {task.order_number} was deleted: no callback", "order_deleted")
        if order.status in OPEN_STATUSES:
            raise NotDialableError(f"work order {task.order_number} was reopened ({order.status}): no callback "
                                   "until it is closed again", "order_reopened")
        if task.level is not None:
            done = session.scalar(select(WorkOrderCallback.done_at).where(
                WorkOrderCallback.order_id == task.order_id, WorkOrderCallback.level == task.level))
            if done is not None:
                raise NotDialableError(f"work order {task.order_number}: the level-{task.level} callback was "
                                       "already recorded", "already_done")
    check_dialable(task.number)
    reason = blocked(session, task.number)
    if reason is not None:
        raise NotDialableError(f"{task.number} is on the do-not-call list: {reason}", "do_not_call")
    hours = campaign.calling_hours(settings.service.tz)
    if task.booked_at is None and next_dial_time(hours, calendar_of(settings), now) is None:
        raise NotDialableError(f"campaign {campaign.name!r} has no calling hours left", "no_hours_left")


def _set_aside(session: Session, task: CallbackTask, exc: NotDialableError, now: datetime) -> None:
    status = "cancelled" if exc.reason in ("order_deleted", "order_reopened", "already_done") else "skipped"
    _close_forgotten_attempt(session, task, now)
    skip(task, exc.reason, now, status)
    append_note(task, f"{status}: {exc}")
    session.flush()
    log.info("callback.set_aside", task=task.id, reason=exc.reason)


def _close_forgotten_attempt(session: Session, task: CallbackTask, now: datetime) -> bool:
    """Close the attempt of a lease that ran out (its holder crashed): it counts, as ``failed``."""
    if task.status != "dialing":
        return False
    open_attempts = session.scalars(select(CallbackAttempt).where(
        CallbackAttempt.task_id == task.id, CallbackAttempt.ended_at.is_(None)))
    for attempt in open_attempts:
        attempt.ended_at, attempt.result = task.lease_until or now, AttemptResult.FAILED.value
        attempt.notes = f"lease of {attempt.holder} ran out without a result"
    task.attempts += 1
    append_note(task, f"lease of {task.lease_holder} ran out without a result")
    return True


def _take(session: Session, settings: Settings, task: CallbackTask, campaign: CampaignView, now: datetime,
          holder: str, lease_seconds: float) -> DueTask | None:
    until = now + timedelta(seconds=lease_seconds)
    was_status, was_next = task.status, task.next_at
    if was_status == "dialing":
        _close_forgotten_attempt(session, task, now)
        if task.attempts >= campaign.max_attempts:
            skip(task, "attempts_used", now, "unreached")
            session.flush()
            return None
    session.flush()
    # Compare-and-set: only if nobody changed the row since it was read.
    changed = session.execute(
        update(CallbackTask)
        .where(CallbackTask.id == task.id, CallbackTask.status == was_status, CallbackTask.next_at == was_next)
        .values(status="dialing", lease_holder=holder, lease_until=until, next_at=until)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        session.expire(task)
        return None
    for key, value in (("status", "dialing"), ("lease_holder", holder), ("lease_until", until), ("next_at", until)):
        set_committed_value(task, key, value)  # what the UPDATE wrote, without reading the row back
    attempt = CallbackAttempt(task_id=task.id, started_at=now, holder=holder, notes="")
    session.add(attempt)
    session.flush()
    log.info("callback.claimed", task=task.id, holder=holder, lease_until=until.isoformat())
    return details(session, settings, task, campaign, now, attempt.id)


def release(session: Session, task_id: int, *, holder: str, at: datetime, reason: str) -> None:
    """Give back a claimed task that was never dialled (the preview agent did not pick up): its open attempt
    is removed, not counted, and the task is due again at once."""
    task = session.get(CallbackTask, task_id, with_for_update=True)
    if task is None or task.status != "dialing" or task.lease_holder != holder:
        raise LeaseError(f"callback task {task_id} is not being dialled by {holder}: nothing to release")
    for attempt in session.scalars(
        select(CallbackAttempt).where(CallbackAttempt.task_id == task.id, CallbackAttempt.ended_at.is_(None))
    ):
        session.delete(attempt)
    task.status, task.lease_holder, task.lease_until, task.next_at = "due", None, None, at
    append_note(task, f"not dialled: {reason}")
    session.flush()
