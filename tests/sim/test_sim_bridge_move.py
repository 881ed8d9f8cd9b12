"""The simulator moves a channel between Stasis bridges as Asterisk 22 does (tests/asterisk/bridge_probe.py runs
the same sequence against a real Asterisk, tests/asterisk/test_transfers.py)."""

from __future__ import annotations

from callcenter.sim.ari import AriSimulator, AriTrafficCheck
from callcenter.sim.ari_parties import SimCaller
from callcenter.sim.ari_server import AriServer
from callcenter.sim.clock import ScaledClock
from tests.asterisk import bridge_probe


async def test_a_channel_added_to_another_bridge_moves_there() -> None:
    sim = AriSimulator(clock=ScaledClock(0.02))
    check = AriTrafficCheck(sim.docs)
    sim.add_observer(check)
    async with AriServer(sim) as server:
        url = server.ari_url.replace("http", "ws") + f"/events?app={bridge_probe.APP}&api_key=callcenter:callcenter"

        async def place_two() -> None:
            for number in ("13800000001", "13800000002"):
                sim.place_call(SimCaller(number=number, args=()), app=bridge_probe.APP)

        assert await bridge_probe.run_bridge_move(url, place_two) == bridge_probe.EXPECTED
    assert check.errors == []
