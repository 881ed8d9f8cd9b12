"""Agents on a real Asterisk, judged from the seats' side: a seat that never answers is given up after three
rings for the neighbour seat (R-01, R-02), and the call's one recording holds the caller and the agent and is
registered with the agent who took it and the call's disposition (R-107), on both bridges.

The two seats are Local channels (tests/asterisk/pbx.py, ``[agents]``) of the agent accounts 8001 and 8002,
made ready through the agent panel's API as an agent would.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from pydub import AudioSegment

from tests.asterisk.conftest import AGENT_PASSWORD, SEATS, Bridge
from tests.asterisk.hearing import MEASURED, Prompt, contour, made_of, wait_until_hung_up
from tests.asterisk.pbx import espeak_wav, silence_files

RING_PERIOD = 5.0
CALLER_SPEAKS_AT = 29  # s after the answer: once the neighbour seat (answering at ~21 s) has spoken


def _sign_in_ready(web: str, name: str) -> httpx.Client:
    client = httpx.Client(base_url=web, timeout=10, follow_redirects=True)
    page = client.get("/login").text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert token, "no CSRF token on /login"
    r = client.post("/login", data={"name": name, "password": AGENT_PASSWORD, "csrf_token": token.group(1)})
    session_token = re.search(r'name="csrf-token" content="([^"]+)"', r.text)
    assert session_token, f"{name} could not sign in: {r.status_code}"
    ready = client.post("/api/agent/state", json={"state": "ready"},
                        headers={"X-CSRF-Token": session_token.group(1)})
    assert ready.status_code == 200, ready.text
    return client


def _clock(path: Path) -> dict[str, float]:
    if not path.exists():
        return {}
    return {k: float(v) for k, v in (line.split() for line in path.read_text().splitlines() if line.strip())}


def _prompt(path: Path) -> Prompt:
    audio = AudioSegment.from_wav(path)
    return Prompt(path.stem, len(audio) / 1000, contour(audio))


@pytest.mark.parametrize("kind", ["agi", "ari"])
def test_a_seat_that_never_answers_is_skipped_after_three_rings_and_the_recording_holds_both(
    bridge: Bridge, tmp_path: Path, kind: str
) -> None:
    agents = bridge.pbx.root / "agents"
    agent_speech = espeak_wav("您好,客服代表8002号很高兴为您服务。", agents / "agent-speech.wav")
    caller_speech = espeak_wav("喂,你好。我想查一下我上个月的账单。", tmp_path / "caller.wav")
    for seat in SEATS:
        (agents / f"{seat}.clock").unlink(missing_ok=True)
    clients = []
    for seat in SEATS:  # 8001 first: the longest idle seat is rung first
        clients.append(_sign_in_ready(bridge.web, seat))
        time.sleep(0.2)
    call = tmp_path / f"{kind}-seats"
    bridge.pbx.originate(bridge={"agi": "callcenter", "ari": "callcenter-ari"}[kind], entry="hotline",
                         scenario="speaks", call=call, QUIET=silence_files(CALLER_SPEAKS_AT),
                         SPEECH=str(caller_speech.with_suffix("")))
    wait_until_hung_up(call, timeout=120)
    for client in clients:
        client.close()

    never, neighbour = _clock(agents / "8001.clock"), _clock(agents / "8002.clock")
    rang = never["hangup"] - never["ringing"]
    MEASURED.append(f"{kind} seats: 8001 rang {rang:.2f} s and was given up; 8002 rang "
                    f"{neighbour['ringing'] - never['hangup']:+.2f} s after that, answered "
                    f"{neighbour['answered'] - neighbour['ringing']:.2f} s later")
    assert "answered" not in never
    assert 3 * RING_PERIOD - 0.5 <= rang <= 3 * RING_PERIOD + 0.5  # three rings of the cn cadence
    # then the neighbour seat; each seat notes its own instants through a shell: ±0.5 s
    assert -0.5 < neighbour["ringing"] - never["hangup"] < 1.0

    db = sqlite3.connect(bridge.database.removeprefix("sqlite:///"))
    try:
        offered = [(c, json.loads(d)) for c, d in db.execute(
            "select call_id, data from call_events where type = 'call.offered' order by id")]
        call_id = [c for c, d in offered if d.get("transport") == kind and d.get("entry") == "hotline"][-1]
        (hangup,) = [json.loads(d) for (d,) in db.execute(
            "select data from call_events where call_id = ? and type = 'call.hangup'", (call_id,))]
        row = db.execute("select agent, disposition, path from recordings where call_id = ?", (call_id,)).fetchone()
    finally:
        db.close()
    assert row is not None, f"no recording registered for {call_id}"
    agent, disposition, path = row
    assert (agent, disposition) == ("8002", hangup["disposition"])
    recording = AudioSegment.from_wav(bridge.recordings / path)
    heard = [key for key, _ in made_of(recording, [_prompt(agent_speech), _prompt(caller_speech)])]
    assert "agent-speech" in heard and "caller" in heard, heard  # both parties are in the one file
