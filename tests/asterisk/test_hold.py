"""Hold, resume and mute from the panel's call-control API on a real Asterisk 22 (R-38, R-39; issue 15), judged
from both ends' recordings: on hold the caller hears 「对不起,请稍等」, then music and nothing of the agent (who speaks
while the caller is held), then 「对不起,让您久等了」, and the agent's seat hears the phrase; a muted agent's words
reach neither the caller nor the call's recording.

Seat 8002 (a Local channel of ``[agents]``, tests/asterisk/pbx.py) answers at once, speaks ``agent-speech``
AGENT_SPEAKS_AFTER seconds later, stays 12 s and hangs up, which releases the call.
"""

from __future__ import annotations

import time
from pathlib import Path

from pydub import AudioSegment
from pydub.silence import detect_nonsilent

from tests.asterisk.conftest import Bridge
from tests.asterisk.hearing import MEASURED, SILENCE_DBFS, Prompt, contour, known_prompts, made_of, wait_until_hung_up
from tests.asterisk.panel_api import signed_in
from tests.asterisk.pbx import espeak_wav, silence_files

AGENT_SPEAKS_AFTER = 12  # s after the agent answers: the caller is on hold by then
CALLER_ANSWERS_GREETING_AT = 14  # s after the caller's answer: in the 5 s window after the agent's greeting


def _until(what: str, check: object, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()  # type: ignore[operator]
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


def _seat_that_speaks(bridge: Bridge, recording: str) -> tuple[Path, Path]:
    """Seat 8002 set to speak AGENT_SPEAKS_AFTER s after it answers, its last ``recording`` and clock removed:
    the seats' folder and the speech file."""
    agents = bridge.pbx.root / "agents"
    speech = espeak_wav("您好,客服代表8002号很高兴为您服务。", agents / "agent-speech.wav")
    (agents / "8002.delay").write_text(f"{AGENT_SPEAKS_AFTER}\n")
    for stale in (recording, "8002.clock"):
        (agents / stale).unlink(missing_ok=True)
    return agents, speech


def _loud_share(audio: AudioSegment, start: float, end: float) -> float:
    """The share of [start, end) seconds of ``audio`` that is sound, not silence."""
    part = audio[int(start * 1000):int(end * 1000)]
    loud = sum(e - s for s, e in detect_nonsilent(part, min_silence_len=300, silence_thresh=SILENCE_DBFS))
    return loud / max(1, len(part))


def test_on_hold_the_caller_hears_the_phrase_and_music_and_never_the_agent(bridge: Bridge, tmp_path: Path) -> None:
    agents, speech = _seat_that_speaks(bridge, "8002-heard.wav")
    agent, token = signed_in(bridge.web, "8002")
    headers = {"X-CSRF-Token": token}
    call = tmp_path / "held"
    try:
        assert agent.post("/api/agent/state", json={"state": "ready"}, headers=headers).status_code == 200
        bridge.pbx.originate(bridge="callcenter-ari", entry="hotline", scenario="quiet", call=call)

        def talking() -> str:
            live = agent.get("/api/agent/panel").json()["call"]
            return str(live["call_id"]) if live and live["phase"] == "talking" else ""

        call_id = str(_until("the agent's answer", talking, 60))
        r = agent.post("/api/agent/call/hold", json={"call_id": call_id}, headers=headers)
        assert r.status_code == 200, r.text
        _until("hold", lambda: agent.get("/api/agent/panel").json()["call"]["phase"] == "hold", 20)
        answered = float(dict(line.split() for line in (agents / "8002.clock").read_text().splitlines())["answered"])
        spoken = answered + AGENT_SPEAKS_AFTER + len(AudioSegment.from_wav(speech)) / 1000 + 1.0
        _until("the agent's words", lambda: time.time() > spoken, 40)
        r = agent.post("/api/agent/call/resume", json={"call_id": call_id}, headers=headers)
        assert r.status_code == 200, r.text
        wait_until_hung_up(call, timeout=90)
    finally:
        agent.close()
        (agents / "8002.delay").unlink(missing_ok=True)

    prompts = [*known_prompts(bridge.sounds, bridge.rendered), Prompt("agent-speech", 0.0, contour(
        AudioSegment.from_wav(speech)))]
    heard = AudioSegment.from_wav(call.parent / f"{call.name}-heard.wav")
    keys = made_of(heard, prompts)
    names = [key for key, _ in keys]
    assert "agent-speech" not in names, keys  # on hold the caller hears the music, never the agent
    wait_at = next((at for key, at in keys if "hold.wait" in key.split("|")), None)
    resume_at = next((at for key, at in keys if "hold.resume" in key.split("|")), None)
    assert wait_at is not None and resume_at is not None, keys
    assert wait_at < resume_at, keys
    phrase = next(p.seconds for p in prompts if "hold.wait" in p.key.split("|"))
    music = _loud_share(heard, wait_at + phrase + 0.5, resume_at - 0.5)
    assert music > 0.8, f"between the phrase and the apology the caller heard sound {music:.0%} of the time"
    # The agent did speak, and the call's recording (the bridge) holds it: the caller alone was spared it.
    (recording,) = list(bridge.recordings.glob(f"**/{call_id}.wav"))
    recorded = [key for key, _ in made_of(AudioSegment.from_wav(recording), prompts)]
    assert "agent-speech" in recorded, recorded
    seat = AudioSegment.from_wav(agents / "8002-heard.wav")
    seat_keys = [key for key, _ in made_of(seat, prompts)]
    assert any("hold.wait" in key.split("|") for key in seat_keys), seat_keys  # the agent hears the phrase
    MEASURED.append(f"hold: the caller heard sound {music:.0%} of the {resume_at - wait_at - phrase:.1f} s on hold, "
                    "the agent's words not at all")


def test_a_muted_agent_is_heard_by_nobody_and_not_recorded(bridge: Bridge, tmp_path: Path) -> None:
    """Mute (``POST channels/{agentLeg}/mute?direction=in``): the agent speaks while muted; their own line carries
    the words (the seat's recording), the caller's ear and the call's recording hold none of them."""
    agents, speech = _seat_that_speaks(bridge, "8002-mix.wav")
    agent, token = signed_in(bridge.web, "8002")
    headers = {"X-CSRF-Token": token}
    call = tmp_path / "muted"
    # The caller answers the agent's greeting (no silent-call prompt then plays over the agent's words, R-15).
    caller_speech = espeak_wav("喂,你好。", tmp_path / "caller.wav")
    try:
        assert agent.post("/api/agent/state", json={"state": "ready"}, headers=headers).status_code == 200
        bridge.pbx.originate(bridge="callcenter-ari", entry="hotline", scenario="speaks", call=call,
                             QUIET=silence_files(CALLER_ANSWERS_GREETING_AT), SPEECH=str(caller_speech.with_suffix("")))

        def talking() -> str:
            live = agent.get("/api/agent/panel").json()["call"]
            return str(live["call_id"]) if live and live["phase"] == "talking" else ""

        call_id = str(_until("the agent's answer", talking, 60))
        r = agent.post("/api/agent/call/mute", json={"call_id": call_id}, headers=headers)
        assert r.status_code == 200 and r.json()["state"]["muted"] is True, r.text
        wait_until_hung_up(call, timeout=90)
    finally:
        agent.close()
        (agents / "8002.delay").unlink(missing_ok=True)
    prompts = [*known_prompts(bridge.sounds, bridge.rendered), Prompt("agent-speech", 0.0, contour(
        AudioSegment.from_wav(speech)))]
    said = [key for key, _ in made_of(AudioSegment.from_wav(agents / "8002-mix.wav"), prompts)]
    assert "agent-speech" in said, said  # the agent did speak on their own line
    heard = [key for key, _ in made_of(AudioSegment.from_wav(call.parent / f"{call.name}-heard.wav"), prompts)]
    assert "agent-speech" not in heard, heard
    (recording,) = list(bridge.recordings.glob(f"**/{call_id}.wav"))
    recorded = [key for key, _ in made_of(AudioSegment.from_wav(recording), prompts)]
    assert "agent-speech" not in recorded, recorded
    MEASURED.append("mute: the agent's words on their own line, not in the caller's ear nor the call's recording")
