"""Live monitoring over ARI (R-118): listen, whisper and barge against the simulated Asterisk 22, checked by
who heard whom on each simulated line, with the timeline events and the access-ledger entries (R-111)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from ari_harness import Harness, of_type, start

from callcenter.calls.supervision import SupervisionError
from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.recordings.service import RecordingService
from callcenter.recordings.supervision import supervision_entries
from callcenter.sim.ari import AriSimulator, SimChannel
from callcenter.sim.ari_parties import SimAgent, SimCaller

AGENT, SEAT = "PJSIP/801", "PJSIP/9001"
CALLER = "caller 13800138000"
# The caller speaks every 2 s so the silent-call sequence never ends the call under the test.
CHATTY = tuple((2.0 * k, 0.5) for k in range(1, 150))


@pytest.fixture
async def centre(settings: Settings, sqlite_url: str):  # type: ignore[no-untyped-def]
    settings = replace(settings, database=replace(settings.database, url=sqlite_url))
    timeline = Timeline(sqlite_url)
    recordings = RecordingService(settings, timeline=timeline)

    async def seat(sim: AriSimulator) -> None:
        sim.add_agent(SimAgent(SEAT, answer_at_ring=1))  # the supervisor's desk phone: not an agent of the pool

    h = await start(settings, agents=[("a-801", SimAgent(AGENT, answer_at_ring=1))], timeline=timeline,
                    recordings=recordings, before_service=seat)
    yield h, recordings
    await h.close()
    assert h.check.errors == []


async def agent_on_the_line(h: Harness, caller: SimCaller) -> tuple[SimChannel, Any]:
    """Place a call and return once its agent is bridged (on the simulator's ChannelEnteredBridge)."""
    bridged: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def watch(kind: str, message: dict[str, Any]) -> None:
        if (kind == "event" and message.get("type") == "ChannelEnteredBridge"
                and message["channel"]["name"].startswith(AGENT) and not bridged.done()):
            bridged.set_result(None)

    h.sim.add_observer(watch)
    chan = h.sim.place_call(caller, app=h.settings.telephony.ari_app)
    async with asyncio.timeout(h.clock.real(60) + 2):
        await bridged
        call = h.service.call(chan.id)
        while call is None or call.agent_leg is None:  # the bridge request's answer is on its way
            await asyncio.sleep(0)
            call = h.service.call(chan.id)
    return chan, call


async def until(condition: Callable[[], Awaitable[bool]], what: str, seconds: float = 10.0) -> None:
    """Wait for what the service does on its own tasks (a ledger write runs in a thread), bounded in real time."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                if await condition():
                    return
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"not within {seconds} s: {what}") from None


async def supervision_ended(h: Harness, call_id: str) -> list[Any]:
    async def written() -> bool:
        return bool(of_type(await h.events(call_id), "supervision.ended"))

    await until(written, "supervision.ended on the timeline")
    return of_type(await h.events(call_id), "supervision.ended")


def voices(chan: SimChannel, since: float) -> set[str]:
    return {who for t, kind, who in chan.heard if kind == "voice" and chan.created_t + t >= since}


async def everyone_speaks(h: Harness, *channels: SimChannel) -> float:
    mark = h.sim.now()
    for chan in channels:
        h.sim.speak(chan.id, 0.5)
    return mark


async def test_listen_whisper_barge_switch_and_the_supervisor_hanging_up(centre: Any) -> None:
    h, recordings = centre
    monitoring = h.service.monitoring
    chan, call = await agent_on_the_line(h, SimCaller(args=("hotline",), speech=CHATTY))
    agent = h.sim.channels[call.agent_leg]

    started = await monitoring.start(chan.id, supervisor="lead", role="supervisor", endpoint=SEAT, mode="listen",
                                     purpose="质检抽查 新员工")
    assert started == {"call_id": chan.id, "supervisor": "lead", "mode": "listen", "purpose": "质检抽查 新员工"}
    seat = h.sim.channels[monitoring.active[chan.id].seat]
    heard: dict[str, tuple[set[str], set[str], set[str]]] = {}
    for mode in ("listen", "whisper", "barge"):
        if mode != "listen":
            await monitoring.switch(chan.id, supervisor="lead", mode=mode)
        mark = await everyone_speaks(h, chan, agent, seat)
        heard[mode] = (voices(seat, mark), voices(agent, mark), voices(chan, mark))
    assert heard["listen"] == ({CALLER, AGENT}, {CALLER}, {AGENT})
    assert heard["whisper"] == ({CALLER, AGENT}, {CALLER, SEAT}, {AGENT})
    assert heard["barge"] == ({CALLER, AGENT}, {CALLER, SEAT}, {AGENT, SEAT})
    snoops = [c for c in h.sim.channels.values() if c.snoop_of == agent.id]
    assert [(c.spy, c.whisper) for c in snoops] == [("both", "both")]  # each switch replaced the Snoop

    h.sim.caller_hangs_up(seat.id)  # the supervisor puts the phone down
    await h.sim.wait_ended(seat.id)
    await supervision_ended(h, chan.id)
    assert chan.ended_t is None and agent.ended_t is None and agent.bridge == call.bridge_id
    mark = await everyone_speaks(h, chan, agent)
    assert (voices(agent, mark), voices(chan, mark)) == ({CALLER}, {AGENT})  # the call goes on, untouched
    assert not [c for c in h.sim.channels.values() if c.snoop_of]

    h.sim.caller_hangs_up(chan.id)
    async with asyncio.timeout(5):
        outcome = await h.service.outcome(chan.id)
    assert outcome.by == "caller"
    events = await h.events(chan.id)
    kinds = [(e.type, e.data["mode"], e.data.get("from_mode"), e.data.get("reason")) for e in events
             if e.type.startswith("supervision.")]
    assert kinds == [("supervision.started", "listen", None, None),
                     ("supervision.switched", "whisper", "listen", None),
                     ("supervision.switched", "barge", "whisper", None),
                     ("supervision.ended", "barge", None, "supervisor")]
    assert {e.data["purpose"] for e in of_type(events, "supervision.switched")} == {"质检抽查 新员工"}
    entries = supervision_entries(recordings.url, chan.id)
    assert [(e["actor"], e["role"], e["detail"].split(" call ")[0]) for e in entries] == [
        ("lead", "supervisor", "started listen"), ("lead", "supervisor", "switched whisper"),
        ("lead", "supervisor", "switched barge"), ("lead", "supervisor", "ended barge")]
    assert all("purpose: 质检抽查 新员工" in e["detail"] for e in entries)
    assert recordings.verify_ledger().ok


async def test_the_call_ending_ends_the_monitoring_and_hangs_up_the_seat(centre: Any) -> None:
    h, recordings = centre
    chan, _ = await agent_on_the_line(h, SimCaller(args=("hotline",), speech=CHATTY))
    await h.service.monitoring.start(chan.id, supervisor="lead", role="supervisor", endpoint=SEAT, mode="whisper",
                                     purpose="投诉跟进")
    seat_id = h.service.monitoring.active[chan.id].seat
    h.sim.caller_hangs_up(chan.id)
    async with asyncio.timeout(5):
        seat = await h.sim.wait_ended(seat_id)
        await h.service.outcome(chan.id)
    assert seat.hangup_by == "system"
    ended = await supervision_ended(h, chan.id)
    assert [(e.data["reason"], e.data["mode"]) for e in ended] == [("call_ended", "whisper")]
    assert h.service.monitoring.active == {} and not h.sim.bridges
    assert recordings.verify_ledger().ok


async def test_the_agent_hears_a_tone_when_listening_starts_if_the_centre_says_so(settings: Settings) -> None:
    async def seat(sim: AriSimulator) -> None:
        sim.add_agent(SimAgent(SEAT, answer_at_ring=1))

    h = await start(settings, agents=[("a-801", SimAgent(AGENT, answer_at_ring=1))], before_service=seat,
                    telephony={"supervision_notify_agent": True})
    try:
        chan, call = await agent_on_the_line(h, SimCaller(args=("hotline",), speech=CHATTY))
        agent = h.sim.channels[call.agent_leg]
        mark = h.sim.now() - agent.created_t
        await h.service.monitoring.start(chan.id, supervisor="lead", role="supervisor", endpoint=SEAT,
                                         mode="listen", purpose="培训")
        tones = [m for t, kind, m in agent.heard if kind == "playback" and t >= mark and m == "sound:beep"]
        caller_tones = [m for t, kind, m in chan.heard if kind == "playback" and m == "sound:beep"]
        assert tones == ["sound:beep"] and caller_tones == []
        h.sim.caller_hangs_up(chan.id)
        async with asyncio.timeout(5):
            await h.service.outcome(chan.id)
    finally:
        await h.close()
    assert h.check.errors == []


async def test_refusals_name_the_reason(centre: Any) -> None:
    h, _ = centre
    monitoring = h.service.monitoring
    with pytest.raises(SupervisionError, match="is not live") as gone:
        await monitoring.start("no-such-call", supervisor="lead", role="supervisor", endpoint=SEAT, mode="listen",
                               purpose="抽查")
    assert gone.value.status == 404
    chan, _ = await agent_on_the_line(h, SimCaller(args=("hotline",), speech=CHATTY))
    with pytest.raises(SupervisionError, match="purpose is required"):
        await monitoring.start(chan.id, supervisor="lead", role="supervisor", endpoint=SEAT, mode="listen",
                               purpose="  ")
    with pytest.raises(SupervisionError, match="expected one of listen, whisper, barge"):
        await monitoring.start(chan.id, supervisor="lead", role="supervisor", endpoint=SEAT, mode="spy",
                               purpose="抽查")
    with pytest.raises(SupervisionError, match="Asterisk refused the monitoring"):
        await monitoring.start(chan.id, supervisor="lead", role="supervisor", endpoint="PJSIP/none", mode="listen",
                               purpose="抽查")
    assert monitoring.active == {}
    await monitoring.start(chan.id, supervisor="lead", role="supervisor", endpoint=SEAT, mode="listen", purpose="抽查")
    with pytest.raises(SupervisionError, match="already monitored by lead"):
        await monitoring.start(chan.id, supervisor="other", role="supervisor", endpoint=SEAT, mode="listen",
                               purpose="抽查")
    with pytest.raises(SupervisionError, match="monitored by lead, not by other") as theirs:
        await monitoring.switch(chan.id, supervisor="other", mode="barge")
    assert theirs.value.status == 403
    await monitoring.stop(chan.id, supervisor="lead")
    assert monitoring.active == {} and chan.ended_t is None
    h.sim.caller_hangs_up(chan.id)
    async with asyncio.timeout(5):
        await h.service.outcome(chan.id)


async def test_no_monitoring_when_the_access_ledger_cannot_be_written(settings: Settings, tmp_path: Any) -> None:
    """R-111: an access that cannot be logged is refused; the seat is hung up and the call goes on."""

    class NoLedger:
        url = f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}"  # no ledger tables: every append fails

    async def seat(sim: AriSimulator) -> None:
        sim.add_agent(SimAgent(SEAT, answer_at_ring=1))

    h = await start(settings, agents=[("a-801", SimAgent(AGENT, answer_at_ring=1))], before_service=seat,
                    recordings=NoLedger())
    try:
        chan, _ = await agent_on_the_line(h, SimCaller(args=("hotline",), speech=CHATTY))
        with pytest.raises(SupervisionError, match="access ledger could not be written") as refused:
            await h.service.monitoring.start(chan.id, supervisor="lead", role="supervisor", endpoint=SEAT,
                                             mode="listen", purpose="抽查")
        assert refused.value.status == 503
        assert h.service.monitoring.active == {} and not [c for c in h.sim.channels.values() if c.snoop_of]
        assert not [c for c in h.sim.channels.values() if c.name.startswith(SEAT)] and chan.ended_t is None
        events = await h.events(chan.id)
        assert [(e.type, e.data.get("reason")) for e in events if e.type.startswith("supervision.")] == [
            ("supervision.ended", "not_ledgered")]
        h.sim.caller_hangs_up(chan.id)
        async with asyncio.timeout(5):
            await h.service.outcome(chan.id)
    finally:
        await h.close()
    assert h.check.errors == []


async def test_a_seat_hung_up_while_the_websocket_was_down_ends_the_monitoring_on_reconnect(centre: Any) -> None:
    """Asterisk restarts and the supervisor hangs up meanwhile (the event is lost): the reconcile ends the
    monitoring and destroys its bridge; a monitoring bridge nobody owns (left by a service restart) goes too."""
    h, recordings = centre
    chan, _ = await agent_on_the_line(h, SimCaller(args=("hotline",), speech=CHATTY))
    await h.service.monitoring.start(chan.id, supervisor="lead", role="supervisor", endpoint=SEAT, mode="listen",
                                     purpose="抽查")
    seat_id = h.service.monitoring.active[chan.id].seat
    h.sim.handle("POST", "/bridges", {"type": "mixing", "bridgeId": "mon-left-by-a-restart"})
    reconciles = h.service.reconciles
    h.server.restart(down_for=1.0)
    h.sim.caller_hangs_up(seat_id)
    ended = await supervision_ended(h, chan.id)  # after the reconnect and the reconcile's requests
    assert h.service.reconciles > reconciles
    assert [e.data["reason"] for e in ended] == ["supervisor"]
    assert sorted(h.sim.bridges) == [f"cc-{chan.id}"] and chan.ended_t is None
    h.sim.caller_hangs_up(chan.id)
    async with asyncio.timeout(5):
        await h.service.outcome(chan.id)
    assert recordings.verify_ledger().ok


async def test_a_monitoring_goes_on_across_a_lost_websocket(centre: Any) -> None:
    """The reconcile after a reconnect keeps the running seat and Snoop (they are not strays to hang up)."""
    h, _ = centre
    chan, call = await agent_on_the_line(h, SimCaller(args=("hotline",), speech=CHATTY))
    await h.service.monitoring.start(chan.id, supervisor="lead", role="supervisor", endpoint=SEAT, mode="listen",
                                     purpose="抽查")
    seat = h.sim.channels[h.service.monitoring.active[chan.id].seat]
    listed = h.check.seen.get("GET /bridges", 0)
    h.server.restart(down_for=1.0)
    async def listed_again() -> bool:  # the reconcile's last request lists the bridges: strays were hung up
        return h.check.seen.get("GET /bridges", 0) > listed

    await until(listed_again, "the reconcile after the reconnect")
    assert h.check.seen.get("GET /bridges", 0) > listed and seat.ended_t is None
    mark = await everyone_speaks(h, chan, h.sim.channels[call.agent_leg])
    assert voices(seat, mark) == {CALLER, AGENT}
    await h.service.monitoring.switch(chan.id, supervisor="lead", mode="barge")
    h.sim.caller_hangs_up(chan.id)
    async with asyncio.timeout(5):
        await h.sim.wait_ended(seat.id)
        await h.service.outcome(chan.id)
