"""The ARI service over the in-process link (no sockets): event routing and reconcile edge cases."""

from __future__ import annotations

import asyncio
from typing import Any

from ari_harness import start_local

from callcenter.config import Settings
from callcenter.sim.ari import AriSimulator, AriTrafficCheck
from callcenter.sim.ari_parties import SimCaller
from callcenter.sim.clock import ScaledClock
from callcenter.telephony.ari import AriService


async def start(settings: Settings, sim: AriSimulator) -> tuple[AriService, asyncio.Task[Any]]:
    return await start_local(settings, sim)


async def test_a_call_arriving_during_the_reconcile_is_not_taken_for_gone(settings: Settings) -> None:
    """The reconcile's GET /channels snapshot predates the call: the call must live on, not be ended."""
    sim = AriSimulator(clock=ScaledClock(0.02))
    check = AriTrafficCheck(sim.docs)
    sim.add_observer(check)
    arrived: list[str] = []

    def call_arrives_mid_reconcile(kind: str, message: dict[str, Any]) -> None:
        op = message.get("operation")
        if kind == "response" and op is not None and op.nickname == "list" and op.resource == "channels":
            if not arrived:
                arrived.append(sim.place_call(SimCaller(args=("hotline",), hangup_at=6.0)).id)

    sim.add_observer(call_arrives_mid_reconcile)
    service, task = await start(settings, sim)
    try:
        async with asyncio.timeout(3):
            ended = await sim.wait_ended(arrived[0])
            outcome = await service.outcome(arrived[0])
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [kind for _, kind, _ in ended.heard][:2] == ["ringing", "answered"]
    assert outcome.by == "caller"
    assert check.errors == []


async def test_an_unknown_entry_is_served_by_main_and_events_of_strangers_are_ignored(settings: Settings) -> None:
    sim = AriSimulator(clock=ScaledClock(0.02))
    service, task = await start(settings, sim)
    try:
        service.on_event({"type": "ChannelDtmfReceived", "digit": "1", "channel": {"id": "nobody"}})
        service.on_event({"type": "PlaybackFinished", "playback": {"id": "nothing"}})
        chan = sim.place_call(SimCaller(args=("no-such-entry",), hangup_at=3.0))
        async with asyncio.timeout(3):
            await sim.wait_ended(chan.id)
            await service.outcome(chan.id)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await service.timeline.flush()
    call_offered = next(e for e in service.timeline.events(chan.id) if e.type == "call.offered")
    assert call_offered.data["entry"] == "main" and call_offered.data["script"] == "main_menu"
