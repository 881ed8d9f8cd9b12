"""The callback dialer end to end over the ARI simulator and a real store: claimed, dialled, written back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from ari_harness import render_prompts_first, start_local
from sqlalchemy import select

from callcenter.callbacks.campaigns import add_campaign
from callcenter.callbacks.errors import CallbackError
from callcenter.callbacks.models import CallbackAttempt, CallbackTask
from callcenter.callbacks.tasks import new_task
from callcenter.calls.agents import Agent, AgentState
from callcenter.config import Settings
from callcenter.sim.ari import AriSimulator
from callcenter.sim.ari_parties import SimAgent, SimCaller, SimCustomer
from callcenter.sim.clock import ScaledClock
from callcenter.store import ensure_schema, session_scope
from callcenter.telephony.ari import AriService
from callcenter.telephony.ari.dialer import Dialer
from callcenter.telephony.ari.errors import AriConnectionLost

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10AM = datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)  # a working day, inside the calling hours


class Centre:
    def __init__(self, settings: Settings, sim: AriSimulator, service: AriService, dialer: Dialer) -> None:
        self.settings, self.sim, self.service, self.dialer = settings, sim, service, dialer

    def campaign(self, name: str, mode: str, script: str, **kw: object) -> int:
        with session_scope(self.settings.database.url) as session:
            return add_campaign(session, name=name, kind="questionnaire", mode=mode, agent_group="callback",
                                script=script, at=MONDAY_10AM, **kw).id  # type: ignore[arg-type]

    def task(self, campaign: str, number: str, name: str | None = None) -> int:
        from callcenter.callbacks.campaigns import get_campaign

        with session_scope(self.settings.database.url) as session:
            task, _ = new_task(session, self.settings, get_campaign(session, campaign), number=number,
                               dedup_key=f"{campaign}:{number}", at=MONDAY_10AM, customer_name=name)
            session.flush()
            return task.id

    async def agent(self, agent_id: str, answer_at_ring: int | None = 1) -> None:
        self.sim.add_agent(SimAgent(f"PJSIP/{agent_id}", answer_at_ring=answer_at_ring))
        await self.service.pool.ensure(Agent(agent_id, f"PJSIP/{agent_id}", agent_id, groups=("callback",)))
        await self.service.pool.set_state(agent_id, AgentState.READY)

    def row(self, task_id: int) -> tuple[CallbackTask, list[CallbackAttempt]]:
        with session_scope(self.settings.database.url) as session:
            task = session.get(CallbackTask, task_id)
            assert task is not None
            attempts = list(session.scalars(select(CallbackAttempt).where(CallbackAttempt.task_id == task_id)))
            session.expunge_all()
            return task, attempts

    async def round(self) -> list[object]:
        started = await self.dialer.tick()
        async with asyncio.timeout(15):
            return list(await asyncio.gather(*started))


@pytest.fixture
async def centre(settings: Settings) -> AsyncIterator[Centre]:
    ensure_schema(settings.database.url)
    # 30 ms of real time per call second: a busy machine's delays must not move a key out of its window.
    sim = AriSimulator(clock=ScaledClock(0.03))

    service, task = await start_local(settings, sim)
    await render_prompts_first(service)
    dialer = Dialer(settings, service.outbound, now=lambda: MONDAY_10AM, holder="test-dialer")
    try:
        yield Centre(settings, sim, service, dialer)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_survey_campaign_is_dialled_and_each_answer_written(centre: Centre) -> None:
    centre.campaign("满意度抽查", "survey", "callback_survey")
    happy = centre.task("满意度抽查", "13900000001", "王先生")
    busy = centre.task("满意度抽查", "13900000002")
    centre.sim.add_customer(SimCustomer("13900000001", after_answer=SimCaller(dtmf=((14.0, "2"),), hangup_at=20.0)))
    centre.sim.add_customer(SimCustomer("13900000002", busy=True))
    results = await centre.round()
    assert sorted(r.result for r in results) == ["busy", "reached"]  # type: ignore[attr-defined]
    task, attempts = centre.row(happy)
    assert (task.status, task.satisfaction, task.attempts) == ("done", "基本满意", 1)
    assert [(a.result, a.call_id) for a in attempts] == [("reached", task.call_id)]
    task, attempts = centre.row(busy)
    assert (task.status, task.attempts) == ("due", 1)  # dialled again on the campaign's interval
    assert task.next_at > MONDAY_10AM
    assert [a.result for a in attempts] == ["busy"]
    # Nothing is due any more this round: the busy one waits for its interval.
    assert await centre.round() == []


async def test_progressive_dials_only_while_an_agent_is_ready(centre: Centre) -> None:
    centre.campaign("进度回访", "progressive", "callback_progressive")
    first = centre.task("进度回访", "13900000011")
    second = centre.task("进度回访", "13900000012")
    # 40 call seconds (1.2 s of real time): the opening, the reservation and the agent's ring must all fit before
    # the customer hangs up, on a machine running other tests beside this one (12 s was once too short).
    for number in ("13900000011", "13900000012"):
        centre.sim.add_customer(SimCustomer(number, after_answer=SimCaller(hangup_at=40.0)))
    assert await centre.round() == []  # nobody ready: nobody is rung
    await centre.agent("8001")
    results = await centre.round()
    assert [r.result for r in results] == ["reached"]  # type: ignore[attr-defined]
    done = [t for t in (first, second) if centre.row(t)[0].status == "done"]
    assert len(done) == 1 and centre.row(done[0])[0].agent == "8001"


async def test_a_preview_call_from_the_panel(centre: Centre) -> None:
    centre.campaign("预览回访", "preview", "callback_preview")
    task_id = centre.task("预览回访", "13900000021")
    centre.sim.add_customer(SimCustomer("13900000021", after_answer=SimCaller(hangup_at=8.0)))
    await centre.agent("8002")
    assert await centre.round() == []  # preview tasks wait for an agent's click
    async with asyncio.timeout(15):
        result = await (await centre.dialer.dial_preview(task_id, "8002"))
    assert result is not None
    assert (result.result, result.agent) == ("reached", "8002")
    task, attempts = centre.row(task_id)
    assert (task.status, task.agent, len(attempts)) == ("done", "8002", 1)


async def test_a_preview_agent_who_does_not_pick_up_leaves_the_task_due_and_uncounted(centre: Centre) -> None:
    centre.campaign("预览回访", "preview", "callback_preview")
    task_id = centre.task("预览回访", "13900000031")
    await centre.agent("8003", answer_at_ring=None)
    async with asyncio.timeout(30):
        result = await (await centre.dialer.dial_preview(task_id, "8003"))
    assert result is not None
    assert result.result == "not_dialled"
    task, attempts = centre.row(task_id)
    assert (task.status, task.attempts, attempts) == ("due", 0, [])


async def test_a_preview_by_an_agent_who_is_not_ready_is_refused(centre: Centre) -> None:
    centre.campaign("预览回访", "preview", "callback_preview")
    task_id = centre.task("预览回访", "13900000041")
    with pytest.raises(CallbackError, match="not ready"):
        await centre.dialer.dial_preview(task_id, "nobody")


async def test_a_restart_during_a_callback_loses_neither_the_call_nor_its_attempt(settings: Settings) -> None:
    """The service dies while a surveyed customer is on the line: the next process adopts the call (a person of
    the queue takes it over), writes the attempt when it ends, and never dials the task again."""
    ensure_schema(settings.database.url)
    settings.recordings.root.mkdir(parents=True, exist_ok=True)
    sim = AriSimulator(clock=ScaledClock(0.01), recordings_dir=settings.recordings.root)
    sim.add_agent(SimAgent("PJSIP/9001", answer_at_ring=1))
    sim.add_customer(SimCustomer("13900000051", after_answer=SimCaller(hangup_at=45.0)))
    with session_scope(settings.database.url) as session:
        campaign = add_campaign(session, name="重启回访", kind="questionnaire", mode="survey", agent_group="callback",
                                script="callback_survey", at=MONDAY_10AM)
        task, _ = new_task(session, settings, campaign, number="13900000051", dedup_key="restart", at=MONDAY_10AM)
        session.flush()
        task_id = task.id

    async def start_process() -> tuple[AriService, asyncio.Task[None], Dialer]:
        service, run = await start_local(settings, sim)
        await service.pool.ensure(Agent("9001", "PJSIP/9001", "9001", groups=("default",)))
        await service.pool.set_state("9001", AgentState.READY)
        return service, run, Dialer(settings, service.outbound, now=lambda: MONDAY_10AM, holder="host:callcenter")

    first, first_run, first_dialer = await start_process()
    await render_prompts_first(first)
    answered = asyncio.Event()
    sim.add_observer(lambda kind, m: answered.set() if kind == "event" and m.get("type") == "StasisStart"
                     and m.get("args", [""])[0] == "outbound" else None)
    (attempt,) = await first_dialer.tick()
    async with asyncio.timeout(10):
        await answered.wait()
    await asyncio.sleep(sim.clock.real(3.0))  # the opening is playing
    # The process dies: nothing of it reaches Asterisk or the store any more (its clean-up included).
    async def dead(*_args: object, **_kw: object) -> None:
        raise AriConnectionLost("the process died")

    first.client.request = dead  # type: ignore[method-assign]
    attempt.cancel()
    first_run.cancel()
    await asyncio.gather(attempt, first_run, return_exceptions=True)
    (customer,) = [c for c in sim.channels.values() if c.number == "13900000051"]

    _second, second_run, second_dialer = await start_process()
    try:
        assert await second_dialer.tick() == []  # the task is leased to this application: not dialled again
        async with asyncio.timeout(15):
            ended = await sim.wait_ended(customer.id)
            while True:
                with session_scope(settings.database.url) as session:
                    row = session.get(CallbackTask, task_id)
                    assert row is not None
                    if row.status != "dialing":
                        break
                await asyncio.sleep(0.05)
    finally:
        second_run.cancel()
        await asyncio.gather(second_run, return_exceptions=True)
    assert [kind for _, kind, _ in ended.heard].count("answered") == 1
    with session_scope(settings.database.url) as session:
        row = session.get(CallbackTask, task_id)
        attempts = list(session.scalars(select(CallbackAttempt).where(CallbackAttempt.task_id == task_id)))
        assert row is not None
        assert (row.status, row.attempts, row.agent) == ("done", 1, "9001")
        assert [(a.result, a.call_id) for a in attempts] == [("reached", customer.id)]
    # One recording of the whole call, begun by the first process and ended under the second.
    (recording,) = settings.recordings.root.rglob(f"{customer.id}.wav")
    assert recording.stat().st_size > 44


async def test_a_closed_orders_callback_is_dialled_and_its_call_linked_to_the_order(centre: Centre) -> None:
    """R-94: closing makes the level-1 callback; the agent calls it from the queue; the order is called back and
    the callback's call is on the order beside the call it came from."""
    import random

    from callcenter.tickets import service as tickets

    settings = centre.settings
    with session_scope(settings.database.url) as session:
        order = tickets.create_order(session, settings, category="consultation", summary="停电三小时",
                                     caller_number="13900000061", caller_name="王先生", actor="8002",
                                     accepted_at=MONDAY_10AM - timedelta(hours=3))
        tickets.transition(session, settings, order.number, "closed", actor="8002",
                           at=MONDAY_10AM - timedelta(hours=1), rng=random.Random(1))
        number = order.number
    await centre.round()  # the first round syncs closed orders' callbacks into tasks
    with session_scope(settings.database.url) as session:
        task_id = session.scalars(select(CallbackTask.id).where(CallbackTask.order_number == number,
                                                                CallbackTask.level == 1)).one()
    centre.sim.add_customer(SimCustomer("13900000061", after_answer=SimCaller(hangup_at=8.0)))
    await centre.agent("8002")
    async with asyncio.timeout(15):
        result = await (await centre.dialer.dial_preview(task_id, "8002"))
    assert result is not None and result.result == "reached"
    with session_scope(settings.database.url) as session:
        view = tickets.get_order(session, number)
        assert view.status == "called_back"
        assert result.call_id in view.calls
