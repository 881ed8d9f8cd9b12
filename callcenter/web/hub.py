"""The websocket hub: timeline events pushed to the pages, each with its sequence number, resumable.

A page connects with ``?after=<last id it has seen>`` (0 on first load). The hub follows the centre's feed
(:mod:`callcenter.calls.fanout`: every process's events on PostgreSQL, this process's on SQLite; any
:class:`~callcenter.calls.fanout.EventSource` will do, a bare timeline too). It subscribes *first*, then
replays the durable events with ``id > after`` (``since``), then forwards live events, dropping any whose id
it already sent. Subscribing before reading closes the gap between the two, and the id filter removes the
overlap, so a dropped connection resumes without losing or repeating an event, even on another process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

from callcenter.calls.fanout import EventSource
from callcenter.calls.timeline import TimelineEvent
from callcenter.logs import get_logger

log = get_logger(__name__)

REPLAY_BATCH = 500
Visible = Callable[[TimelineEvent], bool]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def message(event: TimelineEvent) -> dict[str, Any]:
    """The wire form of one event: the timeline's own dict (``id`` is the resumable sequence number)."""
    return {"kind": "event", **event.as_dict()}


async def in_order(timeline: EventSource, after: int) -> AsyncGenerator[TimelineEvent | None, None]:
    """Every durable event with ``id > after`` and then every new one, each once and in id order. Yields
    ``None`` once, between the replay and the live part (the page shows when it has caught up)."""
    queue = timeline.subscribe()
    try:
        last = after
        while True:
            batch = await asyncio.to_thread(timeline.since, last, REPLAY_BATCH)
            for event in batch:
                if event.id is not None and event.id > last:
                    last = event.id
                    yield event
            if len(batch) < REPLAY_BATCH:
                break
        yield None
        while True:
            event = await queue.get()
            if event.id is not None and event.id > last:  # already sent during the replay otherwise
                last = event.id
                yield event
    finally:
        timeline.unsubscribe(queue)


async def stream(timeline: EventSource, after: int, send: Send, visible: Visible | None = None) -> None:
    """Send every event after ``after`` and then every new one, in id order, until cancelled or send fails."""
    last = after
    async with aclosing(in_order(timeline, after)) as events:  # unsubscribe at once when send fails
        async for event in events:
            if event is None:
                await send({"kind": "live", "last": last})
                continue
            last = event.id or last
            if visible is None or visible(event):
                await send(message(event))


async def follow(timeline: EventSource, feed: Callable[[TimelineEvent], Any], after: int = 0) -> None:
    """Feed ``feed`` every event after ``after`` and then live ones (the live board's subscription)."""
    async with aclosing(in_order(timeline, after)) as events:
        async for event in events:
            if event is not None:
                feed(event)
