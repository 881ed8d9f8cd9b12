"""End-to-end ARI calls over real loopback sockets: the application against the simulated Asterisk 22.

Every test also asserts that each REST response and event the simulator sent matched the Swagger models.
"""

from __future__ import annotations

import asyncio
import wave
from dataclasses import replace
from pathlib import Path

import pytest
from ari_harness import PROMPT_SECONDS, Harness, heard, of_type, start

from callcenter.calls.agents import AgentState
from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.sim.ari import LocalLink
from callcenter.sim.ari_parties import SimAgent, SimCaller

# Timers run on the event loop: a window may end a little late (scheduling on a shared 2-core machine: up to
# ~40 ms real at the harness's 0.04 scale), never early.
LATE = 1.0


@pytest.fixture
async def one_agent(settings: Settings):  # type: ignore[no-untyped-def]
    h = await start(settings, agents=[("a-801", SimAgent("PJSIP/801", answer_at_ring=1))])
    yield h
    await h.close()
    assert h.check.errors == []


async def test_ivr_rings_then_answers_at_the_configured_ring(settings: Settings) -> None:
    """R-01: answer_after_rings=2 → the answer comes once ring 2 has sounded (cn: 5 s + 1 s)."""
    h = await start(settings, telephony={"answer_after_rings": 2})
    try:
        chan = await h.call(SimCaller(args=("hotline",), hangup_at=9.0))
        events = await h.events(chan.id)
    finally:
        await h.close()
    (ring_at, _), = heard(chan, "ringing")
    (answer_at, _), = heard(chan, "answered")
    assert 6.0 <= answer_at - ring_at < 6.0 + LATE
    answered = of_type(events, "ivr.answered")[0]
    assert answered.data["rings"] == 2
    assert [e.data["ring"] for e in of_type(events, "ivr.ringing")] == [1, 2]
    assert h.service.outcomes[chan.id].by == "caller"
    assert h.check.errors == []


async def test_silent_call_sequence_with_exact_windows(one_agent: Harness) -> None:
    """R-15: greeting, 5 s, S2, 5 s, S3, 5 s, hang-up with disposition silent; windows start at prompt end."""
    chan = await one_agent.call(SimCaller(args=("hotline",)))
    events = await one_agent.events(chan.id)
    events_all = await one_agent.events(chan.id, skip=())
    prompts = [e.data["key"] for e in of_type(events, "prompt.started")]
    assert prompts == ["ivr.welcome", "greeting.standard", "silent.s2", "silent.s3"]
    finished = {e.data["key"]: e.offset for e in of_type(events, "prompt.finished")}
    started = {e.data["key"]: e.offset for e in of_type(events, "prompt.started")}
    hangup = of_type(events, "call.hangup")[0]
    windows = [e.offset for e in of_type(events, "silence.window")]
    for before, window in zip(("greeting.standard", "silent.s2", "silent.s3"), windows, strict=True):
        assert 5.0 <= window - finished[before] < 5.0 + LATE, (before, window - finished[before])
    # Each window is one timer of exactly 5 s, started the instant its prompt finished.
    timers = [e for e in events_all if e.type == "command" and e.data.get("command") == "start_timer"
              and e.data.get("seconds") == 5.0]
    assert len(timers) == 3
    for timer, before in zip(timers, ("greeting.standard", "silent.s2", "silent.s3"), strict=True):
        assert 0 <= timer.offset - finished[before] < LATE / 4
    assert windows[0] <= started["silent.s2"] < windows[0] + LATE
    assert windows[1] <= started["silent.s3"] < windows[1] + LATE
    # The caller's side: the line is released 5 s after S3 ended (not before).
    (s3_at,) = [t for t, m in heard(chan, "playback") if m == "sound:silent.s3"]
    (gone_at, by), = heard(chan, "hangup")
    assert 5.0 <= gone_at - (s3_at + PROMPT_SECONDS) < 5.0 + LATE and by == "system"
    assert hangup.data["disposition"] == "silent"
    assert [e.data["step"] for e in of_type(events, "silence.window")] == [1, 2, 3]
    assert not of_type(events, "speech.started")  # a silent caller sends no media: no talk events
    # The caller heard each prompt once, for its whole length.
    played = [m for _, m in heard(chan, "playback")]
    assert played == ["sound:ivr.welcome", "sound:greeting.standard", "sound:silent.s2", "sound:silent.s3"]


async def test_unanswered_agent_is_skipped_after_three_rings_for_the_neighbour(settings: Settings) -> None:
    """R-01/R-02: a1 never answers → 3 rings, skipped; the neighbour seat a2 (not the longer-idle a3) rings."""
    h = await start(settings, agents=[("a1", SimAgent("PJSIP/8001", answer_at_ring=None)),
                                      ("a2", SimAgent("PJSIP/8002", answer_at_ring=2)),
                                      ("a3", SimAgent("PJSIP/8003", answer_at_ring=1))])
    await h.pool.set_state("a1", AgentState.READY)
    h.pool.agents["a1"].idle_since, h.pool.agents["a2"].idle_since, h.pool.agents["a3"].idle_since = -30, -10, -20
    try:
        chan = await h.call(SimCaller(args=("hotline",), hangup_at=45.0))
        events = await h.events(chan.id)
        call_stats = h.service.outcomes[chan.id]
    finally:
        await h.close()
    rings_a1 = [e for e in of_type(events, "agent.ringing") if e.data["agent"] == "a1"]
    assert [e.data["ring"] for e in rings_a1] == [1, 2, 3]
    skipped = of_type(events, "agent.skipped")
    assert [(e.data["agent"], e.data["rings"], e.data["seconds"], e.data["reason"]) for e in skipped] == [
        ("a1", 3, 15.0, "no_answer")]
    answered = of_type(events, "agent.answered")[0]
    assert answered.data["agent"] == "a2" and answered.data["rings"] == 2
    assert 5.0 <= answered.data["seconds"] < 5.0 + 1.0 + LATE
    assert answered.offset - skipped[0].offset < 6.5 + LATE
    assert h.pool.agents["a1"].state is AgentState.NOT_READY  # away from the seat until ready again
    assert h.pool.agents["a3"].state is AgentState.READY
    assert call_stats.by == "caller"
    assert h.check.errors == []


async def test_bridge_and_recording_into_the_recordings_root(settings: Settings, sqlite_url: str) -> None:
    from callcenter.recordings.access import Actor
    from callcenter.recordings.service import RecordingService

    settings = replace(settings, database=replace(settings.database, url=sqlite_url))
    timeline = Timeline(sqlite_url)
    recordings = RecordingService(settings, timeline=timeline)
    h = await start(settings, agents=[("a-801", SimAgent("PJSIP/801", answer_at_ring=1))],
                    timeline=timeline, recordings=recordings)
    try:
        chan = await h.call(SimCaller(args=("hotline",), speech=((9.0, 1.0),), hangup_at=20.0))
        events = await h.events(chan.id)
    finally:
        await h.close()  # waits for the service's own tasks, the recording's registration among them
    # QA filters by agent and disposition: the IVR recording learns both when it ends.
    row = recordings.get_by_call(Actor("qa", "qa"), chan.id)
    assert (row.agent, row.disposition) == ("a-801", "normal")
    bridged = of_type(events, "call.bridged")[0]
    assert bridged.data == {"agent": "a-801", "bridge": f"cc-{chan.id}"}
    rec = of_type(events, "recording.started")[0].data
    done = of_type(events, "recording.finished")[0].data
    day = chan.created.astimezone(settings.service.tz)
    assert rec["path"] == f"{day:%Y/%m/%d}/{chan.id}.wav" == done["path"]
    file: Path = settings.recordings.root / rec["path"]
    with wave.open(str(file)) as w:
        seconds = w.getnframes() / w.getframerate()
        size = w.getnframes() * 2 + 44
    assert 10.0 < seconds <= 20.0  # from the IVR answer (~1 s) to the caller's hang-up at 20 s
    assert done["bytes"] == size
    assert h.check.seen.get("ChannelEnteredBridge", 0) == 2  # caller at answer, agent when bridged
    assert h.check.seen.get("RecordingFinished") == 1
    assert h.check.errors == []


async def test_hold_and_resume_phrases(one_agent: Harness) -> None:
    """R-38/R-39: 「对不起,请稍等」 then music on hold; on resume the music stops and 「对不起,让您久等了」."""
    h = one_agent
    chan_task = asyncio.create_task(h.call(SimCaller(args=("hotline",), speech=((9.0, 1.0),), hangup_at=40.0)))
    await asyncio.sleep(h.clock.real(15.0))
    (call,) = h.service.calls.values()
    call.request_script("hold")
    await asyncio.sleep(h.clock.real(12.0))
    call.request_script("resume")
    chan = await chan_task
    events = await h.events(chan.id)
    played = [m for _, m in heard(chan, "playback")]
    assert played[-2:] == ["sound:hold.wait", "sound:hold.resume"]
    (moh_at, moh_class), = heard(chan, "moh")
    (moh_stop, _), = heard(chan, "moh_stopped")
    wait_at = next(t for t, m in heard(chan, "playback") if m == "sound:hold.wait")
    resume_at = next(t for t, m in heard(chan, "playback") if m == "sound:hold.resume")
    assert wait_at + PROMPT_SECONDS <= moh_at < moh_stop <= resume_at
    assert moh_class == "default"
    texts = [e.data["text"] for e in of_type(events, "prompt.started")]
    assert "对不起,请稍等。" in texts and "对不起,让您久等了。" in texts
    hold_ended = of_type(events, "hold.ended")[0]
    assert 5.0 < hold_ended.data["seconds"] < 12.0


async def test_dialect_d1_then_d2_keeps_the_line_open(settings: Settings) -> None:
    """R-19..R-21: D1, then D2 and the line stays open (hold, re-check prompt every N s) until the caller
    speaks Mandarin; nobody hangs up on the caller."""
    h = await start(settings, agents=[("a-801", SimAgent("PJSIP/801", answer_at_ring=1))],
                    service={"dialect_recheck_seconds": 10.0, "dialect_max_seconds": 300.0})
    try:
        task = asyncio.create_task(h.call(SimCaller(args=("hotline",), speech=((9.0, 1.0), (47.0, 2.0)),
                                                    hangup_at=60.0)))
        await asyncio.sleep(h.clock.real(13.0))
        (call,) = h.service.calls.values()
        call.request_script("dialect_d1")
        await asyncio.sleep(h.clock.real(5.0))
        call.request_script("dialect_d2")
        chan = await task
        events = await h.events(chan.id)
    finally:
        await h.close()
    played = [m for _, m in heard(chan, "playback")]
    assert played[2:5] == ["sound:dialect.d1", "sound:dialect.d2", "sound:dialect.recheck"]
    assert heard(chan, "moh"), "the caller waits on hold while a Mandarin speaker is found"
    hangups = of_type(events, "call.hangup")
    assert hangups[0].data["by"] == "caller" and hangups[0].offset > 59.0  # the line stayed open
    assert h.check.errors == []


async def test_websocket_drop_mid_call_loses_no_call_and_repeats_no_prompt(one_agent: Harness) -> None:
    """Asterisk restarts during the greeting (its PlaybackFinished is lost): the application reconnects,
    reconciles, and the silent-call sequence goes on to its end with every prompt played exactly once."""
    h = one_agent
    task = asyncio.create_task(h.call(SimCaller(args=("hotline",))))
    await asyncio.sleep(h.clock.real(7.0))  # the agent answered, the greeting is playing
    h.server.restart(down_for=3.0)
    chan = await task
    events = await h.events(chan.id)
    played = [m for _, m in heard(chan, "playback")]
    assert played == ["sound:ivr.welcome", "sound:greeting.standard", "sound:silent.s2", "sound:silent.s3"]
    assert h.service.client.connections >= 2 and h.service.reconciles >= 2
    assert h.service.outcomes[chan.id].disposition == "silent"
    assert [e.data["key"] for e in of_type(events, "prompt.finished")] == [
        "ivr.welcome", "greeting.standard", "silent.s2", "silent.s3"]


async def test_a_restarted_service_adopts_live_calls_without_greeting_twice(settings: Settings) -> None:
    """The service died mid-call: the new process finds the caller in Stasis. A call the timeline knows is
    not greeted again (no script runs twice) but goes to the agent queue; an unknown one runs its entry."""
    timeline = Timeline(None)
    placed: dict[str, str] = {}

    async def previous_process(sim) -> None:  # type: ignore[no-untyped-def]
        link = LocalLink(sim, settings.telephony.ari_app)
        known = sim.place_call(SimCaller(args=("hotline",), hangup_at=20.0))
        fresh = sim.place_call(SimCaller(args=("hotline",), hangup_at=20.0))
        sim.handle("POST", f"/channels/{known.id}/answer", {})
        timeline.append(known.id, "call.offered", {"entry": "hotline"})
        await timeline.flush()
        await link.close()  # the process is gone; its channels stay in Stasis
        placed.update(known=known.id, fresh=fresh.id)

    h = await start(settings, agents=[("a-801", SimAgent("PJSIP/801", answer_at_ring=1))], timeline=timeline,
                    before_service=previous_process)
    try:
        async with asyncio.timeout(h.clock.real(30) + 2):
            known = await h.sim.wait_ended(placed["known"])
            fresh = await h.sim.wait_ended(placed["fresh"])
    finally:
        await h.close()
    assert "sound:ivr.welcome" not in [m for _, m in heard(known, "playback")]
    assert len(heard(known, "answered")) == 1  # answered by the previous process, not again
    assert next(m for _, m in heard(fresh, "playback")) == "sound:ivr.welcome"
    assert h.check.errors == []


async def test_a_caller_who_gives_up_during_ring_two_is_abandoned_unanswered(settings: Settings) -> None:
    h = await start(settings, telephony={"answer_after_rings": 3})
    try:
        chan = await h.call(SimCaller(args=("hotline",), hangup_at_ring=2))
        events = await h.events(chan.id)
    finally:
        await h.close()
    assert not heard(chan, "answered")
    (gone_at, by), = heard(chan, "hangup")
    assert by == "caller" and 5.5 <= gone_at < 5.5 + LATE  # half-way through ring 2's tone
    assert not of_type(events, "ivr.answered")
    assert [e.data["ring"] for e in of_type(events, "ivr.ringing")] == [1, 2]
    assert of_type(events, "call.hangup")[0].data["by"] == "caller"
    assert h.check.errors == []


async def test_a_digit_in_the_first_window_ends_the_silent_sequence(one_agent: Harness) -> None:
    """R-15: any DTMF in a window ends the silent-call sequence; the call goes on normally."""
    chan = await one_agent.call(SimCaller(args=("hotline",), dtmf=((10.0, "1"),), hangup_at=30.0))
    events = await one_agent.events(chan.id)
    assert [e.data["digit"] for e in of_type(events, "dtmf")] == ["1"]
    played = [m for _, m in heard(chan, "playback")]
    assert "sound:silent.s2" not in played and "sound:silent.s3" not in played
    assert of_type(events, "call.hangup")[0].data["by"] == "caller"
