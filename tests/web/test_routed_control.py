"""A button pressed on one process's page reaches the call held by another (issue 17): RoutedCallControl and
RoutedMonitoring over two in-test "processes" (two command buses) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from callcenter.callbacks.errors import CallbackError
from callcenter.calls.commands_bus import CommandBus
from callcenter.calls.control import ControlRefused, ControlResult
from callcenter.calls.supervision import SupervisionError
from callcenter.scripting.protocol import ReleaseRequested, ScriptRequested
from callcenter.web.routed_control import (
    DIALER,
    RoutedCallControl,
    RoutedDialing,
    RoutedMonitoring,
    command_executor,
)


@dataclass
class HeldCalls:
    """The holder's own calls, as its ARI application's CallControl and LiveMonitoring would see them."""

    live: set[str] = field(default_factory=set)
    events: list[tuple[str, Any]] = field(default_factory=list)
    monitored: dict[str, dict[str, str]] = field(default_factory=dict)

    async def send(self, call_id: str, event: ScriptRequested | ReleaseRequested) -> bool:
        if call_id not in self.live:
            return False
        self.events.append((call_id, event))
        return True

    async def control(self, call_id: str, action: str, args: Mapping[str, Any], by: str) -> ControlResult:
        if call_id not in self.live:
            return ControlResult(404, error=f"call {call_id} is not live here")
        if action == "resume":
            return ControlResult(409, error="resume: the call is not on hold")
        self.events.append((call_id, (action, dict(args), by)))
        return ControlResult(200, {"held": action == "hold"})

    async def start(self, call_id: str, *, supervisor: str, role: str, endpoint: str, mode: str,
                    purpose: str) -> dict[str, str]:
        if not purpose:
            raise SupervisionError("a purpose is required to monitor a call (R-111 调取用途)")
        self.monitored[call_id] = {"call_id": call_id, "supervisor": supervisor, "mode": mode}
        return self.monitored[call_id]

    async def switch(self, call_id: str, *, supervisor: str, mode: str, purpose: str = "") -> dict[str, str]:
        self.monitored[call_id]["mode"] = mode
        return self.monitored[call_id]

    async def stop(self, call_id: str, *, supervisor: str) -> None:
        if call_id not in self.monitored:
            raise SupervisionError(f"call {call_id} is not being monitored", 404)
        del self.monitored[call_id]

    def sessions(self) -> list[dict[str, str]]:
        return list(self.monitored.values())


@dataclass
class Dialing:
    """The process that runs the callback dialer: a preview callback and a work order's number."""

    dialled: list[tuple[str, ...]] = field(default_factory=list)

    async def dial_preview(self, task_id: int, agent_id: str) -> Any:
        if task_id == 13:
            raise CallbackError("callback 13 is not due: booked for 15:00")
        self.dialled.append(("preview", str(task_id), agent_id))
        return asyncio.get_running_loop().create_future()  # the attempt's task: stays in the dialling process

    async def dial(self, agent_id: str, number: str, *, order: str | None = None) -> dict[str, str]:
        if number == "110":
            raise ControlRefused("number '110' cannot be dialled", 400)
        self.dialled.append(("number", agent_id, number, order or ""))
        return {"call_id": "out-1", "number": "138****8000"}


@dataclass
class Centre:
    held: HeldCalls
    telephony: CommandBus
    web: CommandBus
    control: RoutedCallControl
    monitoring: RoutedMonitoring
    dialing: Dialing


@pytest.fixture
async def centre(db_url: str) -> AsyncIterator[Centre]:
    held = HeldCalls(live={"call-1"})
    dialing = Dialing()
    telephony = CommandBus(db_url, "tel:1", execute=command_executor(held, held, lambda: (dialing, dialing)),
                           poll=0.05)
    web = CommandBus(db_url, "web:2", poll=0.05, bound=0.5)
    tasks = [asyncio.create_task(bus.run()) for bus in (telephony, web)]
    async with asyncio.timeout(5):
        await telephony.listening.wait()
        await web.listening.wait()
        telephony.holder("a")("call-1", True)
        telephony.holder("a")(DIALER, True)
        await telephony.written()
    yield Centre(held, telephony, web, RoutedCallControl(None, web), RoutedMonitoring(None, web), dialing)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_situation_button_and_release_reach_the_holder(centre: Centre) -> None:
    assert await centre.control.send("call-1", ScriptRequested("silent_call", by="8001"))
    assert await centre.control.send("call-1", ReleaseRequested(by="8001"))
    assert centre.held.events == [("call-1", ScriptRequested("silent_call", by="8001")),
                                  ("call-1", ReleaseRequested(by="8001"))]
    assert not await centre.control.send("call-9", ReleaseRequested(by="8001"))  # nobody holds it


async def test_call_control_answers_as_the_holder_did(centre: Centre) -> None:
    done = await centre.control.control("call-1", "dtmf", {"digits": "12#"}, "8001")
    assert (done.status, done.state) == (200, {"held": False})
    refused = await centre.control.control("call-1", "resume", {}, "8001")
    assert (refused.status, refused.error) == (409, "resume: the call is not on hold")
    assert ("call-1", ("dtmf", {"digits": "12#"}, "8001")) in centre.held.events
    gone = await centre.control.control("call-9", "hold", {}, "8001")
    assert gone.status == 404 and "not live" in gone.error


async def test_a_call_held_here_is_acted_on_directly(centre: Centre) -> None:
    here = RoutedCallControl(centre.held, centre.telephony)
    assert (await here.control("call-1", "hold", {}, "8001")).state == {"held": True}
    assert centre.telephony.routed == 0 and centre.telephony.executed == 0


async def test_monitoring_starts_switches_and_stops_on_the_holder_with_its_refusals(centre: Centre) -> None:
    started = await centre.monitoring.start("call-1", supervisor="boss", role="supervisor", endpoint="PJSIP/9001",
                                            mode="listen", purpose="质检抽查")
    assert started == {"call_id": "call-1", "supervisor": "boss", "mode": "listen"}
    assert centre.monitoring.sessions() == [started]  # the wallboard of the supervisor's process shows it
    assert (await centre.monitoring.switch("call-1", supervisor="boss", mode="barge"))["mode"] == "barge"
    assert centre.monitoring.sessions()[0]["mode"] == "barge"
    await centre.monitoring.stop("call-1", supervisor="boss")
    assert centre.monitoring.sessions() == []
    assert centre.held.monitored == {}
    with pytest.raises(SupervisionError, match="not being monitored") as stopped:
        await centre.monitoring.stop("call-1", supervisor="boss")
    assert stopped.value.status == 404
    with pytest.raises(SupervisionError, match="R-111") as refused:
        await centre.monitoring.start("call-1", supervisor="boss", role="supervisor", endpoint="PJSIP/9001",
                                      mode="listen", purpose="")
    assert refused.value.status == 400


async def test_the_holder_gone_means_not_live_within_the_bound(centre: Centre) -> None:
    centre.telephony.execute = None  # it no longer runs anything: as good as dead for this call
    started = asyncio.get_running_loop().time()
    result = await centre.control.control("call-1", "hold", {}, "8001")
    assert result.status == 404 and asyncio.get_running_loop().time() - started < 3.0
    with pytest.raises(SupervisionError) as monitoring:
        await centre.monitoring.start("call-1", supervisor="boss", role="supervisor", endpoint="PJSIP/9001",
                                      mode="listen", purpose="质检抽查")
    assert monitoring.value.status == 404


async def test_an_agents_call_is_placed_by_the_process_that_dials(centre: Centre) -> None:
    routed = RoutedDialing(lambda: None, centre.web)  # the web process dials nothing itself
    assert await routed.dial_preview(7, "agent1") == {"task_id": 7}
    assert await routed.dial("agent1", "13800138000", order="GD20261206-000001") == {
        "call_id": "out-1", "number": "138****8000"}
    assert centre.dialing.dialled == [("preview", "7", "agent1"),
                                      ("number", "agent1", "13800138000", "GD20261206-000001")]
    with pytest.raises(CallbackError, match="booked for 15:00"):
        await routed.dial_preview(13, "agent1")
    with pytest.raises(ControlRefused, match="cannot be dialled") as refused:
        await routed.dial("agent1", "110")
    assert refused.value.status == 400
    centre.telephony.holder("a")(DIALER, False)  # its dialer stopped (lock lost): nobody dials now
    await centre.telephony.written()
    with pytest.raises(CallbackError, match="no process dials calls now"):
        await routed.dial_preview(8, "agent1")
