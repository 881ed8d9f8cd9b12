"""The websocket hub resumes from the last id: no event lost, none repeated, even across a flush race."""

from __future__ import annotations

import asyncio
from typing import Any

from callcenter.calls import events as ev
from callcenter.calls.timeline import Timeline
from callcenter.web.hub import stream


async def _collect(timeline: Timeline, after: int, until: int, out: list[dict[str, Any]]) -> None:
    done = asyncio.Event()

    async def send(msg: dict[str, Any]) -> None:
        out.append(msg)
        if msg.get("id") == until:
            done.set()

    task = asyncio.create_task(stream(timeline, after, send))
    await asyncio.wait_for(done.wait(), 5)
    task.cancel()


async def test_resume_after_a_drop_gets_exactly_the_missed_events() -> None:
    timeline = Timeline(None)
    for i in range(5):
        timeline.append("c1", ev.DTMF, {"digit": str(i)})
    await timeline.flush()
    first: list[dict[str, Any]] = []
    await _collect(timeline, 0, 5, first)
    seen = [m["id"] for m in first if m["kind"] == "event"]
    assert seen == [1, 2, 3, 4, 5]
    # The page is offline while more calls happen; it comes back with its last id.
    for i in range(3):
        timeline.append("c2", ev.DTMF, {"digit": str(i)})
    await timeline.flush()
    second: list[dict[str, Any]] = []
    collector = asyncio.create_task(_collect(timeline, seen[-1], 10, second))
    await asyncio.sleep(0.05)
    for i in range(2):  # and these arrive live, after it reconnected
        timeline.append("c3", ev.DTMF, {"digit": str(i)})
    await timeline.flush()
    await collector
    assert [m["id"] for m in second if m["kind"] == "event"] == [6, 7, 8, 9, 10]


async def test_events_published_while_the_replay_is_read_are_not_repeated(sqlite_url: str) -> None:
    timeline = Timeline(sqlite_url)
    for i in range(3):
        timeline.append("c1", ev.DTMF, {"digit": str(i)})
    await timeline.flush()
    out: list[dict[str, Any]] = []
    sent = asyncio.Event()

    async def send(msg: dict[str, Any]) -> None:
        out.append(msg)
        if msg.get("id") == 6:
            sent.set()

    task = asyncio.create_task(stream(timeline, 0, send))
    # Flushing at once races the replay's database read: these may be both read and published.
    for i in range(3):
        timeline.append("c1", ev.DTMF, {"digit": str(i)})
    await timeline.flush()
    await asyncio.wait_for(sent.wait(), 5)
    task.cancel()
    ids = [m["id"] for m in out if m["kind"] == "event"]
    assert ids == [1, 2, 3, 4, 5, 6]


async def test_a_filter_hides_events_but_the_resume_point_moves_on() -> None:
    timeline = Timeline(None)
    timeline.append("mine", ev.DTMF, {"digit": "1"})
    timeline.append("other", ev.DTMF, {"digit": "2"})
    timeline.append("mine", ev.DTMF, {"digit": "3"})
    await timeline.flush()
    out: list[dict[str, Any]] = []

    async def send(msg: dict[str, Any]) -> None:
        out.append(msg)

    task = asyncio.create_task(stream(timeline, 0, send, lambda e: e.call_id == "mine"))
    await asyncio.sleep(0.05)
    task.cancel()
    assert [m["id"] for m in out if m["kind"] == "event"] == [1, 3]
    assert out[-1] == {"kind": "live", "last": 3}
