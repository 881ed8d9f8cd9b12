"""Callbacks the centre dials, over the ARI simulator: every way an attempt can end, for each mode (R-94..R-105)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ari_harness import render_prompts_first, start_local

from callcenter.calls.agents import Agent, AgentState
from callcenter.config import Settings
from callcenter.sim.ari import AriSimulator, AriTrafficCheck
from callcenter.sim.ari_parties import SimAgent, SimCaller, SimCustomer
from callcenter.sim.clock import ScaledClock
from callcenter.telephony.ari import AriService
from callcenter.telephony.ari.outbound import OutboundRequest, OutboundResult

NUMBER = "13900139000"


class Line:
    def __init__(self, sim: AriSimulator, service: AriService, check: AriTrafficCheck) -> None:
        self.sim, self.service, self.check = sim, service, check

    async def agent(self, agent_id: str, answer_at_ring: int | None = 1, group: str = "callback") -> Agent:
        endpoint = f"PJSIP/{agent_id}"
        self.sim.add_agent(SimAgent(endpoint, answer_at_ring=answer_at_ring))
        agent = await self.service.pool.ensure(Agent(agent_id, endpoint, agent_id, groups=(group,)))
        await self.service.pool.set_state(agent_id, AgentState.READY)
        return agent

    async def dial(self, mode: str, customer: SimCustomer | None = None, **kw: Any) -> OutboundResult:
        if customer is not None:
            self.sim.add_customer(customer)
        script = {"survey": "callback_survey", "progressive": "callback_progressive",
                  "preview": "callback_preview"}[mode]
        request = OutboundRequest(call_id=kw.pop("call_id", f"cb-{mode}"), number=kw.pop("number", NUMBER),
                                  script=kw.pop("script", script), group="callback", mode=mode,
                                  caller={"surname": "王", "honorific": "先生"}, **kw)
        async with asyncio.timeout(10):
            return await self.service.outbound.dial(request)

    async def events(self, call_id: str) -> list[tuple[str, dict[str, Any]]]:
        await self.service.timeline.flush()
        return [(e.type, e.data) for e in self.service.timeline.events(call_id)]


@pytest.fixture
async def line(settings: Settings) -> AsyncIterator[Line]:
    settings.recordings.root.mkdir(parents=True, exist_ok=True)
    # 30 ms of real time per call second: a busy machine's delays must not move a key out of its window.
    sim = AriSimulator(clock=ScaledClock(0.03), recordings_dir=settings.recordings.root)
    check = AriTrafficCheck(sim.docs)
    sim.add_observer(check)

    service, task = await start_local(settings, sim)
    await render_prompts_first(service)
    try:
        yield Line(sim, service, check)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert check.errors == []


def prompts(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [data["key"] for kind, data in events if kind == "prompt.started"]


async def test_a_survey_answer_is_the_satisfaction_and_the_customer_hangs_up_first(line: Line) -> None:
    # Every prompt lasts 3 s in the simulator: the opening and its 5 s window, the question (8-11 s) and its
    # 8 s window; 1 = 满意.
    customer = SimCustomer(NUMBER, answer_at_ring=2, after_answer=SimCaller(dtmf=((14.0, "1"),), hangup_at=20.0))
    result = await line.dial("survey", customer)
    assert (result.result, result.satisfaction) == ("reached", "satisfied")
    events = await line.events(result.call_id)
    assert prompts(events) == ["callback.opening", "callback.survey.ask", "callback.survey.thanks"]
    offered = next(data for kind, data in events if kind == "call.offered")
    assert offered["direction"] == "outbound" and offered["caller"] == NUMBER and offered["mode"] == "survey"
    opening = next(data for kind, data in events if kind == "prompt.started")
    assert opening["text"].startswith("您好!请问是王先生吗?")
    hangup = next(data for kind, data in events if kind == "call.hangup")
    assert hangup["by"] == "caller"  # the farewell's window ran, the customer left first
    kinds = [kind for kind, _ in events]
    assert kinds.index("recording.started") < kinds.index("prompt.started")  # recorded from the opening


async def test_a_wrong_key_repeats_the_question_once_then_the_answer_counts(line: Line) -> None:
    customer = SimCustomer(NUMBER, after_answer=SimCaller(dtmf=((14.0, "7"), (23.0, "3")), hangup_at=30.0))
    result = await line.dial("survey", customer)
    assert (result.result, result.satisfaction) == ("reached", "dissatisfied")
    assert prompts(await line.events(result.call_id)) == [
        "callback.opening", "callback.survey.ask", "callback.survey.again", "callback.survey.ask",
        "callback.survey.thanks"]


async def test_no_key_after_the_repeat_is_no_key_with_an_apology(line: Line) -> None:
    result = await line.dial("survey", SimCustomer(NUMBER, after_answer=SimCaller(hangup_at=60.0)))
    assert (result.result, result.satisfaction) == ("no_key", None)
    said = prompts(await line.events(result.call_id))
    assert said[-1] == "callback.survey.no_key" and said.count("callback.survey.ask") == 2


async def test_the_five_point_scale(line: Line) -> None:
    customer = SimCustomer(NUMBER, after_answer=SimCaller(dtmf=((14.0, "4"),), hangup_at=20.0))
    result = await line.dial("survey", customer, script="callback_survey5")
    assert (result.result, result.satisfaction) == ("reached", "4")


async def test_a_holiday_changes_the_opening(line: Line) -> None:
    customer = SimCustomer(NUMBER, after_answer=SimCaller(hangup_at=2.0))
    result = await line.dial("survey", customer, holiday="春节")
    opening = next(d for k, d in await line.events(result.call_id) if k == "prompt.started")
    assert opening["text"].startswith("春节好!请问是王先生吗?")


async def test_a_hang_up_during_the_opening(line: Line) -> None:
    result = await line.dial("survey", SimCustomer(NUMBER, after_answer=SimCaller(hangup_at=1.5)))
    assert result.result == "hangup_opening"


@pytest.mark.parametrize(("customer", "expected"), [
    (SimCustomer(NUMBER, busy=True), "busy"),
    (SimCustomer(NUMBER, congestion=True), "congestion"),
    (SimCustomer(NUMBER, answer_at_ring=None), "no_answer"),
    (None, "failed"),  # nobody has this number: the originate itself is refused
])
async def test_every_way_of_not_reaching_the_customer_is_its_own_result(
    line: Line, customer: SimCustomer | None, expected: str
) -> None:
    result = await line.dial("survey", customer, number=NUMBER if customer else "10000")
    assert result.result == expected
    assert await line.events(result.call_id) == []  # nobody answered: no call on the timeline


async def test_progressive_rings_the_group_on_answer_and_bridges(line: Line) -> None:
    await line.agent("8001")
    customer = SimCustomer(NUMBER, after_answer=SimCaller(speech=((8.0, 2.0),), hangup_at=15.0))
    result = await line.dial("progressive", customer)
    assert (result.result, result.agent) == ("reached", "8001")
    events = await line.events(result.call_id)
    assert [k for k, _ in events if k in ("agent.answered", "call.bridged", "recording.started")] == [
        "recording.started", "agent.answered", "call.bridged"]
    assert prompts(events)[0] == "callback.connecting"
    assert line.service.pool.agents["8001"].state is AgentState.AFTER_CALL


async def test_progressive_with_nobody_free_says_sorry_never_silence(line: Line) -> None:
    await line.agent("8001", answer_at_ring=None)
    result = await line.dial("progressive", SimCustomer(NUMBER, after_answer=SimCaller(hangup_at=60.0)))
    assert result.result == "no_agent"
    assert prompts(await line.events(result.call_id)) == ["callback.connecting", "callback.sorry"]


async def test_preview_rings_the_agent_first_then_the_customer(line: Line) -> None:
    await line.agent("8002")
    customer = SimCustomer(NUMBER, answer_at_ring=2, after_answer=SimCaller(hangup_at=6.0))
    result = await line.dial("preview", customer, agent="8002")
    assert (result.result, result.agent) == ("reached", "8002")
    events = await line.events(result.call_id)
    answered = next(d for k, d in events if k == "agent.answered")
    assert answered["agent"] == "8002" and answered["wait"] == 0  # the agent was on the line first
    assert prompts(events) == []  # the agent speaks the opening (shown on the panel)
    hangup = next(d for k, d in events if k == "call.hangup")
    assert hangup["by"] == "caller"


async def test_preview_whose_agent_does_not_pick_up_dials_nobody(line: Line) -> None:
    await line.agent("8003", answer_at_ring=None)
    result = await line.dial("preview", SimCustomer(NUMBER), agent="8003")
    assert result.result == "not_dialled"
    assert line.service.pool.agents["8003"].state is AgentState.READY
    assert not any(c.number == NUMBER for c in line.sim.channels.values())


async def test_preview_customer_busy_frees_the_waiting_agent(line: Line) -> None:
    await line.agent("8004")
    result = await line.dial("preview", SimCustomer(NUMBER, busy=True), agent="8004")
    assert result.result == "busy"
    assert line.service.pool.agents["8004"].state is AgentState.READY
    assert line.sim.channels == {}  # the agent's leg was hung up too


@pytest.mark.parametrize(("customer", "expected"), [
    (SimCustomer(NUMBER, busy=True), "busy"),
    (SimCustomer(NUMBER, congestion=True), "congestion"),
])
async def test_busy_and_congestion_through_a_local_channel_come_from_the_dial_status(
    settings: Settings, customer: SimCustomer, expected: str
) -> None:
    """Asterisk 22 ends a Local channel whose far end was busy with cause 0 ("Unknown"); only the Dial event
    says BUSY / CONGESTION (measured: tests/asterisk/test_callbacks.py)."""
    from dataclasses import replace

    local = replace(settings, telephony=replace(settings.telephony, outbound_endpoint="Local/{number}@customers/n"))
    sim = AriSimulator(clock=ScaledClock(0.01))
    sim.add_customer(customer)
    seen: list[tuple[str, object]] = []
    sim.add_observer(lambda kind, m: seen.append((m.get("type"), m.get("cause", m.get("dialstatus"))))
                     if kind == "event" else None)

    service, task = await start_local(local, sim)
    try:
        async with asyncio.timeout(5):
            result = await service.outbound.dial(OutboundRequest("cb-local", NUMBER, "callback_survey", "callback",
                                                                 "survey"))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert result.result == expected
    assert ("ChannelDestroyed", 0) in seen and ("Dial", expected.upper()) in seen


async def test_a_preview_agent_who_hangs_up_releases_the_customer(line: Line) -> None:
    """The agent's end of a preview callback ends the call, as an agent's release does on an inbound one
    (measured on Asterisk 22: the customer was otherwise left in the bridge alone)."""
    line.sim.add_agent(SimAgent("PJSIP/8005", answer_at_ring=1, hangup_after=14.0))
    line.service.pool.add(Agent("8005", "PJSIP/8005", "8005", groups=("callback",)))
    await line.service.pool.set_state("8005", AgentState.READY)
    customer = SimCustomer(NUMBER, answer_at_ring=1, after_answer=SimCaller(hangup_at=60.0))
    result = await line.dial("preview", customer, agent="8005")
    assert (result.result, result.agent) == ("reached", "8005")
    hangup = next(d for k, d in await line.events(result.call_id) if k == "call.hangup")
    assert hangup["by"] == "agent"
