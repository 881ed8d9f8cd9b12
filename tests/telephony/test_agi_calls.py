"""End to end over real loopback TCP: the simulated Asterisk (callcenter.sim.agi) calls the FastAGI bridge, which
runs the standard scripts through the runner. Time runs on a scaled clock shared by both sides (no sleeping for
timings): one call second is 50 ms of wall time (agi_peer.SCALE).
"""

from __future__ import annotations

import asyncio
import wave
from dataclasses import replace

import pytest

from callcenter.calls.agents import Agent, AgentState
from callcenter.calls.seat_pool import SeatPool
from callcenter.scripting.library import load_library
from callcenter.sim.agi import AGIPeer
from callcenter.sim.ari_parties import SimAgent, SimCaller
from callcenter.telephony.agi.channel import TALK_MIN_MS, TALK_SILENCE_MS
from callcenter.voice import PromptVoice, synthesise, voice_for
from tests.calls.seats_kit import seat_pool
from tests.telephony.agi_peer import call_events, running_bridge

# Scaled time on a shared 2-core machine: allow this much lateness, in call seconds.
SLACK = 0.8


def _pool(settings, *ids: str) -> SeatPool:
    return seat_pool(settings, *(Agent(agent_id, f"PJSIP/80{n:02d}", f"10{n:02d}", state=AgentState.READY)
                                 for n, agent_id in enumerate(ids, start=1)))


def _types(events) -> list[str]:
    return [e.type for e in events]


def _first(events, type_: str, **data):
    for e in events:
        if e.type == type_ and all(e.data.get(k) == v for k, v in data.items()):
            return e
    raise AssertionError(f"no {type_} {data} in {_types(events)}")


def _seconds(settings, key: str) -> float:
    """How long the simulated Asterisk plays a prompt (AGIPeer reads the wav's length): its recorded file when
    one exists, else the file the bridge renders from its text (callcenter.voice)."""
    recorded = settings.scripts.directory / "sounds" / "zh-CN" / f"{key}.wav"
    if not recorded.is_file():
        library = load_library(settings.scripts.directory, settings.scripts)
        text = library.catalogues.lookup(key, "zh-CN").render({"hotline": settings.service.hotline})
        voice = PromptVoice.of(settings.scripts)
        stem = voice.rendered_path("zh-CN", key, text)
        recorded = stem.parent / f"{stem.name}.wav"
        if not recorded.is_file():
            synthesise(text, voice_for("zh-CN"), recorded)
    with wave.open(str(recorded)) as w:
        return w.getnframes() / float(w.getframerate())


async def _call(bridge, caller: SimCaller, agents=None) -> tuple:
    peer = AGIPeer(caller, clock=bridge["clock"], agents=agents or {})
    result = await asyncio.wait_for(peer.run(bridge["host"], bridge["port"]), 30)
    events = await call_events(bridge["timeline"], result.uniqueid)
    return result, events


async def test_silent_caller_gets_the_exact_silent_call_sequence(settings) -> None:
    """R-15 / docs/design.md: S1 greeting, 5 s, S2, 5 s, S3, 5 s, hang up with disposition silent."""
    async with running_bridge(settings, _pool(settings)) as bridge:
        result, events = await _call(bridge, SimCaller(args=("silent",)))
    prompts = [e.data["key"] for e in events if e.type == "prompt.started"]
    assert prompts == ["greeting.standard", "silent.s2", "silent.s3"]
    windows = [e for e in events if e.type == "silence.window"]
    assert [w.data["step"] for w in windows] == [1, 2, 3]
    finished = [e for e in events if e.type == "prompt.finished"]
    for prompt_done, window in zip(finished, windows, strict=True):
        assert 5.0 <= window.offset - prompt_done.offset <= 5.0 + SLACK  # each window starts at the prompt's end
    hangup = _first(events, "call.hangup")
    assert hangup.data["by"] == "system" and hangup.data["disposition"] == "silent"
    assert hangup.offset - finished[-1].offset == pytest.approx(5.0, abs=SLACK)
    # On the Asterisk side: the bridge hung up (AGI HANGUP), listening used BackgroundDetect on 5 s of silence.
    assert result.hung_up_by == "agi"
    commands = result.commands()
    assert commands[:3] == ["EXEC Ringing", "ANSWER", commands[2]] and commands[2].startswith("EXEC MixMonitor ")
    assert commands.count(f"EXEC BackgroundDetect silence/5,{TALK_SILENCE_MS},{TALK_MIN_MS}") == 3
    assert commands[-1] == "HANGUP"


async def test_speaking_caller_is_not_hung_up(settings) -> None:
    async with running_bridge(settings, _pool(settings)) as bridge:
        # The greeting ends about 8.3 s in; the caller speaks 1.5 s at 10 s, then hangs up at 20 s.
        caller = SimCaller(args=("silent",), speech=((10.0, 1.5),), hangup_at=20.0)
        result, events = await _call(bridge, caller)
    prompts = [e.data["key"] for e in events if e.type == "prompt.started"]
    assert "silent.s2" not in prompts and "silent.s3" not in prompts
    speech = _first(events, "speech.started")
    window = _first(events, "listen.started")
    assert window.offset < speech.offset < window.offset + 5.0  # inside the first 5 s window
    # BackgroundDetect measures the talk token (from the window's start if the caller began before it).
    assert 0.5 < _first(events, "speech.stopped").data["duration"] <= 1.55
    assert not any(e.type == "silence.window" for e in events)
    hangup = _first(events, "call.hangup")
    assert hangup.data["by"] == "caller" and hangup.data["disposition"] != "silent"
    assert result.hung_up_by == "caller" and "HANGUP" not in result.commands()


async def test_a_prompt_that_cannot_be_played_is_an_error_and_the_call_goes_on(settings, tmp_path) -> None:
    """A prompt without audio (here nowhere to render it) is prompt.failed, never prompt.finished: it was not
    heard. The silent-call sequence still runs its windows and releases the caller (R-15)."""
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    settings = replace(settings, scripts=replace(settings.scripts, rendered_audio_directory=blocked / "audio"))
    async with running_bridge(settings, _pool(settings)) as bridge:
        _, events = await _call(bridge, SimCaller(args=("silent",)))
    failed = [e.data for e in events if e.type == "prompt.failed"]
    assert failed[0]["key"] == "greeting.standard" and "a-file" in failed[0]["error"]
    assert "greeting.standard" not in [e.data["key"] for e in events if e.type == "prompt.finished"]
    assert [e.data["step"] for e in events if e.type == "silence.window"] == [1, 2, 3]


async def test_dtmf_menu_routes_the_caller(settings) -> None:
    """main_menu: 1 = 咨询 (R-139); the digit arrives through BackgroundDetect's ASCII result."""
    menu_window = 1.0 + _seconds(settings, "ivr.welcome") + _seconds(settings, "ivr.menu")
    agents = {"PJSIP/8001": SimAgent("PJSIP/8001", answer_at_ring=1, hangup_after=3.0)}
    async with running_bridge(settings, _pool(settings, "a1")) as bridge:
        caller = SimCaller(args=("main",), dtmf=((menu_window + 2.0, "1"),))
        result, events = await _call(bridge, caller, agents)
    assert _first(events, "dtmf").data == {"digit": "1"}
    states = [e.data["state"] for e in events if e.type == "script.state"]
    assert states[:3] == ["welcome", "menu", "consult"]
    assert _first(events, "queue.entered").data == {"group": "default"}
    answered = _first(events, "agent.answered")
    assert answered.data["agent"] == "a1" and answered.data["rings"] == 1
    assert any(c.startswith("EXEC BackgroundDetect silence/8") for c in result.commands())


async def test_agent_who_does_not_answer_in_three_rings_is_skipped_for_the_neighbour(settings) -> None:
    """R-01 / R-02: Dial(…,15): the first seat lets it ring past three rings, the neighbour answers at ring 2."""
    agents = {
        "PJSIP/8001": SimAgent("PJSIP/8001", answer_at_ring=None),
        "PJSIP/8002": SimAgent("PJSIP/8002", answer_at_ring=2, hangup_after=4.0),
    }
    pool = _pool(settings, "a1", "a2")
    async with running_bridge(settings, pool) as bridge:
        result, events = await _call(bridge, SimCaller(args=("hotline",)), agents)
    skipped = _first(events, "agent.skipped")
    assert skipped.data["agent"] == "a1" and skipped.data["reason"] == "no_answer"
    assert skipped.data["rings"] == 3 and skipped.data["seconds"] == pytest.approx(15.0, abs=SLACK)
    answered = _first(events, "agent.answered")
    assert answered.data["agent"] == "a2" and answered.data["rings"] == 2
    assert answered.data["seconds"] == pytest.approx(5.5, abs=SLACK)  # during ring 2 (5 s period)
    assert answered.offset < skipped.offset + answered.data["seconds"] + SLACK
    assert _first(events, "call.bridged").data["agent"] == "a2"
    dials = [c for c in result.commands() if c.startswith("EXEC Dial")]
    assert dials == ["EXEC Dial PJSIP/8001,15,g", "EXEC Dial PJSIP/8002,15,g"]
    assert pool.get("a1").state is AgentState.NOT_READY  # the unattended seat is not offered calls again
    assert pool.get("a2").state is AgentState.AFTER_CALL
    # The agent hung up first (Dial option g keeps the caller): the bridge releases the caller and says who.
    assert _first(events, "call.hangup").data["by"] == "agent"
    assert result.hung_up_by == "agi" and result.commands()[-1] == "HANGUP"


async def test_recording_file_exists_and_timeline_is_complete(settings) -> None:
    agents = {"PJSIP/8001": SimAgent("PJSIP/8001", answer_at_ring=1)}
    async with running_bridge(settings, _pool(settings, "a1")) as bridge:
        caller = SimCaller(args=("hotline",), hangup_at=30.0)
        result, events = await _call(bridge, caller, agents)
    started = _first(events, "recording.started")
    finished = _first(events, "recording.finished")
    path = settings.recordings.root / started.data["path"]
    assert path.is_file() and path.stat().st_size == finished.data["bytes"] > 44
    with wave.open(str(path)) as w:  # MixMonitor's file spans answer-to-hang-up
        seconds = w.getnframes() / w.getframerate()
    assert seconds == pytest.approx(finished.offset - started.offset, abs=SLACK)
    parts = started.data["path"].split("/")
    assert len(parts) == 4 and parts[3] == f"{result.uniqueid}.wav"  # YYYY/MM/DD/<call_id>.wav
    types = set(_types(events))
    for needed in (
        "call.offered", "ivr.ringing", "ivr.answered", "recording.started", "prompt.started", "prompt.finished",
        "queue.entered", "agent.ringing", "agent.answered", "call.bridged", "queue.left", "recording.finished",
        "command", "call.hangup",
    ):
        assert needed in types, needed
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    offered = _first(events, "call.offered").data
    assert offered["transport"] == "agi" and offered["entry"] == "hotline" and offered["caller"] == "13800138000"
    agi_commands = [e for e in events if e.type == "command" and e.data.get("transport") == "agi"]
    assert len(agi_commands) == len(result.transcript)
    assert all(e.data["ms"] >= 0 for e in agi_commands)
    assert _first(events, "call.hangup").data["by"] == "caller"


async def test_unknown_entry_is_apologised_to_and_queued(settings) -> None:
    agents = {"PJSIP/8001": SimAgent("PJSIP/8001", answer_at_ring=1, hangup_after=2.0)}
    async with running_bridge(settings, _pool(settings, "a1")) as bridge:
        result, events = await _call(bridge, SimCaller(args=("no-such-entry",)), agents)
    assert _first(events, "call.offered").data["entry"] == "no-such-entry"
    assert "unknown entry" in _first(events, "script.error").data["message"]
    assert _first(events, "prompt.started").data["key"] == "fallback.apology"
    assert _first(events, "queue.entered").data["group"] == settings.telephony.default_group
    assert _first(events, "agent.answered").data["agent"] == "a1"
    assert "ANSWER" in result.commands()


async def test_caller_hanging_up_during_the_first_ring_ends_the_call(settings) -> None:
    async with running_bridge(settings, _pool(settings)) as bridge:
        result, events = await _call(bridge, SimCaller(args=("silent",), hangup_at_ring=1))
    assert result.hung_up_by == "caller" and result.hangup_lines == 1
    assert "ANSWER" not in result.commands()
    hangup = _first(events, "call.hangup")
    assert hangup.data["by"] == "caller" and hangup.data["disposition"] == "abandoned"
    assert hangup.offset < 1.0 + SLACK


async def test_classic_agi_path_runs_the_same_silent_call(settings) -> None:
    """The pyst2 path (``callcenter agi``) drives the same session and channel: the same R-15 sequence."""
    import socket

    from callcenter.calls.timeline import Timeline
    from callcenter.sim.clock import ScaledClock
    from callcenter.telephony.agi.classic import ClassicTransport
    from callcenter.telephony.agi.server import CallContext, run_script_call

    load_library(settings.scripts.directory, settings.scripts)
    clock = ScaledClock(0.02)
    clock.time()
    timeline = Timeline(None)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    loop = asyncio.get_running_loop()
    accepted = asyncio.ensure_future(loop.sock_accept(listener))
    peer = asyncio.create_task(AGIPeer(SimCaller(args=("silent",)), clock=clock).run(*listener.getsockname()))
    conn, _ = await accepted
    conn.setblocking(True)
    rfile, wfile = conn.makefile("rb"), conn.makefile("wb", buffering=0)
    transport = ClassicTransport(rfile, wfile)
    env = await transport.read_environment()
    await run_script_call(CallContext(settings, timeline, seat_pool(settings), clock), transport, env)
    rfile.close()
    wfile.close()
    conn.close()
    listener.close()
    result = await asyncio.wait_for(peer, 10)
    events = await call_events(timeline, result.uniqueid)
    prompts = [e.data["key"] for e in events if e.type == "prompt.started"]
    assert prompts == ["greeting.standard", "silent.s2", "silent.s3"]
    assert _first(events, "call.hangup").data["disposition"] == "silent"
    assert result.commands()[-1] == "HANGUP" and result.hung_up_by == "agi"


async def test_recording_is_registered_with_the_recordings_service(settings, sqlite_url) -> None:
    """With the recordings service wired in, MixMonitor writes where the service says and the row is finished
    (hash, processing, retention floor) after the call, off the call's path."""
    from dataclasses import replace

    from callcenter.recordings.access import Actor
    from callcenter.recordings.service import RecordingService

    settings = replace(settings, database=replace(settings.database, url=sqlite_url))
    agents = {"PJSIP/8001": SimAgent("PJSIP/8001", answer_at_ring=1, hangup_after=3.0)}
    async with running_bridge(
        settings, _pool(settings, "a1"), recordings=lambda s, t: RecordingService(s, timeline=t)
    ) as bridge:
        result, events = await _call(bridge, SimCaller(args=("hotline",)), agents)
    # Leaving the bridge awaited the background processing.
    service = RecordingService(settings)
    info = service.get_by_call(Actor("qa1", "admin"), result.uniqueid)
    assert info.path == _first(events, "recording.started").data["path"]
    assert info.ended_at is not None and info.retain_until is not None
    assert result.recordings == [settings.recordings.root / info.path]
    # QA filters recordings by agent and disposition; MixMonitor started before any agent answered.
    assert info.agent == "a1"
    assert info.disposition == _first(events, "call.hangup").data["disposition"]


async def test_caller_hanging_up_while_the_agent_rings_is_abandoned_not_a_miss(settings) -> None:
    agents = {"PJSIP/8001": SimAgent("PJSIP/8001", answer_at_ring=None)}
    pool = _pool(settings, "a1")
    async with running_bridge(settings, pool) as bridge:
        # The welcome ends about 5.5 s in and the transfer starts; the caller gives up 4 s into the ringing.
        result, events = await _call(bridge, SimCaller(args=("hotline",), hangup_at=10.0), agents)
    assert not any(e.type in ("agent.skipped", "agent.answered") for e in events)
    assert _first(events, "agent.ringing").data["agent"] == "a1"
    assert _first(events, "call.hangup").data["by"] == "caller"
    assert pool.get("a1").state is AgentState.READY  # not marked away: the seat was not at fault
    assert result.hung_up_by == "caller" and result.variables["DIALSTATUS"] == "CANCEL"


async def test_many_calls_at_once_each_get_their_own_timeline(settings) -> None:
    from callcenter.sim.agi import run_calls

    callers = [SimCaller(args=("silent",), number=f"1380013{n:04d}", hangup_at=3.0 + n % 3) for n in range(20)]
    async with running_bridge(settings, _pool(settings)) as bridge:
        results = await asyncio.wait_for(run_calls(bridge["host"], bridge["port"], callers, clock=bridge["clock"]), 30)
        timelines = [await call_events(bridge["timeline"], r.uniqueid) for r in results]
    assert len({r.uniqueid for r in results}) == 20
    for result, events in zip(results, timelines, strict=True):
        assert _first(events, "call.offered").data["caller"] == result.caller.number
        hangup = _first(events, "call.hangup")
        assert hangup.data["by"] == "caller" and hangup.offset < result.caller.hangup_at + SLACK


async def test_without_backgrounddetect_windows_fall_back_to_wait_for_digit(settings) -> None:
    """An Asterisk without app_talkdetect answers EXEC BackgroundDetect with -2: digits still end a window."""
    menu_window = 1.0 + _seconds(settings, "ivr.welcome") + _seconds(settings, "ivr.menu")
    async with running_bridge(settings, _pool(settings)) as bridge:
        caller = SimCaller(args=("main",), dtmf=((menu_window + 2.0, "3"),), hangup_at=menu_window + 12.0)
        peer = AGIPeer(caller, clock=bridge["clock"], applications={"Ringing", "Wait", "MixMonitor", "Dial"})
        result = await asyncio.wait_for(peer.run(bridge["host"], bridge["port"]), 30)
        events = await call_events(bridge["timeline"], result.uniqueid)
    commands = result.commands()
    # tried once, then not again
    assert commands.count(f"EXEC BackgroundDetect silence/8,{TALK_SILENCE_MS},{TALK_MIN_MS}") == 1
    assert "WAIT FOR DIGIT 8000" in commands
    assert _first(events, "dtmf").data == {"digit": "3"}
    assert "suggestion" in [e.data["state"] for e in events if e.type == "script.state"]
