"""Live monitoring on a real Asterisk 22 (R-118): a supervisor listens in from the wallboard's API and their desk
phone — seat 9001, a Local channel of ``[agents]`` made from their account by ``web.agent_endpoint`` — hears what
the caller says (and the agent) through a Snoop on the agent's leg (res_stasis_snoop); the agent hanging up,
which releases the call, ends the monitoring and hangs the desk phone up.

Judged from the seat's own recording (``AGENTS/9001-heard.wav``: what reached the desk phone), by the shape of
the caller's and the agent's speech, as tests/asterisk/test_seats.py judges the call's recording.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from pydub import AudioSegment

from tests.asterisk.conftest import SUPERVISOR, Bridge
from tests.asterisk.hearing import MEASURED, Prompt, contour, made_of, wait_until_hung_up
from tests.asterisk.panel_api import monitorable_call, signed_in
from tests.asterisk.pbx import espeak_wav, silence_files

CALLER_SPEAKS_AT = 22  # s after the caller's answer: the agent (~7 s) and the supervisor (~9 s) are on the line
AGENT_SPEAKS_AFTER = 30  # s after the agent answers (8002.delay): after the caller, while monitored
SUPERVISOR_WAITS = 60  # s the desk phone stays quiet (9001.delay): the call ends first
CALLER_ANSWERS_GREETING_AT = 14  # s after the caller's answer: in the 5 s window after the agent's greeting


def _prompt(path: Path) -> Prompt:
    audio = AudioSegment.from_wav(path)
    return Prompt(path.stem, len(audio) / 1000, contour(audio))


def test_the_supervisors_desk_phone_hears_the_caller_in_listen_mode(bridge: Bridge, tmp_path: Path) -> None:
    agents = bridge.pbx.root / "agents"
    agent_speech = espeak_wav("您好,客服代表8002号很高兴为您服务。", agents / "agent-speech.wav")
    caller_speech = espeak_wav("喂,你好。我想查一下我上个月的账单。", tmp_path / "caller.wav")
    (agents / "8002.delay").write_text(f"{AGENT_SPEAKS_AFTER}\n")
    (agents / f"{SUPERVISOR}.delay").write_text(f"{SUPERVISOR_WAITS}\n")
    (agents / f"{SUPERVISOR}-heard.wav").unlink(missing_ok=True)
    agent, agent_token = signed_in(bridge.web, "8002")
    lead, lead_token = signed_in(bridge.web, SUPERVISOR)
    try:
        assert agent.post("/api/agent/state", json={"state": "ready"},
                          headers={"X-CSRF-Token": agent_token}).status_code == 200
        call = tmp_path / "monitored"
        bridge.pbx.originate(bridge="callcenter-ari", entry="hotline", scenario="speaks", call=call,
                             QUIET=silence_files(CALLER_SPEAKS_AT), SPEECH=str(caller_speech.with_suffix("")))
        call_id = monitorable_call(lead)
        r = lead.post("/api/wallboard/monitor", json={"call_id": call_id, "mode": "listen", "purpose": "质检抽查"},
                      headers={"X-CSRF-Token": lead_token})
        assert r.status_code == 201, r.text
        wait_until_hung_up(call, timeout=120)
        seat_clock = agents / f"{SUPERVISOR}.clock"
        deadline = time.monotonic() + 20
        while "hangup" not in seat_clock.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        agent.close()
        lead.close()
        (agents / "8002.delay").unlink(missing_ok=True)
        (agents / f"{SUPERVISOR}.delay").unlink(missing_ok=True)
    marks = dict(line.split() for line in seat_clock.read_text().splitlines() if line.strip())
    assert "hangup" in marks, "the desk phone was not hung up when the call ended: " + "".join(
        line for line in bridge.log.read_text(errors="replace").splitlines(keepends=True)[-400:]
        if "supervision" in line or "snoop" in line or "monitor" in line or "hangup" in line or "error" in line)
    MEASURED.append(f"monitoring: the desk phone rang {float(marks['answered']) - float(marks['ringing']):.2f} s "
                    f"and was on the line {float(marks['hangup']) - float(marks['answered']):.1f} s")
    heard = AudioSegment.from_wav(agents / f"{SUPERVISOR}-heard.wav")
    keys = [key for key, _ in made_of(heard, [_prompt(agent_speech), _prompt(caller_speech)])]
    assert "caller" in keys and "agent-speech" in keys, keys  # both sides reached the supervisor

    db = sqlite3.connect(bridge.database.removeprefix("sqlite:///"))
    try:
        kinds = [(t, json.loads(d)) for t, d in db.execute(
            "select type, data from call_events where call_id = ? and type like 'supervision.%' order by id",
            (call_id,))]
        ledger = [d for (d,) in db.execute(
            "select detail from recording_access_ledger where action = 'monitor' and detail like ?",
            (f"%call {call_id};%",))]
    finally:
        db.close()
    # Seat 8002 hangs up ~45 s after answering, before the caller: the agent leaving (which releases the call)
    # ends the monitoring, and Asterisk reports the Snoop's end (StasisEnd) before the agent leg's.
    assert [(t, d["mode"], d.get("reason")) for t, d in kinds] == [
        ("supervision.started", "listen", None), ("supervision.ended", "listen", "agent_left")]
    assert [d.split(" call ")[0] for d in ledger] == ["started listen", "ended listen"]


@pytest.mark.parametrize(("mode", "caller_hears_supervisor"), [("whisper", False), ("barge", True)])
def test_whisper_reaches_the_agent_alone_and_barge_the_caller_too(bridge: Bridge, tmp_path: Path, mode: str,
                                                                 caller_hears_supervisor: bool) -> None:
    """The desk phone speaks 20 s after it answers (the agent is silent all call; the caller spoke once, in the
    first window after the agent's greeting, so no silent-call prompt plays over it, R-15): the agent's seat hears
    it in both modes, the caller only in barge. The desk phone then hangs up by itself, which ends the monitoring
    alone: the call goes on until the caller hangs up."""
    agents = bridge.pbx.root / "agents"
    espeak_wav("您好,客服代表8002号很高兴为您服务。", agents / "agent-speech.wav")  # what every seat says
    supervisor_speech = _prompt(agents / "agent-speech.wav")
    (agents / "8002.delay").write_text("120\n")  # the agent never speaks during the call
    (agents / f"{SUPERVISOR}.delay").write_text("20\n")
    for stale in ("8002-heard.wav", f"{SUPERVISOR}.clock"):
        (agents / stale).unlink(missing_ok=True)
    agent, agent_token = signed_in(bridge.web, "8002")
    lead, lead_token = signed_in(bridge.web, SUPERVISOR)
    call = tmp_path / f"{mode}-call"
    try:
        assert agent.post("/api/agent/state", json={"state": "ready"},
                          headers={"X-CSRF-Token": agent_token}).status_code == 200
        caller_speech = espeak_wav("喂,你好。", tmp_path / "caller.wav")
        bridge.pbx.originate(bridge="callcenter-ari", entry="hotline", scenario="speaks", call=call,
                             QUIET=silence_files(CALLER_ANSWERS_GREETING_AT),
                             SPEECH=str(caller_speech.with_suffix("")))
        call_id = monitorable_call(lead)
        r = lead.post("/api/wallboard/monitor", json={"call_id": call_id, "mode": mode, "purpose": "投诉跟进"},
                      headers={"X-CSRF-Token": lead_token})
        assert r.status_code == 201, r.text
        wait_until_hung_up(call, timeout=120)
    finally:
        agent.close()
        lead.close()
        (agents / "8002.delay").unlink(missing_ok=True)
        (agents / f"{SUPERVISOR}.delay").unlink(missing_ok=True)
    agent_heard = [k for k, _ in made_of(AudioSegment.from_wav(agents / "8002-heard.wav"), [supervisor_speech])]
    caller_heard = [k for k, _ in made_of(AudioSegment.from_wav(tmp_path / f"{mode}-call-heard.wav"),
                                          [supervisor_speech])]
    assert "agent-speech" in agent_heard, agent_heard
    assert ("agent-speech" in caller_heard) is caller_hears_supervisor, caller_heard
    db = sqlite3.connect(bridge.database.removeprefix("sqlite:///"))
    try:
        kinds = [(t, json.loads(d).get("reason")) for t, d in db.execute(
            "select type, data from call_events where call_id = ? and type like 'supervision.%' order by id",
            (call_id,))]
        (hangup,) = [json.loads(d) for (d,) in db.execute(
            "select data from call_events where call_id = ? and type = 'call.hangup'", (call_id,))]
    finally:
        db.close()
    assert kinds == [("supervision.started", None), ("supervision.ended", "supervisor")]
    assert hangup["by"] != "agent"  # the desk phone hanging up released nothing of the call
