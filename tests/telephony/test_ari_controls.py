"""The panel's call control over the ARI application (issue 15), against the simulated Asterisk 22 on loopback
sockets: hold and resume with the standard phrases (R-38, R-39), mute, DTMF, the guarded hang-up (R-48), and who
heard what on each side. Every REST response and event the simulator sent is checked against the Swagger models.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from ari_harness import PROMPT_SECONDS, Harness, heard, of_type, start

from callcenter.config import Settings
from callcenter.sim.ari_parties import SimAgent, SimCaller
from callcenter.telephony.ari.call import AriCall

AGENT = "a-801"
ENDPOINT = "PJSIP/801"


async def until(h: Harness, condition: Callable[[], object], limit: float = 60.0) -> None:
    """Wait (at most ``limit`` call seconds, and 2 s more of real time) until ``condition()`` holds."""
    for _ in range(int((h.clock.real(limit) + 2) / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not so after {limit} call seconds")


async def answered_call(h: Harness, caller: SimCaller) -> tuple[asyncio.Task[object], AriCall]:
    """Place the call and return once the agent is on the line (its greeting has started)."""
    task = asyncio.create_task(h.call(caller))
    await until(h, lambda: any(c.agent_leg for c in h.service.calls.values()))
    (call,) = h.service.calls.values()
    return task, call


async def said(h: Harness, call_id: str, key: str, limit: float = 30.0) -> None:
    """Wait until the prompt ``key`` has been played to its end on the call (its audio may be rendered first)."""
    for _ in range(int((h.clock.real(limit) + 10) / 0.02)):
        if [e for e in await h.events(call_id) if e.type == "prompt.finished" and e.data["key"] == key]:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{key} was not played to its end")


def voices(chan: object, speaker: str) -> list[float]:
    return [t for t, who in heard(chan, "voice") if who == speaker]


@pytest.fixture
async def talker(settings: Settings):  # type: ignore[no-untyped-def]
    """One agent who answers at once and says something every 4 call seconds for a minute."""
    speech = tuple((float(t), 1.0) for t in range(2, 60, 4))
    h = await start(settings, agents=[(AGENT, SimAgent(ENDPOINT, answer_at_ring=1, speech=speech))])
    yield h
    await h.close()
    assert h.check.errors == []


async def test_hold_says_the_phrase_then_music_and_the_caller_stops_hearing_the_agent(talker: Harness) -> None:
    """R-38/R-39: 「对不起,请稍等」, then music on the caller's channel (the agent's words no longer reach the
    caller); resume: the music stops, 「对不起,让您久等了」, and the agent is heard again."""
    h = talker
    task, call = await answered_call(h, SimCaller(args=("hotline",), speech=((9.0, 1.0),), hangup_at=45.0))
    await asyncio.sleep(h.clock.real(6.0))
    held = await h.service.control(call.call_id, "hold", {}, AGENT)
    assert held.ok and held.state["held"] is True
    again = await h.service.control(call.call_id, "hold", {}, AGENT)
    assert again.status == 409 and "already on hold" in again.error
    await asyncio.sleep(h.clock.real(14.0))
    resumed = await h.service.control(call.call_id, "resume", {}, AGENT)
    assert resumed.ok and resumed.state["held"] is False
    chan = await task
    events = await h.events(chan.id)
    (moh_at, moh_class), = heard(chan, "moh")
    (moh_stop, _), = heard(chan, "moh_stopped")
    wait_at = next(t for t, m in heard(chan, "playback") if m == "sound:hold.wait")
    resume_at = next(t for t, m in heard(chan, "playback") if m == "sound:hold.resume")
    assert wait_at + PROMPT_SECONDS <= moh_at < moh_stop <= resume_at and moh_class == "default"
    agent = voices(chan, ENDPOINT)
    assert [t for t in agent if moh_at < t < moh_stop] == []  # on hold: music only, never the agent (R-40)
    assert [t for t in agent if t < moh_at] and [t for t in agent if t > moh_stop]
    # The agent is not put on music: they keep hearing the caller's line.
    (agent_leg,) = [c for c in h.sim.channels.values() if c.agent] or [None]
    assert agent_leg is None or not heard(agent_leg, "moh")
    control = [(e.type, e.data) for e in events if e.type.startswith("control.")]
    assert control == [("control.hold", {"by": AGENT}), ("control.resume", {"by": AGENT})]
    hold_started = of_type(events, "hold.started")[0]
    control_hold = of_type(events, "control.hold")[0]
    assert control_hold.offset <= hold_started.offset
    texts = [e.data["text"] for e in of_type(events, "prompt.started")]
    assert "对不起,请稍等。" in texts and "对不起,让您久等了。" in texts
    assert 8.0 < of_type(events, "hold.ended")[0].data["seconds"] < 14.0


async def test_mute_keeps_the_agents_words_from_the_caller_until_unmute(talker: Harness) -> None:
    h = talker
    task, call = await answered_call(h, SimCaller(args=("hotline",), speech=((9.0, 1.0),), hangup_at=40.0))
    await asyncio.sleep(h.clock.real(8.0))
    muted = await h.service.control(call.call_id, "mute", {}, AGENT)
    assert muted.ok and muted.state["muted"] is True
    twice = await h.service.control(call.call_id, "mute", {}, AGENT)
    assert twice.status == 409
    await asyncio.sleep(h.clock.real(12.0))
    unmuted = await h.service.control(call.call_id, "unmute", {}, AGENT)
    assert unmuted.ok and unmuted.state["muted"] is False
    chan = await task
    leg = next(c for c in h.sim.channels.values() if c.agent) if any(c.agent for c in h.sim.channels.values()) \
        else None
    events = await h.events(chan.id)
    on = of_type(events, "control.mute")[0].offset
    off = of_type(events, "control.unmute")[0].offset
    agent = voices(chan, ENDPOINT)
    assert [t for t in agent if on + 0.5 < t < off - 0.5] == []
    assert [t for t in agent if t < on] and [t for t in agent if t > off]
    # The agent still hears the caller while muted (direction in only).
    assert leg is None or not leg.mute_out
    assert h.check.seen.get("POST /channels/{channelId}/mute") == 1
    assert h.check.seen.get("DELETE /channels/{channelId}/mute") == 1


async def test_dtmf_reaches_the_callers_line(talker: Harness) -> None:
    h = talker
    task, call = await answered_call(h, SimCaller(args=("hotline",), speech=((9.0, 1.0),), hangup_at=25.0))
    await asyncio.sleep(h.clock.real(8.0))
    sent = await h.service.control(call.call_id, "dtmf", {"digits": "12#"}, AGENT)
    assert sent.ok and sent.state["digits"] == "12#"
    chan = await task
    tones = heard(chan, "dtmf_tone")
    assert [d for _, d in tones] == ["1", "2", "#"]
    events = await h.events(chan.id)
    (sent_at,) = [e.offset for e in of_type(events, "control.dtmf")]
    # 100 ms per tone and 100 ms between them (Asterisk's defaults): 0.4 s from the first to the last.
    assert sent_at - 0.1 <= tones[0][0] and tones[-1][0] - tones[0][0] >= 0.4 - 0.05
    assert tones[-1][0] < sent_at + 0.4 + 1.0
    assert [e.data for e in of_type(events, "control.dtmf")] == [{"by": AGENT, "digits": "12#"}]
    assert not of_type(events, "dtmf")  # tones sent to the caller are not digits the caller pressed


async def test_hangup_is_the_guarded_release(talker: Harness) -> None:
    """R-48: before the closing phrase the agent's hang-up is refused and the call goes on; after it, it ends."""
    h = talker
    task, call = await answered_call(h, SimCaller(args=("hotline",), speech=((9.0, 1.0),), hangup_at=90.0))
    await asyncio.sleep(h.clock.real(8.0))
    early = await h.service.control(call.call_id, "hangup", {}, AGENT)
    assert early.ok and early.state["release"] == "requested"
    await asyncio.sleep(h.clock.real(1.0))
    assert not call.gone
    call.request_script("closing", by=AGENT)
    await said(h, call.call_id, "closing.thanks")
    late = await h.service.control(call.call_id, "hangup", {}, AGENT)
    assert late.ok
    chan = await task
    events = await h.events(chan.id)
    refused = of_type(events, "release.refused")
    assert len(refused) == 1 and refused[0].data["reason"].startswith("R-48")
    assert [e.data for e in of_type(events, "control.hangup")] == [{"by": AGENT}, {"by": AGENT}]
    (gone_at, by), = heard(chan, "hangup")
    assert by == "system" and gone_at < 40.0  # released by our side after the closing, long before 90 s
    assert of_type(events, "call.hangup")[0].data["by"] == AGENT


async def test_refusals_name_the_reason(talker: Harness) -> None:
    h = talker
    task, call = await answered_call(h, SimCaller(args=("hotline",), speech=((9.0, 1.0),), hangup_at=12.0))
    assert (await h.service.control("no-such-call", "hold", {}, AGENT)).status == 404
    assert (await h.service.control(call.call_id, "fly", {}, AGENT)).status == 404
    assert (await h.service.control(call.call_id, "hold", {}, "someone-else")).status == 403
    resume = await h.service.control(call.call_id, "resume", {}, AGENT)
    assert resume.status == 409 and "not on hold" in resume.error
    unmute = await h.service.control(call.call_id, "unmute", {}, AGENT)
    assert unmute.status == 409
    chan = await task
    events = await h.events(chan.id)
    assert not [e for e in events if e.type.startswith("control.")]  # refused actions are not on the timeline


async def test_resume_while_the_hold_phrase_is_said_brings_the_agent_back_without_music(talker: Harness) -> None:
    """Found on the real Asterisk: the panel offers 恢复 as soon as 保持 was answered, while 「对不起,请稍等」 is
    still being said (the board says hold only from hold.started). The live call takes it: no music starts, the
    apology is said, and the agent is heard again."""
    h = talker
    task, call = await answered_call(h, SimCaller(args=("hotline",), speech=((9.0, 1.0),), hangup_at=30.0))
    await asyncio.sleep(h.clock.real(6.0))
    assert (await h.service.control(call.call_id, "hold", {}, AGENT)).ok
    await until(h, lambda: any(m == "sound:hold.wait" for _, m in heard(h.sim.channels[call.channel_id],
                                                                        "playback")))
    resumed = await h.service.control(call.call_id, "resume", {}, AGENT)
    assert resumed.ok and resumed.state["held"] is False
    chan = await task
    assert heard(chan, "moh") == []  # the hold never reached its music
    resume_at = next(t for t, m in heard(chan, "playback") if m == "sound:hold.resume")
    assert [t for t in voices(chan, ENDPOINT) if t > resume_at]
    events = await h.events(chan.id)
    assert [e.type for e in events if e.type.startswith("control.")] == ["control.hold", "control.resume"]
