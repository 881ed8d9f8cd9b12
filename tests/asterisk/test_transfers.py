"""Transfers on a real Asterisk 22 (issue 15): the bridge move they stand on, and a blind transfer to a busy number
then a consult completed to a customer, driven through the panel's HTTP API of a running ``callcenter serve``.

The fact the transfers stand on (telephony/ari/transfer.py, and the simulator's ``addChannel``): a channel added to
a second Stasis bridge leaves the first by itself (res/stasis/control.c departs it), so the agent's leg can wait in
a side bridge while the caller holds and come back, and a consulted party can move into the caller's bridge.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pydub import AudioSegment

from tests.asterisk import bridge_probe
from tests.asterisk.conftest import REPO, SUPERVISOR, Bridge
from tests.asterisk.hearing import MEASURED, Prompt, contour, made_of, wait_until_hung_up
from tests.asterisk.panel_api import monitorable_call, signed_in
from tests.asterisk.pbx import ARI_PASSWORD, ARI_USER, Asterisk, espeak_wav, silence_files


async def test_a_channel_added_to_another_bridge_moves_there(pbx: Asterisk, tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{pbx.ports.http}/ari/events?app={bridge_probe.APP}&api_key={ARI_USER}:{ARI_PASSWORD}"

    async def place_two() -> None:
        for n in (1, 2):
            await asyncio.to_thread(pbx.originate_into_app, app=bridge_probe.APP, scenario="quiet",
                                    call=tmp_path / f"party{n}")

    assert await bridge_probe.run_bridge_move(url, place_two) == bridge_probe.EXPECTED


CALLER_SPEAKS_AT = 50  # s after the caller's answer: the busy attempt and the consult are over by then
FRIEND, BUSY = "13900000001", "13900000002"  # [customers]: ...1 answers after 6 s of ringing, ...2 is busy


def _away(web: str, seat: str) -> None:
    client, token = signed_in(web, seat, timeout=60)
    try:
        r = client.post("/api/agent/state", json={"state": "not_ready", "reason": "break"},
                        headers={"X-CSRF-Token": token})
        assert r.status_code == 200, r.text
    finally:
        client.close()


def test_blind_to_a_busy_number_returns_then_a_consult_completes_to_a_customer(bridge: Bridge, tmp_path: Path) -> None:
    """Seat 8002 takes the call, transfers it to a busy number (the caller comes back to 8002), then consults a
    customer who answers after 6 s of ringing and completes: 8002's phone is hung up and the caller's words,
    said afterwards, reach the customer and not 8002."""
    agents = bridge.pbx.root / "agents"
    espeak_wav("您好,客服代表8002号很高兴为您服务。", agents / "agent-speech.wav")
    caller_speech = espeak_wav("喂,你好。我想查一下我上个月的账单。", tmp_path / "caller.wav")
    (agents / "8002.delay").write_text("120\n")  # the seat stays quiet on the line
    for stale in ("8002-heard.wav", "8002.clock", f"customer-{FRIEND}.clock", f"customer-{FRIEND}-heard.wav"):
        (agents / stale).unlink(missing_ok=True)
    (agents / f"customer-{FRIEND}.press").write_text("100\n")  # the customer presses nothing meanwhile
    (agents / f"customer-{FRIEND}.key").write_text("1\n")
    agent, token = signed_in(bridge.web, "8002", timeout=60)
    lead, _ = signed_in(bridge.web, SUPERVISOR, timeout=60)
    call = tmp_path / "transferred"
    try:
        _away(bridge.web, "8001")  # seat 8001 (never answers) is not offered this call, whatever ran before
        assert agent.post("/api/agent/state", json={"state": "ready"},
                          headers={"X-CSRF-Token": token}).status_code == 200
        bridge.pbx.originate(bridge="callcenter-ari", entry="hotline", scenario="speaks", call=call,
                             QUIET=silence_files(CALLER_SPEAKS_AT), SPEECH=str(caller_speech.with_suffix("")))
        call_id = monitorable_call(lead)

        def act(action: str, **body: str) -> dict[str, Any]:
            r = agent.post(f"/api/agent/call/{action}", json={"call_id": call_id, **body},
                           headers={"X-CSRF-Token": token})
            assert r.status_code == 200, (action, r.status_code, r.text)
            return dict(r.json()["state"])

        began = time.monotonic()
        busy = act("transfer", kind="number", target=BUSY)
        busy_seconds = time.monotonic() - began
        assert busy["result"] == "busy", busy
        began = time.monotonic()
        consult = act("consult", kind="number", target=FRIEND)
        consult_seconds = time.monotonic() - began
        assert (consult["result"], consult["phase"]) == ("answered", "consult"), consult
        done = act("consult_complete")
        assert done["phase"] == "external", done
        wait_until_hung_up(call, timeout=150)
    finally:
        agent.close()
        lead.close()
        (agents / "8002.delay").unlink(missing_ok=True)
    seat = dict(line.split() for line in (agents / "8002.clock").read_text().splitlines() if line.strip())
    assert "hangup" in seat, "seat 8002 was not hung up when the transfer completed"
    customer = AudioSegment.from_wav(agents / f"customer-{FRIEND}-heard.wav")
    speech = Prompt("caller", len(AudioSegment.from_wav(caller_speech)) / 1000,
                    contour(AudioSegment.from_wav(caller_speech)))
    assert "caller" in [k for k, _ in made_of(customer, [speech])]  # the customer heard the caller
    seat_heard = AudioSegment.from_wav(agents / "8002-heard.wav")
    assert "caller" not in [k for k, _ in made_of(seat_heard, [speech])]  # 8002 had left
    db = sqlite3.connect(bridge.database.removeprefix("sqlite:///"))
    try:
        kinds = [(t, json.loads(d)) for t, d in db.execute(
            "select type, data from call_events where call_id = ? and (type like 'transfer.%' or type like "
            "'control.%' or type = 'prompt.started') order by id", (call_id,))]
    finally:
        db.close()
    steps = [(t, d.get("reason")) for t, d in kinds if t != "prompt.started"]
    assert steps == [
        ("transfer.blind", None), ("transfer.failed", "busy"), ("control.transfer", None),
        ("transfer.consult.started", None), ("transfer.consult.answered", None), ("control.consult", None),
        ("transfer.consult.completed", "agent"), ("control.consult_complete", None)], steps
    # Set aside twice with 「对不起,请稍等」; the last word before the customer: 「对不起,让您久等了」.
    holds = [d["key"] for t, d in kinds if t == "prompt.started" and str(d.get("key", "")).startswith("hold.")]
    assert holds.count("hold.wait") == 2 and holds[-1] == "hold.resume", holds
    MEASURED.append(f"transfers: a busy number answered in {busy_seconds:.2f} s (back to the agent); a consult "
                    f"to a number ringing 6 s answered in {consult_seconds:.2f} s")


def _prompt_of(path: Path, key: str) -> Prompt:
    audio = AudioSegment.from_wav(path)
    return Prompt(key, len(audio) / 1000, contour(audio))


def test_an_agent_who_does_not_answer_returns_then_a_three_way_call_outlives_the_agent(
        bridge: Bridge, tmp_path: Path) -> None:
    """Seat 8002 transfers to seat 8001, who never answers: after three rings (R-01) the caller is back. 8002 then
    consults a customer and makes it a three-way call: the seat's words reach the caller and the customer, the
    caller's reach both. The seat hangs up by itself; the caller and the customer go on talking."""
    agents = bridge.pbx.root / "agents"
    agent_speech = espeak_wav("您好,客服代表8002号很高兴为您服务。", agents / "agent-speech.wav")
    caller_speech = espeak_wav("喂,你好。我想查一下我上个月的账单。", tmp_path / "caller.wav")
    (agents / "8002.delay").write_text("45\n")  # the seat speaks 45 s after answering: in the three-way call
    for stale in ("8002-heard.wav", "8002.clock", "8001.clock", f"customer-{FRIEND}.clock",
                  f"customer-{FRIEND}-heard.wav"):
        (agents / stale).unlink(missing_ok=True)
    (agents / f"customer-{FRIEND}.press").write_text("100\n")
    (agents / f"customer-{FRIEND}.key").write_text("1\n")
    agent, token = signed_in(bridge.web, "8002", timeout=60)
    away, away_token = signed_in(bridge.web, "8001", timeout=60)
    lead, _ = signed_in(bridge.web, SUPERVISOR, timeout=60)
    call = tmp_path / "three-way"
    try:
        assert away.post("/api/agent/state", json={"state": "not_ready", "reason": "break"},
                         headers={"X-CSRF-Token": away_token}).status_code == 200  # the call goes to 8002
        assert agent.post("/api/agent/state", json={"state": "ready"},
                          headers={"X-CSRF-Token": token}).status_code == 200
        bridge.pbx.originate(bridge="callcenter-ari", entry="hotline", scenario="speaks", call=call,
                             QUIET=silence_files(70), SPEECH=str(caller_speech.with_suffix("")))
        call_id = monitorable_call(lead)
        assert away.post("/api/agent/state", json={"state": "ready"},
                         headers={"X-CSRF-Token": away_token}).status_code == 200  # 8001 is free, but away

        def act(action: str, **body: str) -> dict[str, Any]:
            r = agent.post(f"/api/agent/call/{action}", json={"call_id": call_id, **body},
                           headers={"X-CSRF-Token": token})
            assert r.status_code == 200, (action, r.status_code, r.text)
            return dict(r.json()["state"])

        began = time.monotonic()
        missed = act("transfer", kind="agent", target="8001")
        missed_seconds = time.monotonic() - began
        assert missed["result"] == "no_answer", missed
        assert act("consult", kind="number", target=FRIEND)["result"] == "answered"
        assert act("conference")["phase"] == "conference"
        wait_until_hung_up(call, timeout=200)
    finally:
        for client in (agent, away, lead):
            client.close()
        (agents / "8002.delay").unlink(missing_ok=True)
    caller, seat = _prompt_of(caller_speech, "caller"), _prompt_of(agent_speech, "seat")
    customer_heard = [k for k, _ in made_of(AudioSegment.from_wav(agents / f"customer-{FRIEND}-heard.wav"),
                                            [caller, seat])]
    seat_heard = [k for k, _ in made_of(AudioSegment.from_wav(agents / "8002-heard.wav"), [caller])]
    caller_heard = [k for k, _ in made_of(AudioSegment.from_wav(call.with_name("three-way-heard.wav")), [seat])]
    assert "seat" in customer_heard and "seat" in caller_heard, (customer_heard, caller_heard)
    assert "caller" in customer_heard, customer_heard  # said after the seat left: the call went on without it
    assert "caller" not in seat_heard, seat_heard
    db = sqlite3.connect(bridge.database.removeprefix("sqlite:///"))
    try:
        steps = [(t, json.loads(d).get("reason")) for t, d in db.execute(
            "select type, data from call_events where call_id = ? and (type like 'transfer.%' or type like "
            "'conference.%' or type like 'control.%') order by id", (call_id,))]
    finally:
        db.close()
    assert steps == [
        ("transfer.blind", None), ("transfer.skipped", "no_answer"), ("transfer.failed", "no_answer"),
        ("control.transfer", None), ("transfer.consult.started", None), ("transfer.consult.answered", None),
        ("control.consult", None), ("conference.started", None), ("control.conference", None),
        ("transfer.consult.completed", "agent_hung_up")], steps
    assert 15.0 <= missed_seconds < 18.0  # three rings of the cn cadence, then back to the seat
    MEASURED.append(f"transfers: an agent who never answers gave the caller back after {missed_seconds:.2f} s")


def test_click_to_dial_from_a_work_order_rings_the_seat_then_the_customer(bridge: Bridge) -> None:
    """The panel's 拨打 on a work order: seat 8002 rings first, then the order's number; the answer carries the
    number masked; the call lands on the timeline and is linked to the order."""
    number = "13900000005"  # [customers]: answers after 6 s of ringing, then leaves 2 s later
    agents = bridge.pbx.root / "agents"
    for stale in ("8002.clock", f"customer-{number}.clock"):
        (agents / stale).unlink(missing_ok=True)
    config = Path(bridge.database.removeprefix("sqlite:///")).parent / "callcenter.toml"
    made = subprocess.run(
        [sys.executable, "-m", "callcenter", "tickets", "new", "--category", "repair", "--caller", number,
         "--summary", "燃气表不走字,请回电", "--json"],
        cwd=REPO, env={**os.environ, "CALLCENTER_CONFIG": str(config)}, capture_output=True, text=True, check=True)
    order = json.loads(made.stdout)["number"]
    agent, token = signed_in(bridge.web, "8002", timeout=60)
    try:
        assert agent.post("/api/agent/state", json={"state": "ready"},
                          headers={"X-CSRF-Token": token}).status_code == 200
        r = agent.post(f"/api/agent/orders/{order}/dial", json={}, headers={"X-CSRF-Token": token})
        assert r.status_code == 202, r.text
        started = r.json()
        assert started["number"] == "139****0005" and number not in r.text
        wait_until_hung_up(agents / f"customer-{number}", timeout=60)
    finally:
        agent.close()
    seat = dict(line.split() for line in (agents / "8002.clock").read_text().splitlines() if line.strip())
    customer = dict(line.split() for line in (agents / f"customer-{number}.clock").read_text().splitlines()
                    if line.strip())
    assert float(seat["ringing"]) < float(customer["ringing"])  # the agent first, then the customer
    db = sqlite3.connect(bridge.database.removeprefix("sqlite:///"))
    try:
        deadline = time.monotonic() + 20
        offered: list[tuple[str]] = []
        while not offered and time.monotonic() < deadline:
            offered = db.execute("select data from call_events where call_id = ? and type = 'call.offered'",
                                 (started["call_id"],)).fetchall()
            time.sleep(0.2)
    finally:
        db.close()
    (data,) = [json.loads(d) for (d,) in offered]
    assert (data["direction"], data["order"], data["by"]) == ("outbound", order, "8002")
    def linked_calls() -> list[str]:
        shown = subprocess.run([sys.executable, "-m", "callcenter", "tickets", "show", order, "--json"], cwd=REPO,
                               env={**os.environ, "CALLCENTER_CONFIG": str(config)}, capture_output=True,
                               text=True, check=True)
        return list(json.loads(shown.stdout)["calls"])

    deadline = time.monotonic() + 20
    while started["call_id"] not in linked_calls() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert started["call_id"] in linked_calls()  # linked once the customer answered
    lag = float(customer["ringing"]) - float(seat["ringing"])
    MEASURED.append(f"click to dial: the customer's phone rang {lag:+.2f} s after the seat's")
