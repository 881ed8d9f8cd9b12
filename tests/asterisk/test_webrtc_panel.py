"""The agent panel is the phone, on a real Asterisk (issue 15): a webrtc seat signs in to the panel in headless
Chromium, registers, rings with the ring count, answers with one click, holds, resumes, transfers the caller to
a number, and on the next call its guarded hang-up is refused until the caller hangs up (R-48).

``callcenter serve --ari`` runs as an admin runs it (tests/asterisk/conftest.py) against the Asterisk of
tests/asterisk/test_webrtc.py (PJSIP, the files ``callcenter asterisk config`` wrote); callers are the suite's
Local channels (tests/asterisk/pbx.py) that record what they hear. The caller's recording must hold the agent's
fake microphone (a 440 Hz tone): the browser's audio reaches the caller through the ARI application's bridge.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.asterisk.conftest import AGENT_PASSWORD, start_service, stop_service
from tests.asterisk.hearing import MEASURED, wait_until_hung_up
from tests.asterisk.pbx import ARI_PASSWORD, ARI_USER
from tests.asterisk.test_webrtc import (
    BROWSER_SEAT,
    MIC_HZ,
    WebrtcPbx,
    seat_browser,
    tone_seconds,
    wait_for,
    webrtc,  # noqa: F401 - the module's fixture
)

CUSTOMER = "13900000001"  # tests/asterisk/pbx.py [customers]: answers during the 2nd ring


@pytest.fixture(scope="module")
def service(webrtc: WebrtcPbx) -> Iterator[str]:  # noqa: F811 - the fixture imported above
    process, _ = start_service(webrtc.pbx, webrtc.config.parent, webrtc.web_port)
    try:
        yield f"http://127.0.0.1:{webrtc.web_port}"
    finally:
        stop_service(process)


def snapshot(driver: Any) -> dict[str, Any]:
    return dict(driver.execute_script(
        "return window.ccSoftphone ? JSON.parse(JSON.stringify(window.ccSoftphone.snapshot())) : {}"))


def phase(driver: Any) -> str:
    call = snapshot(driver).get("call") or {}
    return str(call.get("phase", ""))


def ready(driver: Any) -> None:
    """The agent presses 就绪 and the service has them ready."""
    driver.find_element("css selector", 'button[data-state="ready"]').click()
    wait_for("the agent is ready", lambda: driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/api/agent/panel').then((r) => r.json()).then((p) => done(p.agent.state), () => done(''))"
    ) == "ready", 10)


def press(driver: Any, action: str) -> None:
    driver.execute_script(f'document.querySelector(\'#softphone [data-action="{action}"]\').click()')


def events(database: Path, call_id: str) -> list[tuple[str, dict[str, Any]]]:
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT type, data FROM call_events WHERE call_id = ? ORDER BY id", (call_id,)).fetchall()
    return [(kind, json.loads(data) if isinstance(data, str) else data) for kind, data in rows]


def hang_up(webrtc: WebrtcPbx, channel: str) -> None:  # noqa: F811
    httpx.delete(f"http://127.0.0.1:{webrtc.pbx.ports.http}/ari/channels/{channel}", auth=(ARI_USER, ARI_PASSWORD),
                 timeout=10)


def test_the_panel_rings_answers_holds_resumes_transfers_and_hangs_up(
    webrtc: WebrtcPbx, service: str, tmp_path: Path  # noqa: F811
) -> None:
    agents = webrtc.pbx.root / "agents"
    (agents / f"customer-{CUSTOMER}.press").write_text("50")  # the customer presses nothing while we look
    (agents / f"customer-{CUSTOMER}.key").write_text("1")
    database = webrtc.config.parent / "callcenter.sqlite3"
    with seat_browser(webrtc.mic) as driver:
        driver.get(f"{service}/login")
        driver.find_element("name", "name").send_keys(BROWSER_SEAT)
        driver.find_element("name", "password").send_keys(AGENT_PASSWORD)
        driver.find_element("css selector", "form button[type=submit], form [type=submit]").click()
        wait_for("the agent panel opened", lambda: driver.current_url.endswith("/agent"), 20)
        begun = time.monotonic()
        wait_for("the softphone registered", lambda: snapshot(driver).get("registration") == "registered", 30,
                 lambda: snapshot(driver))
        registered = time.monotonic() - begun
        ready(driver)

        # Call 1: ring, answer, hold, resume, blind transfer to a number.
        call = tmp_path / "caller-1"
        placed = time.monotonic()
        first_caller = webrtc.pbx.originate(bridge="callcenter-ari", entry="hotline", scenario="quiet", call=call)
        wait_for("the panel rang", lambda: phase(driver) == "ringing", 40, lambda: snapshot(driver))
        rang = time.monotonic() - placed
        rings_text = driver.find_element("id", "sp-rings").text
        call_id = str(snapshot(driver)["call"]["callId"])
        driver.find_element("id", "sp-answer").click()
        wait_for("the call was answered", lambda: phase(driver) == "in_call", 20, lambda: snapshot(driver))
        answered = time.monotonic() - placed
        levels = functools.partial(driver.execute_script, "return window.ccSoftphone.levels()")
        # The agent's microphone on the meter, and the greeting the service plays once the agent is on the line.
        wait_for("the agent's voice reached the meter", lambda: (levels() or {}).get("out", 0) > 0.01, 10, levels)
        heard_level = wait_for("the greeting reached the browser", lambda: (levels() or {}).get("in", 0) > 0.01
                               and levels()["in"], 15, levels)
        press(driver, "hold")
        wait_for("the call went on hold", lambda: phase(driver) == "on_hold", 20, lambda: snapshot(driver))
        # The hold is the caller's once the phrase has played (hold.started); a resume before it is refused (409
        # "the call is not on hold"), so the agent resumes after it, as a person would.
        wait_for("the caller is on hold", lambda: "hold.started" in [kind for kind, _ in events(database, call_id)],
                 15, lambda: [kind for kind, _ in events(database, call_id)])
        press(driver, "resume")
        wait_for("the call was resumed", lambda: phase(driver) == "in_call", 20, lambda: snapshot(driver))
        talked = time.monotonic()
        # The agent talks on (the fake microphone's tone) past the resume phrase before transferring.
        wait_for("the agent spoke 5 s after the resume", lambda: time.monotonic() - talked > 5, 10)
        driver.execute_script("document.getElementById('sp-kind').value = 'number';"
                              f"document.getElementById('sp-target').value = '{CUSTOMER}';")
        press(driver, "transfer")
        wait_for("the panel let the call go", lambda: not snapshot(driver).get("call"), 40, lambda: snapshot(driver))
        customer = agents / f"customer-{CUSTOMER}.clock"
        wait_for("the customer answered the transfer", lambda: customer.exists() and "answered" in
                 customer.read_text(), 30)

        hang_up(webrtc, first_caller)  # its recording closes: what it heard is read below
        wait_until_hung_up(call, timeout=20)
        tone_held, loudest = tone_seconds(Path(f"{call}-heard.wav"), MIC_HZ)
        MEASURED.append(
            f"WebRTC panel: registered {registered:.2f} s after the panel opened; rang {rang:.2f} s after the call "
            f"was placed ({rings_text}); answered {answered:.2f} s; the panel's in-meter {heard_level:.3f} at the "
            f"greeting; held, resumed and blind-transferred to a number that answered; the caller heard the agent's "
            f"{MIC_HZ} Hz microphone for {tone_held:.2f} s (loudest {loudest:.1f} dBFS)")
        # The caller streams silence and the service plays no 440 Hz prompt: the tone it heard came from the browser
        # (counted only where it is most of the sound: not under the greeting, the hold phrases or the music).
        assert tone_held >= 1.5, f"the caller heard the agent's microphone for {tone_held:.2f} s only"
        expected = {"agent.ringing", "agent.answered", "control.hold", "control.resume", "transfer.blind"}
        # The timeline is written in batches: wait (bounded) for the last of them.
        wait_for("the first call's steps on the timeline", lambda: expected <= {
            kind for kind, _ in events(database, call_id)}, 15, lambda: [k for k, _ in events(database, call_id)])
        by = {kind: data.get("by") for kind, data in events(database, call_id) if kind.startswith("control.")}
        assert by.get("control.hold") == BROWSER_SEAT and by.get("control.resume") == BROWSER_SEAT, by

        # Call 2: the agent's hang-up is guarded; the caller hangs up and the panel is free again.
        ready(driver)  # out of wrap-up
        second = tmp_path / "caller-2"
        caller = webrtc.pbx.originate(bridge="callcenter-ari", entry="hotline", scenario="quiet", call=second)
        wait_for("the panel rang again", lambda: phase(driver) == "ringing", 40, lambda: snapshot(driver))
        driver.find_element("id", "sp-answer").click()
        wait_for("the second call was answered", lambda: phase(driver) == "in_call", 20, lambda: snapshot(driver))
        second_id = str(snapshot(driver)["call"]["callId"])
        press(driver, "hangup")
        wait_for("the session refused the release (R-23, R-48)", lambda: "release.refused" in [
            kind for kind, _ in events(database, second_id)], 10)
        wait_for("the panel is back in the call after the refusal", lambda: phase(driver) == "in_call", 15,
                 lambda: snapshot(driver))
        refusal = str((snapshot(driver).get("message") or {}).get("text", ""))
        hang_up(webrtc, caller)
        wait_for("the panel is free after the caller hung up", lambda: not snapshot(driver).get("call"), 20,
                 lambda: snapshot(driver))
        last = snapshot(driver).get("lastCall") or {}

    second_kinds = [kind for kind, _ in events(database, second_id)]
    assert "agent.lost" not in second_kinds, f"the agent's leg dropped despite the refusal: {second_kinds}"
    MEASURED.append(f"WebRTC panel: the second call's hang-up was refused ({refusal!r}) and it ended by the "
                    f"caller ({last})")


def sign_in_ready(driver: Any, service: str) -> None:
    driver.get(f"{service}/login")
    driver.find_element("name", "name").send_keys(BROWSER_SEAT)
    driver.find_element("name", "password").send_keys(AGENT_PASSWORD)
    driver.find_element("css selector", "form [type=submit]").click()
    wait_for("the softphone registered", lambda: snapshot(driver).get("registration") == "registered", 30,
             lambda: snapshot(driver))
    ready(driver)


def leg(driver: Any) -> dict[str, Any]:
    return dict((snapshot(driver).get("call") or {}).get("consult") or {})


def test_a_consult_transfer_shows_the_second_leg_returns_and_joins_a_conference(
    webrtc: WebrtcPbx, service: str, tmp_path: Path  # noqa: F811
) -> None:
    agents = webrtc.pbx.root / "agents"
    (agents / f"customer-{CUSTOMER}.press").write_text("50")
    (agents / f"customer-{CUSTOMER}.key").write_text("1")
    database = webrtc.config.parent / "callcenter.sqlite3"
    with seat_browser(webrtc.mic) as driver:
        sign_in_ready(driver, service)
        caller = webrtc.pbx.originate(bridge="callcenter-ari", entry="hotline", scenario="quiet",
                                      call=tmp_path / "consulted")
        wait_for("the panel rang", lambda: phase(driver) == "ringing", 40, lambda: snapshot(driver))
        call_id = str(snapshot(driver)["call"]["callId"])
        driver.find_element("id", "sp-answer").click()
        wait_for("the call was answered", lambda: phase(driver) == "in_call", 20, lambda: snapshot(driver))
        for round_ in ("return", "conference"):
            driver.execute_script("document.getElementById('sp-kind').value = 'number';"
                                  f"document.getElementById('sp-target').value = '{CUSTOMER}';")
            press(driver, "consult")
            wait_for("the second leg shows", lambda: not driver.find_element("id", "sp-leg").get_attribute("hidden"),
                     20, lambda: snapshot(driver))
            wait_for("the customer answered the consult", lambda: leg(driver).get("status") == "talking", 30,
                     lambda: snapshot(driver))
            shown = driver.find_element("id", "sp-leg-target").text
            assert CUSTOMER in shown, shown
            if round_ == "return":
                press(driver, "consult_return")
                wait_for("back with the caller", lambda: phase(driver) == "in_call" and not leg(driver), 20,
                         lambda: snapshot(driver))
            else:
                press(driver, "conference")
                wait_for("the three-way conference", lambda: phase(driver) == "conference", 20,
                         lambda: snapshot(driver))
        hang_up(webrtc, caller)
        wait_for("the panel is free after the caller hung up", lambda: not snapshot(driver).get("call"), 30,
                 lambda: snapshot(driver))
    kinds = [kind for kind, _ in events(database, call_id)]
    for expected in ("transfer.consult.answered", "transfer.consult.returned"):
        assert expected in kinds, f"{expected} not on the timeline of {call_id}: {kinds}"
    assert any(kind.startswith("conference") for kind in kinds), kinds
    MEASURED.append(f"WebRTC panel: consult to {CUSTOMER} shown, returned, consulted again and conferenced: "
                    f"{', '.join(k for k in kinds if k.startswith(('transfer', 'conference')))}")

def test_the_panel_registers_again_after_an_asterisk_restart(webrtc: WebrtcPbx, service: str) -> None:  # noqa: F811
    """The softphone re-registers by itself when Asterisk comes back (its websocket dropped with it)."""
    with seat_browser(webrtc.mic) as driver:
        driver.get(f"{service}/login")
        driver.find_element("name", "name").send_keys(BROWSER_SEAT)
        driver.find_element("name", "password").send_keys(AGENT_PASSWORD)
        driver.find_element("css selector", "form [type=submit]").click()
        wait_for("the softphone registered", lambda: snapshot(driver).get("registration") == "registered", 30,
                 lambda: snapshot(driver))
        webrtc.pbx.stop()
        wait_for("the panel saw the registration go", lambda: snapshot(driver).get("registration") != "registered",
                 30, lambda: snapshot(driver))
        lost = snapshot(driver)
        webrtc.pbx.start()
        back = time.monotonic()
        wait_for("the softphone registered again", lambda: snapshot(driver).get("registration") == "registered", 60,
                 lambda: snapshot(driver))
        again = time.monotonic() - back
        wait_for("Asterisk holds the seat's contact", lambda: "Contact:" in webrtc.pbx.cli(
            f"pjsip show aor {BROWSER_SEAT}"), 10)
    MEASURED.append(f"WebRTC panel: after an Asterisk restart the softphone registered again {again:.2f} s after "
                    f"Asterisk was back (while down it showed {lost.get('registration')!r}: "
                    f"{(lost.get('message') or {}).get('text', '')!r})")
