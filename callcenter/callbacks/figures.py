"""The callback figures of a window, for the daily report (R-125, R-126) and the supervisor.

Population: the callback tasks created in ``[start, end)`` (a closed order's callbacks are made when it closes,
so a day's tasks are that day's closings and missed calls). Tasks cancelled because their order was reopened or
deleted are no longer owed and leave every denominator; skipped ones (withheld number, do-not-call, no hours)
are owed but cannot be made, and count as not done.

- R-125 投诉回访率 「实际回访投诉数量/应回访投诉数量×100%」: complaint callbacks done ÷ complaint callbacks owed.
- R-125 投诉回访满意率 「回访满意数量/回访投诉数量×100%」: done with 满意 or 基本满意 (4 or 5 of 5) ÷ done.
- R-126 completion per level (L1 100 %, L2, L3; R-104 回访处理率 100 %): done ÷ owed, per order callback level.
- Attempts (by their start in the window): how many, how many reached, per result; satisfaction answers per
  grade; unreached tasks (attempts used up, hung up on the opening, no hours left) and skipped ones by reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.callbacks.errors import CallbackError
from callcenter.callbacks.models import CallbackAttempt, CallbackCampaign, CallbackTask
from callcenter.callbacks.outcomes import SATISFIED
from callcenter.callbacks.results import REACHED


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 2)


@dataclass
class Tally:
    """Tasks of one kind or level: owed (not cancelled), done, satisfied, unreached, skipped, pending."""

    owed: int = 0
    done: int = 0
    satisfied: int = 0
    unreached: int = 0
    skipped: int = 0
    pending: int = 0
    cancelled: int = 0

    def add(self, status: str, satisfaction: str | None, n: int) -> None:
        if status == "cancelled":
            self.cancelled += n
            return
        self.owed += n
        if status == "done":
            self.done += n
            self.satisfied += n if satisfaction in SATISFIED else 0
        elif status == "unreached":
            self.unreached += n
        elif status == "skipped":
            self.skipped += n
        else:
            self.pending += n

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "completion": _rate(self.done, self.owed),
                "satisfaction_rate": _rate(self.satisfied, self.done)}


@dataclass
class CallbackFigures:
    complaints: Tally = field(default_factory=Tally)
    levels: dict[int, Tally] = field(default_factory=dict)
    kinds: dict[str, Tally] = field(default_factory=dict)
    attempts: int = 0
    attempts_reached: int = 0
    results: dict[str, int] = field(default_factory=dict)
    satisfaction: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    unreached: dict[str, int] = field(default_factory=dict)

    @property
    def complaint_callback_rate(self) -> float | None:
        """R-125 投诉回访率, percent."""
        return _rate(self.complaints.done, self.complaints.owed)

    @property
    def complaint_satisfaction_rate(self) -> float | None:
        """R-125 投诉回访满意率, percent."""
        return _rate(self.complaints.satisfied, self.complaints.done)

    def as_dict(self) -> dict[str, Any]:
        return {
            "available": True,
            "reason": "",
            "complaint_callback_rate": self.complaint_callback_rate,
            "complaint_satisfaction_rate": self.complaint_satisfaction_rate,
            "complaints": self.complaints.as_dict(),
            "levels": [{"level": lv, **t.as_dict()} for lv, t in sorted(self.levels.items())],
            "kinds": [{"kind": k, **t.as_dict()} for k, t in sorted(self.kinds.items())],
            "attempts": self.attempts,
            "attempts_reached": self.attempts_reached,
            "results": dict(sorted(self.results.items())),
            "satisfaction": dict(sorted(self.satisfaction.items())),
            "skipped": dict(sorted(self.skipped.items())),
            "unreached": dict(sorted(self.unreached.items())),
        }


def callback_figures(session: Session, start: datetime, end: datetime, tz: tzinfo) -> CallbackFigures:
    """The figures of the tasks created and the attempts started in ``[start, end)`` (``tz``: the window's zone,
    for naive bounds — aware bounds are used as they are)."""
    start, end = (t if t.tzinfo else t.replace(tzinfo=tz) for t in (start, end))
    if end <= start:
        raise CallbackError(f"callback figures: the window ends ({end.isoformat()}) before it starts")
    out = CallbackFigures()
    rows = session.execute(
        select(CallbackCampaign.kind, CallbackTask.level, CallbackTask.status, CallbackTask.satisfaction,
               CallbackTask.skip_reason, func.count())
        .join(CallbackCampaign, CallbackCampaign.id == CallbackTask.campaign_id)
        .where(CallbackTask.created_at >= start, CallbackTask.created_at < end)
        .group_by(CallbackCampaign.kind, CallbackTask.level, CallbackTask.status, CallbackTask.satisfaction,
                  CallbackTask.skip_reason)
    ).all()
    satisfaction: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    unreached: Counter[str] = Counter()
    for kind, level, status, grade, reason, n in rows:
        out.kinds.setdefault(kind, Tally()).add(status, grade, n)
        if level is not None:
            out.levels.setdefault(level, Tally()).add(status, grade, n)
        if kind == "complaint":
            out.complaints.add(status, grade, n)
        if status == "done" and grade is not None:
            satisfaction[grade] += n
        if status == "skipped":
            skipped[reason or "unknown"] += n
        if status == "unreached":
            unreached[reason or "unknown"] += n
    results = session.execute(
        select(CallbackAttempt.result, func.count())
        .where(CallbackAttempt.started_at >= start, CallbackAttempt.started_at < end)
        .group_by(CallbackAttempt.result)
    ).all()
    for result, n in results:
        key = result or "in_progress"
        out.results[key] = out.results.get(key, 0) + n
        out.attempts += n
        out.attempts_reached += n if result in REACHED else 0
    out.satisfaction, out.skipped, out.unreached = dict(satisfaction), dict(skipped), dict(unreached)
    return out
