"""The overdue job: find deadlines past due and not met, and record one escalation per deadline.

R-77 (escalate level by level), R-83 (时效制): a missed clock is reported upward once, when it is first seen
missed — not on every run. "Once" holds across processes: the row is claimed with a conditional UPDATE
(``… SET escalated_at = now WHERE id = ? AND escalated_at IS NULL``), so of two schedulers racing on the same
deadline exactly one gets the row and writes the history event. Re-counting a deadline after a
re-classification clears its mark (service.py), because the new deadline is a new promise.

The job is a plain function of (session, now) so it is tested without a clock; :func:`run_overdue_job` is the
loop ``callcenter serve`` schedules, with the clock and the sleep injected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Select, select, update
from sqlalchemy.orm import Session

from callcenter.logs import get_logger
from callcenter.store import session_scope
from callcenter.tickets.deadlines import require_aware
from callcenter.tickets.models import WorkOrder, WorkOrderDeadline, WorkOrderHistory

log = get_logger(__name__)

ESCALATION_ACTOR = "sla-scheduler"
BATCH = 500


@dataclass(frozen=True)
class Escalation:
    number: str
    deadline: str
    due_at: datetime
    escalated_at: datetime


def escalate_overdue(session: Session, now: datetime, *, batch: int = BATCH) -> list[Escalation]:
    """Escalate every deadline that is due before ``now``, unmet, and not escalated yet (at most ``batch``)."""
    require_aware(now, "now")
    candidates = session.execute(overdue_candidates(now, batch)).all()
    done = []
    for deadline_id, order_id, name, due_at, number in candidates:
        claimed = cast("CursorResult[Any]", session.execute(
            update(WorkOrderDeadline)
            .where(WorkOrderDeadline.id == deadline_id, WorkOrderDeadline.escalated_at.is_(None),
                   WorkOrderDeadline.met_at.is_(None))
            .values(escalated_at=now)
            .execution_options(synchronize_session=False)
        )).rowcount
        if not claimed:
            continue  # another scheduler got it first, or it was met meanwhile
        assert due_at is not None  # the query asked for due_at < now
        overdue_by = int((now - due_at).total_seconds())
        session.add(WorkOrderHistory(
            order_id=order_id, at=now, actor=ESCALATION_ACTOR, action="escalated",
            changes={"deadline": name, "due_at": due_at.isoformat(), "overdue_seconds": overdue_by},
        ))
        log.warning("workorder.escalated", number=number, deadline=name, overdue_seconds=overdue_by)
        done.append(Escalation(number, name, due_at, now))
    session.flush()
    return done


def overdue_candidates(now: datetime, batch: int = BATCH) -> Select[int, int, str, datetime | None, str]:
    """Unmet, unescalated deadlines due before ``now``, oldest first (the partial index on unmet deadlines)."""
    return (
        select(WorkOrderDeadline.id, WorkOrderDeadline.order_id, WorkOrderDeadline.name, WorkOrderDeadline.due_at,
               WorkOrder.number)
        .join(WorkOrder, WorkOrder.id == WorkOrderDeadline.order_id)
        .where(WorkOrderDeadline.met_at.is_(None), WorkOrderDeadline.due_at < now,
               WorkOrderDeadline.escalated_at.is_(None))
        .order_by(WorkOrderDeadline.due_at)
        .limit(batch)
    )


async def run_overdue_job(
    url: str,
    clock: Callable[[], datetime],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    *,
    interval_seconds: float = 60.0,
    stop: asyncio.Event | None = None,
    on_run: Callable[[datetime, datetime, str | None], object] | None = None,
) -> None:
    """Run :func:`escalate_overdue` every ``interval_seconds`` until ``stop`` is set; ``on_run(at, next_due,
    error)`` hears of every round (the health board's record, R-119)."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        moment: datetime | None = None
        error = None
        try:
            moment = clock()
            await asyncio.to_thread(_run_once, url, moment)
        except Exception as exc:
            # A database hiccup must not end the job for the life of the service; the next round retries,
            # and escalations are recorded once whatever the number of rounds.
            error = str(exc) or type(exc).__name__
            log.exception("tickets.overdue_job_failed")
        if on_run is not None and moment is not None:
            on_run(moment, moment + timedelta(seconds=interval_seconds), error)
        await sleep(interval_seconds)


def _run_once(url: str, now: datetime) -> int:
    with session_scope(url) as session:
        total = 0
        while True:
            got = escalate_overdue(session, now)
            total += len(got)
            if len(got) < BATCH:
                return total
