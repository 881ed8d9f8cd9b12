"""Transfers over ARI (issue 15): blind to an agent, a group (the neighbour seat, R-02) or a number; consult with a
visible second leg, then complete, return or a three-way conference; faults that return the caller to the agent.

Against the simulated Asterisk 22 on loopback sockets, on the scaled clock: every check of who heard whom reads the
simulated lines (each channel's ``heard``: the voices that reached that ear); every REST response and event the
simulator sent is checked against the Swagger models.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import pytest
from ari_harness import Harness, heard, of_type, start

from callcenter.calls.agents import Agent, AgentState
from callcenter.config import Settings
from callcenter.sim.ari import SimChannel
from callcenter.sim.ari_parties import SimAgent, SimCaller, SimCustomer
from callcenter.telephony.ari.call import AriCall

A, B, C = "a-801", "a-802", "a-803"
ENDPOINTS = {A: "PJSIP/801", B: "PJSIP/802", C: "PJSIP/803"}
CALLER = "caller 13800138000"
FRIEND, BUSY, JAMMED, SILENT = "13900139000", "13900139001", "13900139002", "13900139003"
# The caller speaks every 2 s, so the silent-call sequence never ends the call under the test.
CHATTY = tuple((2.0 * k, 0.5) for k in range(1, 150))


@pytest.fixture
async def centre(settings: Settings):  # type: ignore[no-untyped-def]
    """Agents A and B who answer at once; customers who answer, are busy, congested or never answer."""
    h = await start(settings, agents=[(A, SimAgent(ENDPOINTS[A])), (B, SimAgent(ENDPOINTS[B]))],
                    telephony={"outbound_ring_seconds": 8.0})
    h.sim.add_customer(SimCustomer(FRIEND, answer_at_ring=1, after_answer=SimCaller(number=FRIEND)))
    h.sim.add_customer(SimCustomer(BUSY, busy=True))
    h.sim.add_customer(SimCustomer(JAMMED, congestion=True))
    h.sim.add_customer(SimCustomer(SILENT, answer_at_ring=None))
    yield h
    await h.close()
    assert h.check.errors == []


async def until(h: Harness, condition: Callable[[], object], limit: float = 60.0) -> None:
    async with asyncio.timeout(h.clock.real(limit) + 2):
        while True:
            if condition():
                return
            await asyncio.sleep(0.005)


async def on_the_line(h: Harness, caller: SimCaller | None = None) -> tuple[SimChannel, AriCall]:
    """A call whose agent is bridged with the caller."""
    chan = h.sim.place_call(caller or SimCaller(args=("hotline",), speech=CHATTY), app=h.settings.telephony.ari_app)
    await until(h, lambda: (c := h.service.call(chan.id)) is not None and c.agent_leg is not None
                and h.sim.channels.get(c.agent_leg) is not None and h.sim.channels[c.agent_leg].bridge is not None)
    call = h.service.call(chan.id)
    assert call is not None
    return chan, call


def other(call: AriCall) -> str:
    assert call.agent is not None
    return B if call.agent.id == A else A


def voices(chan: SimChannel, since: float) -> set[str]:
    return {who for t, kind, who in chan.heard if kind == "voice" and chan.created_t + t >= since}


def who_hears(h: Harness, *parties: SimChannel) -> dict[str, set[str]]:
    """Everyone speaks once; returns, per party's voice, the voices that reached that party's ear."""
    mark = h.sim.now()
    for chan in parties:
        h.sim.speak(chan.id, 0.5)
    return {chan.voice: voices(chan, mark) for chan in parties}


async def held(h: Harness, chan: SimChannel) -> None:
    """The hold phrase has been said and the caller hears music (R-38, R-39)."""
    await until(h, lambda: chan.moh is not None)


async def resumed(h: Harness, chan: SimChannel) -> None:
    await until(h, lambda: chan.moh is None and "sound:hold.resume" in [m for _, m in heard(chan, "playback")])


async def hang_up_and_events(h: Harness, chan: SimChannel) -> list[Any]:
    if chan.ended_t is None:
        h.sim.caller_hangs_up(chan.id)
    async with asyncio.timeout(h.clock.real(30) + 2):
        await h.service.outcome(chan.id)
    return await h.events(chan.id)


def transfer_events(events: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(e.type, e.data) for e in events if e.type.startswith(("transfer.", "conference."))]


async def add_seat(h: Harness, agent_id: str, sim_agent: SimAgent, group: str) -> None:
    """Another agent, of its own group, ready (whichever pool the harness runs)."""
    h.sim.add_agent(sim_agent)
    added = h.pool.add(Agent(agent_id, sim_agent.endpoint, work_number=agent_id[-3:], groups=(group,),
                             state=AgentState.READY))
    if inspect.isawaitable(added):
        await added
    ready = h.pool.set_state(agent_id, AgentState.READY)
    if inspect.isawaitable(ready):
        await ready


def state_of(h: Harness, agent_id: str) -> AgentState:
    return h.pool.agents[agent_id].state


# ---------------------------------------------------------------------- blind


async def test_blind_transfer_to_an_agent_by_work_number(centre: Harness) -> None:
    h = centre
    chan, call = await on_the_line(h)
    first, target = call.agent.id, other(call)  # type: ignore[union-attr]
    first_leg = h.sim.channels[call.agent_leg]  # type: ignore[index]
    # Through the panel's dispatch (telephony/ari/controls.py), as POST /api/agent/call/transfer reaches it.
    answer = await h.service.control(call.call_id, "transfer", {"kind": "agent", "target": target[-3:]}, first)
    assert answer.ok and answer.state["result"] == "answered" and answer.state["agent"] == target
    assert answer.state["held"] is False  # back off hold, with the target
    assert call.agent is not None and call.agent.id == target and first_leg.ended_t is not None
    new_leg = h.sim.channels[call.agent_leg]  # type: ignore[index]
    await resumed(h, chan)
    assert who_hears(h, chan, new_leg) == {CALLER: {ENDPOINTS[target]}, ENDPOINTS[target]: {CALLER}}
    assert state_of(h, first) is AgentState.AFTER_CALL and state_of(h, target) is AgentState.ON_CALL
    # The caller heard 「对不起,请稍等」, music, then 「对不起,让您久等了」.
    prompts = [m for _, m in heard(chan, "playback")]
    assert prompts.index("sound:hold.wait") < prompts.index("sound:hold.resume")
    events = await hang_up_and_events(h, chan)
    assert [e.data for e in of_type(events, "control.transfer")] == [
        {"by": first, "kind": "agent", "target": target[-3:]}]
    assert transfer_events(events) == [
        ("transfer.blind", {"by": first, "kind": "agent", "target": target[-3:]}),
        ("transfer.completed", {"by": first, "kind": "agent", "target": target[-3:], "agent": target,
                                "mode": "blind"}),
    ]
    assert new_leg.ended_t is not None  # the caller's hang-up ends the new agent's leg too
    assert of_type(events, "call.hangup")[0].data["by"] == "caller"


async def test_blind_transfer_to_a_group_rings_the_neighbour_seat(centre: Harness) -> None:
    """R-02: the group's first free seat does not pick up within three rings; the next one to its right does."""
    h = centre
    await add_seat(h, C, SimAgent(ENDPOINTS[C], answer_at_ring=None), "sales")
    await add_seat(h, "a-804", SimAgent("PJSIP/804", answer_at_ring=2), "sales")
    chan, call = await on_the_line(h)
    first = call.agent.id  # type: ignore[union-attr]
    started = h.sim.now()
    outcome = await h.service.transfers.blind(call, first, "group", "sales")
    took = h.sim.now() - started
    assert outcome["result"] == "answered" and call.agent is not None and call.agent.id == "a-804"
    assert 15.0 <= took < 15.0 + 10.0  # three full rings of C (cn cadence), then the neighbour's 2nd ring
    assert state_of(h, C) is AgentState.NOT_READY  # let it ring: away from the seat
    events = await hang_up_and_events(h, chan)
    assert [(t, d.get("agent"), d.get("reason")) for t, d in transfer_events(events)] == [
        ("transfer.blind", None, None), ("transfer.skipped", C, "no_answer"),
        ("transfer.completed", "a-804", None)]


@pytest.mark.parametrize(("number", "reason"), [(BUSY, "busy"), (JAMMED, "congestion"), (SILENT, "no_answer"),
                                                 ("13700000000", "invalid")])
async def test_blind_transfer_to_a_failing_number_returns_the_caller_to_the_agent(
        centre: Harness, number: str, reason: str) -> None:
    h = centre
    chan, call = await on_the_line(h)
    first = call.agent.id  # type: ignore[union-attr]
    leg = h.sim.channels[call.agent_leg]  # type: ignore[index]
    started = h.sim.now()
    answer = await h.service.control(call.call_id, "transfer", {"kind": "number", "target": number}, first)
    assert answer.ok and answer.state["result"] == reason and answer.state["held"] is False
    if reason == "no_answer":
        assert 8.0 <= h.sim.now() - started < 8.0 + 3.0  # telephony.outbound_ring_seconds
    assert call.agent is not None and call.agent.id == first and leg.ended_t is None
    await resumed(h, chan)
    assert who_hears(h, chan, leg) == {CALLER: {ENDPOINTS[first]}, ENDPOINTS[first]: {CALLER}}
    assert not [b for b in h.sim.bridges if b.startswith("cs-")]
    events = await hang_up_and_events(h, chan)
    (failed,) = of_type(events, "transfer.failed")
    assert failed.data["reason"] == reason and failed.data["by"] == first and failed.data["mode"] == "blind"
    assert not of_type(events, "transfer.completed")


# ---------------------------------------------------------------------- consult


async def consulting(h: Harness) -> tuple[SimChannel, AriCall, SimChannel, SimChannel, str]:
    """A call in consult: the caller holds, the agent talks with the other agent on the second leg."""
    chan, call = await on_the_line(h)
    first, target = call.agent.id, other(call)  # type: ignore[union-attr]
    first_leg = h.sim.channels[call.agent_leg]  # type: ignore[index]
    state = await h.service.transfers.consult(call, first, "agent", target)
    assert state["result"] == "answered" and state["phase"] == "consult" and state["agent"] == target
    second = h.sim.channels[state["leg"]]
    await held(h, chan)
    # The caller hears music and nobody; the agent and the target hear each other only.
    assert who_hears(h, chan, first_leg, second) == {
        CALLER: set(), ENDPOINTS[first]: {ENDPOINTS[target]}, ENDPOINTS[target]: {ENDPOINTS[first]}}
    return chan, call, first_leg, second, target


async def test_consult_then_complete_leaves_the_caller_with_the_target(centre: Harness) -> None:
    h = centre
    chan, call, first_leg, second, target = await consulting(h)
    first = first_leg.agent
    assert first is not None
    answer = await h.service.control(call.call_id, "consult_complete", {}, call.agent.id)  # type: ignore[union-attr]
    assert answer.ok and answer.state["phase"] == "done"
    await resumed(h, chan)
    assert first_leg.ended_t is not None and call.agent_leg == second.id
    # The call is the target's now: the first agent may no longer act on it.
    assert (await h.service.control(call.call_id, "hold", {}, first.endpoint)).status == 403
    assert who_hears(h, chan, second) == {CALLER: {ENDPOINTS[target]}, ENDPOINTS[target]: {CALLER}}
    bridge = h.sim.bridges[call.bridge_id]  # type: ignore[index]
    assert bridge.channels == [chan.id, second.id] and not [b for b in h.sim.bridges if b.startswith("cs-")]
    events = await hang_up_and_events(h, chan)
    assert [t for t, _ in transfer_events(events)] == [
        "transfer.consult.started", "transfer.consult.answered", "transfer.consult.completed"]
    assert second.ended_t is not None


async def test_consult_then_return_brings_the_agent_back(centre: Harness) -> None:
    h = centre
    chan, call, first_leg, second, target = await consulting(h)
    first = call.agent.id  # type: ignore[union-attr]
    await h.service.transfers.return_(call, first)
    await resumed(h, chan)
    assert second.ended_t is not None and first_leg.ended_t is None and call.agent_leg == first_leg.id
    assert who_hears(h, chan, first_leg) == {CALLER: {ENDPOINTS[first]}, ENDPOINTS[first]: {CALLER}}
    assert state_of(h, target) is AgentState.AFTER_CALL
    events = await hang_up_and_events(h, chan)
    returned = of_type(events, "transfer.consult.returned")
    assert [(e.data["by"], e.data["reason"]) for e in returned] == [(first, "agent")]


async def test_conference_puts_all_three_in_one_bridge(centre: Harness) -> None:
    h = centre
    chan, call, first_leg, second, target = await consulting(h)
    first = call.agent.id  # type: ignore[union-attr]
    await h.service.transfers.conference(call, first)
    await resumed(h, chan)
    bridge = h.sim.bridges[call.bridge_id]  # type: ignore[index]
    assert sorted(bridge.channels) == sorted([chan.id, first_leg.id, second.id])
    assert bridge.snapshot()["technology"] == "softmix"
    assert who_hears(h, chan, first_leg, second) == {
        CALLER: {ENDPOINTS[first], ENDPOINTS[target]}, ENDPOINTS[first]: {CALLER, ENDPOINTS[target]},
        ENDPOINTS[target]: {CALLER, ENDPOINTS[first]}}
    # The agent lets the target go: back to two.
    await h.service.transfers.return_(call, first)
    await until(h, lambda: second.ended_t is not None)
    assert who_hears(h, chan, first_leg) == {CALLER: {ENDPOINTS[first]}, ENDPOINTS[first]: {CALLER}}
    events = await hang_up_and_events(h, chan)
    assert [t for t, _ in transfer_events(events)] == [
        "transfer.consult.started", "transfer.consult.answered", "conference.started", "conference.ended"]
    (conference,) = of_type(events, "conference.started")
    assert conference.data["parties"] == ["caller", first, target]


async def test_target_hanging_up_during_consult_returns_to_the_agent(centre: Harness) -> None:
    h = centre
    chan, call, first_leg, second, target = await consulting(h)
    first = call.agent.id  # type: ignore[union-attr]
    h.sim.caller_hangs_up(second.id)  # the consulted agent puts the phone down
    await resumed(h, chan)
    assert who_hears(h, chan, first_leg) == {CALLER: {ENDPOINTS[first]}, ENDPOINTS[first]: {CALLER}}
    assert h.service.transfers.active == {}
    events = await hang_up_and_events(h, chan)
    assert [(e.data["by"], e.data["reason"]) for e in of_type(events, "transfer.consult.returned")] == [
        (target, "target_left")]


async def test_agent_hanging_up_during_consult_completes_the_transfer(centre: Harness) -> None:
    h = centre
    chan, call, first_leg, second, target = await consulting(h)
    h.sim.caller_hangs_up(first_leg.id)  # the first agent puts the phone down: attended transfer
    await resumed(h, chan)
    assert chan.ended_t is None and call.agent is not None and call.agent.id == target
    assert who_hears(h, chan, second) == {CALLER: {ENDPOINTS[target]}, ENDPOINTS[target]: {CALLER}}
    events = await hang_up_and_events(h, chan)
    assert [e.data["reason"] for e in of_type(events, "transfer.consult.completed")] == ["agent_hung_up"]
    assert of_type(events, "call.hangup")[0].data["by"] == "caller"


async def test_caller_hanging_up_during_consult_ends_both_legs(centre: Harness) -> None:
    h = centre
    chan, _call, first_leg, second, _target = await consulting(h)
    events = await hang_up_and_events(h, chan)
    await until(h, lambda: first_leg.ended_t is not None and second.ended_t is not None
                and not [b for b in h.sim.bridges if b.startswith("cs-")] and not h.service.transfers.active)
    assert of_type(events, "call.hangup")[0].data["by"] == "caller"


async def test_consult_a_number_then_complete_and_the_far_end_hangs_up(centre: Harness) -> None:
    h = centre
    chan, call = await on_the_line(h)
    first = call.agent.id  # type: ignore[union-attr]
    state = await h.service.transfers.consult(call, first, "number", FRIEND)
    assert state["result"] == "answered"
    friend = h.sim.channels[state["leg"]]
    await h.service.transfers.complete(call, first)
    await resumed(h, chan)
    assert who_hears(h, chan, friend) == {CALLER: {f"caller {FRIEND}"}, f"caller {FRIEND}": {CALLER}}
    assert call.agent is None and state_of(h, first) is AgentState.AFTER_CALL
    h.sim.caller_hangs_up(friend.id)  # the far end hangs up: the call is over
    async with asyncio.timeout(h.clock.real(10) + 2):
        outcome = await h.service.outcome(chan.id)
    assert outcome.by == "system" and chan.ended_t is not None


async def test_consult_to_a_busy_number_fails_back_to_the_agent(centre: Harness) -> None:
    h = centre
    chan, call = await on_the_line(h)
    first = call.agent.id  # type: ignore[union-attr]
    state = await h.service.transfers.consult(call, first, "number", BUSY)
    assert state["result"] == "busy" and h.service.transfers.active == {}
    await resumed(h, chan)
    leg = h.sim.channels[call.agent_leg]  # type: ignore[index]
    assert who_hears(h, chan, leg) == {CALLER: {ENDPOINTS[first]}, ENDPOINTS[first]: {CALLER}}
    events = await hang_up_and_events(h, chan)
    assert [(e.data["mode"], e.data["reason"]) for e in of_type(events, "transfer.failed")] == [("consult", "busy")]


# ---------------------------------------------------------------------- refusals


async def test_refusals_say_why(centre: Harness) -> None:
    from callcenter.calls.control import ControlRefused

    h = centre
    chan, call = await on_the_line(h)
    first = call.agent.id  # type: ignore[union-attr]
    transfers = h.service.transfers
    cases: list[tuple[Any, int, str]] = [
        (transfers.blind(call, first, "agent", first), 409, "that is you"),
        (transfers.blind(call, first, "agent", "nobody"), 400, "no agent 'nobody'"),
        (transfers.blind(call, first, "queue", "x"), 400, "kind"),
        (transfers.blind(call, first, "number", "12ab"), 400, "not a phone number"),
        (transfers.blind(call, first, "group", "nosuch"), 400, "no agent group"),
        (transfers.complete(call, first), 409, "no consult"),
        (transfers.conference(call, first), 409, "no consult"),
    ]
    for coro, status, words in cases:
        with pytest.raises(ControlRefused) as caught:
            await coro
        assert caught.value.status == status and words in str(caught.value)
    events = await hang_up_and_events(h, chan)
    assert transfer_events(events) == []  # nothing was carried out


async def test_agent_leaving_while_a_blind_transfer_rings_and_it_fails_sends_the_caller_to_the_queue(
        centre: Harness) -> None:
    """Never dead air: the first agent hangs up while the number rings; nobody answers it; the caller comes off
    hold and the queue rings the next free agent, who then hears the caller."""
    h = centre
    chan, call = await on_the_line(h)
    first, other_agent = call.agent.id, other(call)  # type: ignore[union-attr]
    first_leg = h.sim.channels[call.agent_leg]  # type: ignore[index]
    h.clock.call_later(1.0, lambda: h.sim.caller_hangs_up(first_leg.id))
    answer = await h.service.control(call.call_id, "transfer", {"kind": "number", "target": SILENT}, first)
    assert answer.ok and answer.state["result"] == "no_answer"
    await until(h, lambda: call.agent is not None and call.agent.id == other_agent and call.agent_leg is not None
                and h.sim.channels[call.agent_leg].bridge == call.bridge_id)
    assert chan.moh is None and chan.ended_t is None
    leg = h.sim.channels[call.agent_leg]  # type: ignore[index]
    assert who_hears(h, chan, leg) == {CALLER: {ENDPOINTS[other_agent]}, ENDPOINTS[other_agent]: {CALLER}}
    events = await hang_up_and_events(h, chan)
    assert [(t, d.get("reason")) for t, d in transfer_events(events)] == [
        ("transfer.blind", None), ("transfer.failed", "no_answer")]
    assert [e.data["agent"] for e in of_type(events, "agent.answered")] == [first, other_agent]


async def test_in_a_conference_the_target_leaving_ends_it_and_the_agent_leaving_hands_over(centre: Harness) -> None:
    h = centre
    chan, call, first_leg, second, target = await consulting(h)
    first = call.agent.id  # type: ignore[union-attr]
    await h.service.transfers.conference(call, first)
    await resumed(h, chan)
    h.sim.caller_hangs_up(first_leg.id)  # the first agent leaves the three-way call: the target keeps the caller
    await until(h, lambda: call.agent is not None and call.agent.id == target and not h.service.transfers.active)
    assert chan.ended_t is None and second.ended_t is None
    assert who_hears(h, chan, second) == {CALLER: {ENDPOINTS[target]}, ENDPOINTS[target]: {CALLER}}
    events = await hang_up_and_events(h, chan)
    assert [(t, d.get("reason")) for t, d in transfer_events(events)][-2:] == [
        ("conference.started", None), ("transfer.consult.completed", "agent_hung_up")]
    assert of_type(events, "call.hangup")[0].data["by"] == "caller"


async def test_a_target_gone_while_the_websocket_was_down_returns_to_the_agent_on_reconnect(centre: Harness) -> None:
    """Asterisk restarts during a consult and the consulted agent hangs up meanwhile (the event is lost): the
    reconcile after the reconnect returns the caller to the agent; the caller's bridge is kept."""
    h = centre
    chan, call, first_leg, second, target = await consulting(h)
    first = call.agent.id  # type: ignore[union-attr]
    reconciles = h.service.reconciles
    h.server.restart(down_for=1.0)
    h.sim.caller_hangs_up(second.id)
    await resumed(h, chan)
    assert h.service.reconciles > reconciles
    await until(h, lambda: not h.service.transfers.active)
    assert who_hears(h, chan, first_leg) == {CALLER: {ENDPOINTS[first]}, ENDPOINTS[first]: {CALLER}}
    assert call.bridge_id in h.sim.bridges and not [b for b in h.sim.bridges if b.startswith("cs-")]
    events = await hang_up_and_events(h, chan)
    assert [(e.data["by"], e.data["reason"]) for e in of_type(events, "transfer.consult.returned")] == [
        (target, "target_left")]
