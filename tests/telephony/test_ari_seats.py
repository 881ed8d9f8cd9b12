"""The centre's seats seen from the ARI application (issue 17): a process that takes over a dead one's call
frees that call's seat at once, instead of one lease later."""

from __future__ import annotations

import asyncio

from ari_harness import start

from callcenter.calls.agents import AgentState
from callcenter.calls.seat_pool import SeatPool
from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.sim.ari import LocalLink
from callcenter.sim.ari_parties import SimAgent, SimCaller


async def test_the_agent_of_a_call_taken_over_is_freed_without_waiting_for_the_lease(settings: Settings) -> None:
    timeline = Timeline(None)
    placed: dict[str, str] = {}

    async def previous_process(sim) -> None:  # type: ignore[no-untyped-def]
        link = LocalLink(sim, settings.telephony.ari_app)
        caller = sim.place_call(SimCaller(args=("hotline",), hangup_at=20.0))
        sim.handle("POST", f"/channels/{caller.id}/answer", {})
        timeline.append(caller.id, "call.offered", {"entry": "hotline"})
        await timeline.flush()
        dead = SeatPool(settings.database.url, holder="host-a:1", lease_seconds=3600)  # long: no sweep helps
        await dead.reserve("default", call_id=caller.id)
        await dead.answered("a-801", caller.id)
        answered = asyncio.Event()
        sim.add_observer(lambda kind, m: answered.set() if kind == "event" and m.get("type") == "StasisStart"
                         and m.get("channel", {}).get("id") == "leg-of-the-dead" else None)
        sim.handle("POST", "/channels", {"endpoint": "PJSIP/801", "app": settings.telephony.ari_app,
                                         "appArgs": f"agent,{caller.id},a-801", "channelId": "leg-of-the-dead"})
        async with asyncio.timeout(5):
            await answered.wait()  # the agent picked up: the conversation the dead process carried
        await link.close()  # the process is gone; its channels stay in Stasis
        placed.update(caller=caller.id)

    h = await start(settings, agents=[("a-801", SimAgent("PJSIP/801", answer_at_ring=1))], timeline=timeline,
                    before_service=previous_process)
    try:
        async with asyncio.timeout(h.clock.real(30) + 5):
            await h.sim.wait_ended("leg-of-the-dead")  # hung up by the taker
            while True:  # the release follows the hang-up in the taker's reconcile
                await h.pool.refresh()
                if h.pool.get("a-801").state is not AgentState.ON_CALL:
                    break
                await asyncio.sleep(0.01)
            seat = h.pool.get("a-801")
            assert seat.state is AgentState.AFTER_CALL and seat.call_id is None  # wrap-up: its call was cut
            await h.sim.wait_ended(placed["caller"])
    finally:
        await h.close()
    assert h.check.errors == []
