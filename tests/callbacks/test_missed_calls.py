"""Missed inbound calls become one callback task per caller and day, from the call timeline (R-95 item 5)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from callcenter.callbacks.follow import MissedCalls, follow_missed_calls
from callcenter.callbacks.models import CallbackTask
from callcenter.calls import events as ev
from callcenter.calls.timeline import Timeline, TimelineEvent
from callcenter.config import Settings
from callcenter.store import session_scope
from tests.callbacks.conftest import MONDAY_10


def event(call_id: str, kind: str, **data: object) -> TimelineEvent:
    return TimelineEvent(call_id, 1, kind, MONDAY_10, 0.0, dict(data))


def test_where_the_caller_gave_up() -> None:
    missed = MissedCalls()
    assert missed.feed(event("a", ev.CALL_OFFERED, caller="13800138000")) is None
    assert missed.feed(event("a", ev.HANGUP, disposition="abandoned")) == ("a", "13800138000", "ivr")
    for kind in (ev.CALL_OFFERED, ev.QUEUE_ENTERED):
        missed.feed(event("b", kind, caller="13800138001", group="default"))
    assert missed.feed(event("b", ev.HANGUP, disposition="no_agent")) == ("b", "13800138001", "queue")
    for kind in (ev.CALL_OFFERED, ev.QUEUE_ENTERED, ev.AGENT_RINGING):
        missed.feed(event("c", kind, caller="13800138002"))
    assert missed.feed(event("c", ev.HANGUP, disposition="abandoned")) == ("c", "13800138002", "ringing")


def test_served_calls_and_callbacks_we_dialled_are_not_missed() -> None:
    missed = MissedCalls()
    for kind in (ev.CALL_OFFERED, ev.QUEUE_ENTERED, ev.AGENT_RINGING, ev.AGENT_ANSWERED):
        missed.feed(event("served", kind, caller="13800138000"))
    assert missed.feed(event("served", ev.HANGUP, disposition="normal")) is None
    missed.feed(event("out", ev.CALL_OFFERED, caller="13900139000", direction="outbound"))
    assert missed.feed(event("out", ev.HANGUP, disposition="no_agent")) is None
    assert missed.calls == {}  # nothing is kept of ended calls


async def test_two_missed_calls_of_one_caller_in_a_day_are_one_task(cb_settings: Settings) -> None:
    timeline = Timeline(None)
    follower = asyncio.create_task(follow_missed_calls(timeline, cb_settings))
    await asyncio.sleep(0)
    try:
        for n, at in enumerate((MONDAY_10, MONDAY_10 + timedelta(hours=2))):
            call = f"missed-{n}"
            timeline.append(call, ev.CALL_OFFERED, {"caller": "13800138000"}, at=at)
            timeline.append(call, ev.QUEUE_ENTERED, {"group": "default"}, at=at + timedelta(seconds=9))
            gone = at + timedelta(seconds=40)
            timeline.append(call, ev.HANGUP, {"disposition": "abandoned", "by": "caller"}, at=gone)
        await timeline.flush()
        async with asyncio.timeout(10):
            while True:
                with session_scope(cb_settings.database.url) as session:
                    tasks = list(session.scalars(select(CallbackTask)))
                    if tasks and tasks[0].calls == 2:
                        break
                    session.expunge_all()
                await asyncio.sleep(0.05)
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
    (task,) = tasks
    assert (task.number, task.calls, task.status) == ("13800138000", 2, "due")
    assert "queue missed-0" in task.notes and "queue missed-1" in task.notes
