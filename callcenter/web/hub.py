"""The websocket hub: timeline events pushed to the pages, each with its sequence number, resumable.

A page connects with ``?after=<last id it has seen>`` (0 on first load). The hub subscribes to the timeline
*first*, then replays the durable events with ``id > after`` (:meth:`Timeline.since`), then forwards live
events, dropping any whose id it already sent. Subscribing before reading closes the gap between the two, and
the id filter removes the overlap, so a dropped connection resumes without losing or repeating an event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from callcenter.calls.timeline import Timeline, TimelineEvent
from callcenter.logs import get_logger

log = get_logger(__name__)

REPLAY_BATCH = 500
Visible = Callable[[TimelineEvent], bool]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def message(event: TimelineEvent) -> dict[str, Any]:
    """The wire form of one event: the timeline's own dict (``id`` is the resumable sequence number)."""
    return {"kind": "event", **event.as_dict()}


async def stream(timeline: Timeline, after: int, send: Send, visible: Visible | None = None) -> None:
    """Send every event after ``after`` and then every new one, in id order, until cancelled or send fails."""
    queue = timeline.subscribe()
    try:
        last = after
        while True:
            batch = await asyncio.to_thread(timeline.since, last, REPLAY_BATCH)
            for event in batch:
                last = await _forward(event, last, send, visible)
            if len(batch) < REPLAY_BATCH:
                break
        await send({"kind": "live", "last": last})
        while True:
            event = await queue.get()
            last = await _forward(event, last, send, visible)
    finally:
        timeline.unsubscribe(queue)


async def _forward(event: TimelineEvent, last: int, send: Send, visible: Visible | None) -> int:
    if event.id is None or event.id <= last:
        return last  # already sent during the replay
    if visible is None or visible(event):
        await send(message(event))
    return event.id


async def follow(timeline: Timeline, feed: Callable[[TimelineEvent], Any], after: int = 0) -> None:
    """Feed ``feed`` every event after ``after`` and then live ones (the live board's subscription)."""

    queue = timeline.subscribe()
    try:
        last = after
        while True:
            batch = await asyncio.to_thread(timeline.since, last, REPLAY_BATCH)
            for event in batch:
                feed(event)
                last = event.id or last
            if len(batch) < REPLAY_BATCH:
                break
        while True:
            event = await queue.get()
            if event.id is not None and event.id > last:
                feed(event)
                last = event.id
    finally:
        timeline.unsubscribe(queue)
