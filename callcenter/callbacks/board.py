"""What the supervisor's callback page shows: each campaign's tasks by status, its attempts by result and its
satisfaction answers, and the latest attempts with their calls (R-103 「回访计划…并做好统计」, R-125, R-126)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.callbacks.models import CallbackAttempt, CallbackCampaign, CallbackTask

LATEST = 30


@dataclass
class CampaignRow:
    name: str
    kind: str
    mode: str
    group: str
    hours: str
    active: bool
    tasks: dict[str, int] = field(default_factory=dict)  # by status
    results: dict[str, int] = field(default_factory=dict)  # attempts by result
    satisfaction: dict[str, int] = field(default_factory=dict)  # done tasks by answer

    @property
    def total(self) -> int:
        return sum(self.tasks.values())

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "total": self.total}


def campaign_rows(session: Session) -> list[CampaignRow]:
    """Every campaign with its counts (three grouped queries, whatever the number of tasks)."""
    rows = {c.id: CampaignRow(c.name, c.kind, c.mode, c.agent_group, c.hours, c.active)
            for c in session.scalars(select(CallbackCampaign).order_by(CallbackCampaign.id))}
    for campaign_id, status, n in session.execute(
        select(CallbackTask.campaign_id, CallbackTask.status, func.count()).group_by(
            CallbackTask.campaign_id, CallbackTask.status)
    ):
        rows[campaign_id].tasks[status] = n
    for campaign_id, answer, n in session.execute(
        select(CallbackTask.campaign_id, CallbackTask.satisfaction, func.count())
        .where(CallbackTask.satisfaction.is_not(None))
        .group_by(CallbackTask.campaign_id, CallbackTask.satisfaction)
    ):
        rows[campaign_id].satisfaction[str(answer)] = n
    for campaign_id, result, n in session.execute(
        select(CallbackTask.campaign_id, CallbackAttempt.result, func.count())
        .join(CallbackTask, CallbackTask.id == CallbackAttempt.task_id)
        .where(CallbackAttempt.result.is_not(None))
        .group_by(CallbackTask.campaign_id, CallbackAttempt.result)
    ):
        rows[campaign_id].results[str(result)] = n
    return list(rows.values())


@dataclass(frozen=True)
class AttemptLine:
    at: datetime
    campaign: str
    task: int
    order: str | None
    result: str
    satisfaction: str | None
    agent: str | None
    call_id: str | None


def latest_attempts(session: Session, limit: int = LATEST) -> list[AttemptLine]:
    """The most recent finished attempts, newest first, with the task's answer."""
    query = (
        select(CallbackAttempt, CallbackTask, CallbackCampaign.name)
        .join(CallbackTask, CallbackTask.id == CallbackAttempt.task_id)
        .join(CallbackCampaign, CallbackCampaign.id == CallbackTask.campaign_id)
        .where(CallbackAttempt.ended_at.is_not(None))
        .order_by(CallbackAttempt.ended_at.desc(), CallbackAttempt.id.desc())
        .limit(limit)
    )
    return [
        AttemptLine(attempt.ended_at or attempt.started_at, name, task.id, task.order_number, attempt.result or "",
                    task.satisfaction if attempt.result == "reached" else None, attempt.agent, attempt.call_id)
        for attempt, task, name in session.execute(query)
    ]
