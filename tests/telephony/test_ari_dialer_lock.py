"""The callback dialer under its job lock (issue 17, ``callcenter serve`` runs ``Dialer.rounds`` through
``run_exclusively``): a process whose lock is lost stops dialling new callbacks, and the customer already on the
line is not cut off; the attempt is written when that call ends."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from ari_harness import render_prompts_first, start_local

from callcenter.callbacks.campaigns import add_campaign
from callcenter.callbacks.models import CallbackTask
from callcenter.callbacks.tasks import new_task
from callcenter.config import Settings
from callcenter.jobs.exclusive import run_exclusively
from callcenter.sim.ari import AriSimulator
from callcenter.sim.ari_parties import SimCaller, SimCustomer
from callcenter.sim.clock import ScaledClock
from callcenter.store import ensure_schema, session_scope
from callcenter.telephony.ari.dialer import Dialer
from callcenter.telephony.ari.outbound import OutboundRequest, OutboundResult

MONDAY_10AM = datetime(2026, 12, 7, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


class LosableLock:
    """A job lock this test takes away, as a database restart or another process would."""

    name, identity = "callback-dialer", "host-a:1"

    def __init__(self) -> None:
        self.lost = asyncio.Event()

    async def try_acquire(self) -> bool:
        return not self.lost.is_set()

    async def still_held(self) -> bool:
        return not self.lost.is_set()

    async def holder(self) -> str | None:
        return "host-b:2" if self.lost.is_set() else None

    async def watch(self, seconds: float) -> bool:
        try:
            async with asyncio.timeout(seconds):
                await self.lost.wait()
        except TimeoutError:
            return True
        return False

    async def release(self) -> None:
        return None


async def test_a_lost_dialer_lock_stops_the_rounds_and_leaves_the_call_on_the_line(settings: Settings) -> None:
    url = settings.database.url
    ensure_schema(url)
    sim = AriSimulator(clock=ScaledClock(0.01))
    service, ari_task = await start_local(settings, sim)
    await render_prompts_first(service)
    with session_scope(url) as session:
        campaign = add_campaign(session, name="满意度抽查", kind="questionnaire", mode="survey",
                                agent_group="callback", script="callback_survey", at=MONDAY_10AM)
        task, _ = new_task(session, settings, campaign, number="13900000001", dedup_key="a", at=MONDAY_10AM,
                           customer_name="王先生")
        session.flush()
        task_id = task.id
    sim.add_customer(SimCustomer("13900000001", after_answer=SimCaller(dtmf=((14.0, "1"),), hangup_at=20.0)))
    dialling, standing_by = asyncio.Event(), asyncio.Event()
    dial = service.outbound.dial

    async def dial_and_say(request: OutboundRequest) -> OutboundResult:
        dialling.set()
        return await dial(request)

    service.outbound.dial = dial_and_say  # type: ignore[method-assign]
    dialer = Dialer(settings, service.outbound, now=lambda: MONDAY_10AM, holder="test-dialer")
    lock = LosableLock()
    states: list[tuple[bool, str | None]] = []

    def on_state(holding: bool, holder: str | None) -> None:
        states.append((holding, holder))
        if (holding, holder) == (False, "host-b:2"):
            standing_by.set()

    job = asyncio.create_task(run_exclusively(url, lock.name, dialer.rounds, poll_seconds=0.05, lock=lock,
                                              on_state=on_state))
    try:
        async with asyncio.timeout(15):
            await dialling.wait()  # the first round dials at once
            (call,) = dialer.in_flight.values()
            lock.lost.set()
            await standing_by.wait()  # the rounds have stopped: this process stands by
            assert not call.done()  # the customer is still on the line
            result = await call
        assert result is not None and result.result == "reached"
        with session_scope(url) as session:
            row = session.get(CallbackTask, task_id)
            assert row is not None and (row.status, row.satisfaction) == ("done", "满意")
        assert states == [(True, "host-a:1"), (False, None), (False, "host-b:2")]
    finally:
        job.cancel()
        await dialer.end_calls()
        ari_task.cancel()
        await asyncio.gather(job, ari_task, return_exceptions=True)
