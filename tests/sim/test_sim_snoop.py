"""Snoop channels in the simulated Asterisk 22 (res_stasis_snoop): who hears whom for each spy and whisper
direction, the errors of ``POST channels/{id}/snoop``, and a Snoop hanging up with the channel it spies on."""

from __future__ import annotations

import asyncio
import json

import pytest

from callcenter.sim.ari import AriSimulator, AriTrafficCheck, LocalLink, SimChannel
from callcenter.sim.ari_parties import SimAgent, SimCaller
from callcenter.sim.clock import ScaledClock

AGENT, SEAT, CALLER = "PJSIP/801", "PJSIP/9001", "caller 13800138000"


async def answered(sim: AriSimulator, link: LocalLink, endpoint: str, channel_id: str) -> SimChannel:
    status, _ = sim.handle("POST", "/channels", {"endpoint": endpoint, "app": "app", "channelId": channel_id})
    assert status == 200
    async with asyncio.timeout(5):
        while True:
            message = json.loads(await link.recv())
            if message["type"] == "StasisStart" and message["channel"]["id"] == channel_id:
                return sim.channels[channel_id]


async def a_call_and_a_seat(sim: AriSimulator) -> tuple[LocalLink, SimChannel, SimChannel, SimChannel]:
    link = LocalLink(sim, "app")
    sim.add_agent(SimAgent(AGENT))
    sim.add_agent(SimAgent(SEAT))
    caller = sim.place_call(SimCaller(), app="app")
    sim.handle("POST", f"/channels/{caller.id}/answer", {})
    agent = await answered(sim, link, AGENT, "agent-1")
    seat = await answered(sim, link, SEAT, "seat-1")
    for bridge, members in (("call", f"{caller.id},agent-1"), ("monitor", "seat-1")):
        sim.handle("POST", "/bridges", {"type": "mixing", "bridgeId": bridge})
        assert sim.handle("POST", f"/bridges/{bridge}/addChannel", {"channel": members})[0] == 204
    return link, caller, agent, seat


@pytest.mark.parametrize(("spy", "whisper", "seat_hears", "agent_hears", "caller_hears"), [
    ("both", "none", {CALLER, AGENT}, {CALLER}, {AGENT}),  # 监听
    ("both", "out", {CALLER, AGENT}, {CALLER, SEAT}, {AGENT}),  # 耳语
    ("both", "both", {CALLER, AGENT}, {CALLER, SEAT}, {AGENT, SEAT}),  # 强插
    ("in", "none", {AGENT}, {CALLER}, {AGENT}),  # the agent's own voice only
    ("out", "none", {CALLER}, {CALLER}, {AGENT}),  # what the agent hears only
    ("none", "in", set(), {CALLER}, {AGENT, SEAT}),  # into the agent's voice: the caller hears, the agent not
])
async def test_who_hears_whom_through_a_snoop_on_the_agent(spy: str, whisper: str, seat_hears: set[str],
                                                          agent_hears: set[str], caller_hears: set[str]) -> None:
    sim = AriSimulator(clock=ScaledClock(0.01))
    check = AriTrafficCheck(sim.docs)
    sim.add_observer(check)
    _, caller, agent, seat = await a_call_and_a_seat(sim)
    status, snoop = sim.handle("POST", "/channels/agent-1/snoop",
                               {"spy": spy, "whisper": whisper, "app": "app", "appArgs": "snoop,x", "snoopId": "s1"})
    assert status == 200 and snoop["name"].startswith("Snoop/agent-1-")
    sim.handle("POST", "/bridges/monitor/addChannel", {"channel": "s1"})
    for chan in (caller, agent, seat):
        sim.speak(chan.id, 0.5)

    def voices(chan: SimChannel) -> set[str]:
        return {who for _, kind, who in chan.heard if kind == "voice"}

    assert (voices(seat), voices(agent), voices(caller)) == (seat_hears, agent_hears, caller_hears)
    assert check.seen.get("StasisStart") == 4  # caller, agent, seat and the Snoop (at once, with its appArgs)
    assert check.errors == []


async def test_snoop_refusals_and_a_snoop_ends_with_its_channel() -> None:
    sim = AriSimulator(clock=ScaledClock(0.01))
    check = AriTrafficCheck(sim.docs)
    sim.add_observer(check)
    _, caller, agent, _ = await a_call_and_a_seat(sim)
    assert sim.handle("POST", "/channels/agent-1/snoop", {"app": "app"}) == (
        400, {"message": "Direction must be specified for at least spy or whisper"})
    assert sim.handle("POST", "/channels/nobody/snoop", {"app": "app", "spy": "both"})[0] == 404
    assert sim.handle("POST", "/channels/agent-1/snoop/s1", {"app": "app", "spy": "both"})[0] == 200
    sim.caller_hangs_up(agent.id)
    assert "s1" not in sim.channels and sim.ended["s1"].done()
    assert caller.ended_t is None  # the Snoop's end touches nothing else
    assert check.errors == []
