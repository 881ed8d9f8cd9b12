"""The R-125 / R-126 callback figures from a hand-built set of outcomes (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from callcenter.callbacks.campaigns import add_campaign
from callcenter.callbacks.errors import CallbackError
from callcenter.callbacks.figures import callback_figures
from callcenter.callbacks.models import CallbackAttempt, CallbackTask

pytestmark = pytest.mark.postgres
TZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 12, 7, tzinfo=TZ)
IN_DAY = DAY + timedelta(hours=10)

# (campaign, level, status, satisfaction, skip reason, created at): the hand-built outcomes of one day.
TASKS = [
    ("complaint", 1, "done", "满意", None, IN_DAY),
    ("complaint", 1, "done", "基本满意", None, IN_DAY),
    ("complaint", 1, "done", "不满意", None, IN_DAY),
    ("complaint", 1, "unreached", None, "attempts_used", IN_DAY),
    ("complaint", 1, "due", None, None, IN_DAY),
    ("complaint", 1, "cancelled", None, "order_reopened", IN_DAY),  # no longer owed
    ("closing", 1, "done", "满意", None, IN_DAY),
    ("closing", 1, "done", None, None, IN_DAY),  # no_key: reached, no answer to the survey
    ("closing", 1, "skipped", None, "do_not_call", IN_DAY),
    ("closing", 2, "done", "满意", None, IN_DAY),
    ("closing", 3, "unreached", None, "customer_hung_up", IN_DAY),
    ("missed", None, "done", None, None, IN_DAY),
    ("missed", None, "skipped", None, "withheld", IN_DAY),
    ("complaint", 1, "done", "满意", None, DAY - timedelta(minutes=1)),  # the day before: outside
]


def test_figures_of_a_hand_built_day(session: Session) -> None:
    campaigns = {k: add_campaign(session, name=k, kind=k, mode="preview", agent_group="g", script="callback_preview",
                                 at=DAY).id for k in ("complaint", "closing", "missed")}
    for i, (kind, level, status, grade, reason, at) in enumerate(TASKS):
        task = CallbackTask(campaign_id=campaigns[kind], level=level, number="13800138000", agent_group="g",
                            status=status, next_at=at, attempts=1, calls=1, satisfaction=grade, skip_reason=reason,
                            notes="", dedup_key=f"k{i}", created_at=at)
        session.add(task)
        session.flush()
        if i < 4:  # four attempts in the window, one the day before
            result = {0: "reached", 1: "reached", 2: "no_answer", 3: "busy"}[i]
            session.add(CallbackAttempt(task_id=task.id, started_at=at, ended_at=at, result=result, holder="d",
                                        notes=""))
    session.add(CallbackAttempt(task_id=task.id, started_at=DAY - timedelta(hours=1), result="busy", holder="d",
                                notes=""))
    session.flush()

    f = callback_figures(session, DAY, DAY + timedelta(days=1), TZ)
    # 5 complaint callbacks owed (the cancelled one is not), 3 done: 60 %; 2 of the 3 satisfied: 66.67 %.
    assert (f.complaints.owed, f.complaints.done, f.complaints.satisfied) == (5, 3, 2)
    assert f.complaint_callback_rate == 60.0 and f.complaint_satisfaction_rate == 66.67
    # R-126 per level: L1 = 5 complaint + 3 closing owed, 3 + 2 done.
    levels = {row["level"]: row for row in f.as_dict()["levels"]}
    assert (levels[1]["owed"], levels[1]["done"], levels[1]["completion"]) == (8, 5, 62.5)
    assert (levels[2]["owed"], levels[2]["done"], levels[2]["completion"]) == (1, 1, 100.0)
    assert (levels[3]["owed"], levels[3]["unreached"], levels[3]["completion"]) == (1, 1, 0.0)
    kinds = {row["kind"]: row for row in f.as_dict()["kinds"]}
    assert (kinds["missed"]["owed"], kinds["missed"]["done"], kinds["missed"]["skipped"]) == (2, 1, 1)
    assert f.attempts == 4 and f.attempts_reached == 2
    assert f.results == {"reached": 2, "no_answer": 1, "busy": 1}
    assert f.satisfaction == {"满意": 3, "基本满意": 1, "不满意": 1}
    assert f.skipped == {"do_not_call": 1, "withheld": 1}
    assert f.unreached == {"attempts_used": 1, "customer_hung_up": 1}


def test_an_empty_window_has_no_rates_and_a_backwards_one_is_refused(session: Session) -> None:
    f = callback_figures(session, DAY, DAY + timedelta(days=1), TZ)
    assert f.complaint_callback_rate is None and f.complaint_satisfaction_rate is None and f.attempts == 0
    with pytest.raises(CallbackError, match="before it starts"):
        callback_figures(session, DAY, DAY - timedelta(days=1), TZ)
