"""Shared FastAGI timeouts (callcenter.telephony.agi.deadlines): never early, at most one tick late, forgettable.

The deadlines run on the module's clock, replaced here by a hand-moved one; the loop's timer only decides when
the check runs, so each test moves the clock and then lets the loop turn."""

from __future__ import annotations

import asyncio

import pytest

from callcenter.telephony.agi import deadlines as mod
from callcenter.telephony.agi.connection import AGIConnection
from callcenter.telephony.agi.deadlines import Deadlines, deadlines_for


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Item:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.fired: list[float] = []

    def _watch(self) -> None:
        self.fired.append(self.clock.now)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(mod, "_now", c)
    return c


async def test_a_deadline_fires_in_its_tick_never_before(clock: Clock) -> None:
    d = Deadlines(asyncio.get_running_loop(), tick=0.05)
    item = Item(clock)
    tick = d.watch(item, clock.now + 5.0)
    assert clock.now + 5.0 <= d.fires_at(tick) <= clock.now + 5.0 + 0.05 + 1e-9
    clock.now += 4.99
    d._fire()  # the loop's timer may run early; the clock decides
    assert item.fired == []
    clock.now = d.fires_at(tick)
    d._fire()
    assert item.fired == [clock.now]
    assert d.watching() == 0


async def test_forgotten_items_do_not_fire_and_others_in_the_tick_still_do(clock: Clock) -> None:
    d = Deadlines(asyncio.get_running_loop(), tick=0.05)
    a, b = Item(clock), Item(clock)
    ta = d.watch(a, clock.now + 1.0)
    tb = d.watch(b, clock.now + 1.0)
    assert ta == tb
    d.forget(a, ta)
    clock.now += 1.1
    d._fire()
    assert (a.fired, len(b.fired)) == ([], 1)


async def test_earlier_deadlines_move_the_timer_and_order_is_kept(clock: Clock) -> None:
    loop = asyncio.get_running_loop()
    d = Deadlines(loop, tick=0.05)
    late, early = Item(clock), Item(clock)
    d.watch(late, clock.now + 10.0)
    first_timer = d._timer
    d.watch(early, clock.now + 1.0)
    assert d._timer is not first_timer and first_timer is not None and first_timer.cancelled()
    clock.now += 1.06
    d._fire()
    assert (len(early.fired), late.fired) == (1, [])
    assert d._timer is not None and d._timer_at == d._due[0]  # re-armed for the late one
    clock.now += 9.0
    d._fire()
    assert len(late.fired) == 1 and d._timer is None and not d._due


async def test_an_item_that_watches_again_while_firing_is_kept_for_its_new_tick(clock: Clock) -> None:
    d = Deadlines(asyncio.get_running_loop(), tick=0.05)

    class Again(Item):
        def _watch(self) -> None:
            super()._watch()
            if len(self.fired) == 1:
                d.watch(self, self.clock.now + 2.0)

    item, other = Again(clock), Item(clock)
    d.watch(item, clock.now + 1.0)
    d.watch(other, clock.now + 1.5)
    clock.now += 1.06
    d._fire()
    assert len(item.fired) == 1
    assert d._timer_at == d._due[0]  # the earliest pending tick (other's), not the re-watched one
    clock.now += 3.0
    d._fire()
    assert (len(item.fired), len(other.fired)) == (2, 1)


async def test_the_loop_timer_runs_the_check() -> None:
    d = Deadlines(asyncio.get_running_loop(), tick=0.01)
    fired = asyncio.Event()

    class Real:
        def _watch(self) -> None:
            fired.set()

    started = mod._now()
    d.watch(Real(), started + 0.03)
    async with asyncio.timeout(2):
        await fired.wait()
    assert mod._now() - started >= 0.03


async def test_one_shared_deadlines_per_loop_and_connections_use_it() -> None:
    loop = asyncio.get_running_loop()
    assert deadlines_for(loop) is deadlines_for(loop)
    conn = AGIConnection(env_timeout=5.0)

    class Transport(asyncio.Transport):
        def close(self) -> None:
            pass

        def is_closing(self) -> bool:
            return False

    conn.connection_made(Transport())
    assert deadlines_for(loop).watching() >= 1
    await conn.close()  # a closed connection is no longer watched (nothing held for its 5 s)
    assert conn not in [i for b in deadlines_for(loop)._buckets.values() for i in b]
