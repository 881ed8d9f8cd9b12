"""A caller who hangs up while an agent's phone rings (R-124: abandoned while ringing) leaves the seat free.

Found by the three-process scale test: the hang-up ends the call's tasks while the ring's own clean-up (hang up the
agent leg, then release the seat) was still waiting for Asterisk, so the release never ran and the process went
on renewing the seat's lease: the agent stayed "ringing" for good and was never offered a call again.
"""

from __future__ import annotations

from callcenter.calls.agents import AgentState
from callcenter.config import Settings
from callcenter.sim.ari_parties import SimAgent, SimCaller
from tests.telephony.ari_harness import start


async def test_a_caller_gone_while_the_agent_rings_frees_the_seat(settings: Settings) -> None:
    # The IVR answers, welcomes (3 s) and rings agent1, who would pick up only in the third ring: the caller
    # hangs up in the first.
    h = await start(settings, agents=[("agent1", SimAgent("PJSIP/8001", answer_at_ring=3))])
    try:
        chan = await h.call(SimCaller(args=("hotline",), hangup_at=6.5))
        events = await h.events(chan.id)
        assert [e.data["agent"] for e in events if e.type == "agent.ringing"] == ["agent1"], \
            [(e.type, e.offset) for e in events]
        assert not any(e.type == "agent.answered" for e in events)
        await h.pool.settle()
        agents, _ = h.pool.store.snapshot()
        (seat,) = [a for a in agents if a.id == "agent1"]
        assert seat.state is AgentState.READY, seat
        assert seat.call_id is None
        assert h.pool.held_for(chan.id) == []  # no lease renewed for a call that is over
    finally:
        await h.close()

