"""Click to dial over ARI (issue 15): the agent's phone rings first, then the order's number; the two are bridged,
recorded and on the timeline, and the call is linked to its order. Simulated Asterisk 22 on loopback sockets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import structlog
from ari_harness import Harness, of_type, start

from callcenter.calls.control import ControlRefused
from callcenter.config import Settings
from callcenter.logs import mask_caller_numbers
from callcenter.sim.ari_parties import SimAgent, SimCaller, SimCustomer
from callcenter.store import session_scope
from callcenter.telephony.ari.click_dial import ClickToDial
from callcenter.tickets import service

AGENT, ENDPOINT, NUMBER = "a-801", "PJSIP/801", "13912345678"


@pytest.fixture
async def line(settings: Settings):  # type: ignore[no-untyped-def]
    h = await start(settings, agents=[(AGENT, SimAgent(ENDPOINT, answer_at_ring=2))])
    yield h
    await h.close()
    assert h.check.errors == []


def an_order(settings: Settings) -> str:
    with session_scope(settings.database.url) as session:
        return service.create_order(session, settings, category="repair", summary="燃气表不走字",
                                    accepted_at=datetime.now(UTC), actor="agent1", caller_number=NUMBER).number


async def test_the_agent_rings_first_then_the_customer_and_they_talk(line: Harness) -> None:
    h = line
    h.sim.add_customer(SimCustomer(NUMBER, answer_at_ring=1, after_answer=SimCaller(
        number=NUMBER, speech=((2.0, 1.0),), hangup_at=12.0)))
    order = an_order(h.settings)
    dialing = ClickToDial(h.service.outbound)
    with structlog.testing.capture_logs() as logs:
        started = await dialing.dial(AGENT, NUMBER, order=order)
        assert started["number"] == "139****5678" and started["call_id"].startswith("cd-")
        call_id = started["call_id"]
        async with asyncio.timeout(h.clock.real(60) + 5):
            await dialing.in_flight[call_id]
    result = dialing.results[call_id]
    assert (result.result, result.agent) == ("reached", AGENT)
    # What the log pipeline writes (capture_logs keeps the entries before its processors): masked only.
    assert logs and not [e for e in logs if NUMBER in str(mask_caller_numbers(None, "", dict(e)))]
    agent_leg = next(c for c in h.sim.ended.values() if c.done() and c.result().agent is not None).result()
    customer = h.sim.ended[call_id].result()
    assert agent_leg.created_t < customer.created_t  # the agent's phone first (rebased: created at the answer)
    voices = {w for _, k, w in agent_leg.heard if k == "voice"}
    assert voices == {f"caller {NUMBER}"}  # the agent heard the customer's words
    events = await h.events(call_id)
    offered = of_type(events, "call.offered")[0].data
    assert (offered["direction"], offered["mode"], offered["order"], offered["by"]) == (
        "outbound", "preview", order, AGENT)
    assert of_type(events, "agent.answered")[0].data["agent"] == AGENT
    assert of_type(events, "recording.started")
    with session_scope(h.settings.database.url) as session:
        assert call_id in service.get_order(session, order).calls


async def test_an_agent_who_is_not_ready_dials_nothing(line: Harness) -> None:
    h = line
    dialing = ClickToDial(h.service.outbound)
    with pytest.raises(ControlRefused) as refused:
        await dialing.dial("nobody", NUMBER)
    assert refused.value.status == 409 and "not ready" in str(refused.value)
    with pytest.raises(ControlRefused) as bad:
        await dialing.dial(AGENT, "12ab")
    assert bad.value.status == 400
    assert h.sim.channels == {}
