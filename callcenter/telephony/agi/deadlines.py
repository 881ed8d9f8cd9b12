"""Timeouts of many FastAGI connections on one loop timer.

Every connection needs a deadline (its ``agi_`` block within ``ENV_TIMEOUT``, each command's reply within its
limit), but most calls are over long before any deadline: a timer handle per connection, created and cancelled
for each call, was a twentieth of the server's CPU per call in bench/agi.py. Here a connection's deadline goes
into the bucket of the :data:`TICK` it falls in (one set insert), the loop runs one timer for the earliest
bucket, and a connection that ends takes itself out (one set discard). A deadline fires up to one tick late,
never early; the connection checks on firing whether what it waits for is really overdue, since its deadline
may have moved on (:meth:`callcenter.telephony.agi.connection.AGIConnection._watch`).
"""

from __future__ import annotations

import asyncio
import heapq
import time
import weakref
from typing import Protocol

TICK = 0.05  # seconds: how late a timeout may fire, at most

_now = time.perf_counter  # the clock of AGIConnection's deadlines


class Watched(Protocol):
    def _watch(self) -> None: ...


class Deadlines:
    """Calls ``_watch()`` on each watched object once its deadline's tick has passed."""

    def __init__(self, loop: asyncio.AbstractEventLoop, tick: float = TICK) -> None:
        self._loop = loop
        self._tick = tick
        self._buckets: dict[int, set[Watched]] = {}
        self._due: list[int] = []  # a heap of the buckets' tick numbers
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0

    def watch(self, item: Watched, when: float) -> int:
        """Watch ``item`` until ``when`` (``time.perf_counter`` seconds); returns the tick number, which
        :meth:`forget` needs and which says when it fires (``tick number * tick``, never before ``when``)."""
        index = int(when / self._tick) + 1
        bucket = self._buckets.get(index)
        if bucket is None:
            bucket = self._buckets[index] = set()
            heapq.heappush(self._due, index)
            if self._timer is None or index < self._timer_at:
                self._schedule(index)
        bucket.add(item)
        return index

    def fires_at(self, index: int) -> float:
        return index * self._tick

    def forget(self, item: Watched, index: int) -> None:
        bucket = self._buckets.get(index)
        if bucket is not None:
            bucket.discard(item)  # an emptied bucket is dropped when its tick comes

    def watching(self) -> int:
        """How many items are watched now (a count over every bucket: for tests and diagnostics)."""
        return sum(len(b) for b in self._buckets.values())

    def _schedule(self, index: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = index
        self._timer = self._loop.call_later(max(0.0, index * self._tick - _now()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = int(_now() / self._tick)
        while self._due and self._due[0] <= now:
            for item in self._buckets.pop(heapq.heappop(self._due), ()):
                item._watch()  # may watch again, for a later tick
        if self._due and (self._timer is None or self._timer_at > self._due[0]):
            self._schedule(self._due[0])


_PER_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines] = weakref.WeakKeyDictionary()


def deadlines_for(loop: asyncio.AbstractEventLoop) -> Deadlines:
    """The loop's shared :class:`Deadlines` (for connections made without a server)."""
    deadlines = _PER_LOOP.get(loop)
    if deadlines is None:
        deadlines = _PER_LOOP[loop] = Deadlines(loop)
    return deadlines
