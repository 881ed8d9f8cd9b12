"""The panel's softphone in a real headless Chromium (issue 15), against the live service and the ARI simulator.

The browser's SIP side is a stand-in user agent put into the page before it loads
(``window.ccSoftphoneUaFactory``, the panel's test hook): it "receives the INVITE" when the call timeline says
this seat rings, and its media are two WebAudio tones, so the level meters move both ways. Everything else is
real: the panel's state machine and page, the credentials route, the call-control API, the ARI application
and the simulated Asterisk that holds, consults and transfers. The real JsSIP against a real Asterisk is the
PBX side's test (tests/asterisk/test_webrtc*.py). The screenshots of the README are taken here.

Chromium runs with a fake microphone (``--use-fake-device-for-media-stream --use-fake-ui-for-media-stream``),
or refusing it (``--deny-permission-prompts``) for the microphone test. With ``CALLCENTER_SCREENSHOT_DIR`` set,
the softphone ringing, in a call, on hold and consulting is saved there (how docs/softphone-*.png are made:
``CALLCENTER_SCREENSHOT_DIR=docs pytest tests/web/test_softphone_page_browser.py``).
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

import browsing
import pytest
from browsing import PASSWORD, text
from live_service import LiveService
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from callcenter.calls import events as ev
from callcenter.calls.agents import AgentState
from callcenter.calls.softphone_seats import SeatSecrets
from callcenter.sim.ari_parties import SimAgent, SimCaller, SimCustomer
from callcenter.store import dispose_all
from callcenter.web import softphone_pages
from callcenter.web.users import add_user
from tests.chromium import chromium

pytestmark = pytest.mark.browser

SECONDS = 20.0
FAKE_MEDIA = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")

# The stand-in user agent (see the module's docstring). It registers at once, rings when the timeline says
# this seat's first ring started, answers with a confirmed call, and ends when the timeline says the call
# ended (Asterisk's BYE). Each of its media is a tone, so the meters have something to measure.
FAKE_UA = r"""
window.ccFakeUa = null;
window.ccSoftphoneUaFactory = function (credentials, emit) {
  const later = (event) => setTimeout(() => emit(event), 0);
  const tone = (ctx, hz, level) => {
    const osc = ctx.createOscillator(); const gain = ctx.createGain(); const out = ctx.createMediaStreamDestination();
    osc.frequency.value = hz; gain.gain.value = level; osc.connect(gain).connect(out); osc.start(); return out.stream;
  };
  const ua = {
    credentials: credentials, calls: [], ringing: null,
    start() {
      this.calls.push("start");
      later({ type: "connected" }); later({ type: "registered" });
      window.ccLive.onEvent((e) => {
        if (!e) return;
        const first = e.type === "agent.ringing" && e.data.agent === "phone1" && e.data.ring === 1;
        if (first && this.ringing !== e.call_id) {
          this.ringing = e.call_id;
          emit({ type: "incoming", id: "s-" + e.call_id, caller: "138****5678", callId: "" });
        }
        if (e.type === "call.hangup" && e.call_id === this.ringing) {
          emit({ type: "ended", id: "s-" + e.call_id, originator: "remote", cause: "BYE" });
        }
      });
    },
    stop() { this.calls.push("stop"); },
    register() { this.calls.push("register"); later({ type: "registered" }); },
    unregister() { this.calls.push("unregister"); },
    answer(id) { this.calls.push("answer"); later({ type: "confirmed", id: id }); },
    reject(id) { this.calls.push("reject"); },
    terminate(id) {
      this.calls.push("terminate");
      later({ type: "ended", id: id, originator: "local", cause: "Terminated" });
    },
    mute(id, on) { this.calls.push(on ? "mute" : "unmute"); },
    streams(id) {
      const ctx = new AudioContext();
      return { local: tone(ctx, 440, 0.12), remote: tone(ctx, 660, 0.2), connection: null };
    },
  };
  window.ccFakeUa = ua;
  return ua;
};
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, accounts_db: Path) -> Iterator[LiveService]:
    base = tmp_path_factory.mktemp("softphone")
    template = base / "accounts.sqlite3"
    shutil.copyfile(accounts_db, template)
    add_user(f"sqlite:///{template}", "phone1", "agent", PASSWORD, work_number="8005", seat="webrtc")
    dispose_all()
    (base / "live").mkdir()
    service = LiveService(base / "live", template)
    # The seat's SIP secret in this test's own data folder; the websocket port is one nobody listens on (the
    # stand-in never dials it; the real-JsSIP test below finds it closed).
    secrets = base / "seat-secrets.json"
    SeatSecrets(secrets).ensure(["8005"])
    ctx = service.service.web
    ctx.settings = replace(ctx.settings, pbx=replace(ctx.settings.pbx, secrets_file=secrets, tls_port=free_port()))

    async def seats() -> None:
        service.sim.add_agent(SimAgent("PJSIP/8005", answer_at_ring=3))
        await service.service.pool.set_state("agent1", AgentState.NOT_READY)  # phone1 is the one free seat

    service.run(seats())
    yield service
    service.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium(FAKE_MEDIA) as driver:
        driver.set_window_size(1440, 1180)  # the whole softphone card in the screenshots
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": FAKE_UA})
        yield driver


# The softphone's steps (a SIP leg set up in the page) take longer than the panel's: 20 s, not 15.
wait = partial(browsing.wait, seconds=SECONDS)
click = partial(browsing.click, seconds=SECONDS)
sign_in = partial(browsing.sign_in, seconds=SECONDS)


def shown(driver: object, element_id: str) -> bool:
    return driver.find_element(By.ID, element_id).is_displayed()


def state(driver: object) -> str:
    return str(driver.execute_script("return window.ccSoftphone ? window.ccSoftphone.snapshot().state : ''"))


def types_of(live: LiveService, call_id: str) -> list[str]:
    return [e.type for e in live.events(call_id)]


def shot(driver: object, name: str) -> None:
    """The page as a picture; saved under ``CALLCENTER_SCREENSHOT_DIR`` when set (how the README's are made)."""
    png = driver.get_screenshot_as_png()
    assert png.startswith(b"\x89PNG")
    folder = os.environ.get("CALLCENTER_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / name).write_bytes(png)


def test_the_panel_rings_answers_by_key_holds_consults_and_survives_a_failed_transfer(
    browser: object, live: LiveService
) -> None:
    sign_in(browser, live, "phone1")
    wait(browser, lambda d: text(d, "sp-reg") == "已注册")
    assert not shown(browser, "answer-hint")  # a webrtc seat is its own phone: no 「请在话机上接听」
    click(browser, '#state-buttons button[data-state="ready"]')
    wait(browser, lambda d: text(d, "agent-state") == "就绪")

    # The caller talks every 20 s (a silent line would run the silent-call protocol, R-15, and end the call).
    talk = tuple((5.0 + 20.0 * i, 2.0) for i in range(100))
    call_id = live.place_call(SimCaller(args=("hotline",), speech=talk, hangup_at=2000.0))
    # the softphone rings with the live ring count beside the panel's own.
    wait(browser, lambda d: text(d, "sp-rings").startswith("第 "))
    assert state(browser) == "ringing"
    assert text(browser, "sp-caller") == "138****5678"
    shot(browser, "softphone-ringing.png")
    # Answer with the space bar, nothing focused.
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.SPACE)
    wait(browser, lambda d: state(d) == "in_call")
    assert "answer" in browser.execute_script("return window.ccFakeUa.calls")
    wait(browser, lambda d: text(d, "call-phase") == "通话中")  # the simulated seat picked up (ring 3)
    levels = wait(browser, lambda d: (lv := d.execute_script("return window.ccSoftphone.levels()"))
                  and lv["in"] > 0.02 and lv["out"] > 0.02 and lv)
    assert levels
    assert browser.find_element(By.ID, "sp-level-in").size["width"] > 0
    shot(browser, "softphone-call.png")

    # Hold and resume through the call-control API and the ARI application.
    click(browser, '#sp-controls [data-action="hold"]')
    wait(browser, lambda d: text(d, "sp-phase") == "保持中")
    wait(browser, lambda d: ev.HOLD_STARTED in types_of(live, call_id))
    assert "control.hold" in types_of(live, call_id)
    shot(browser, "softphone-hold.png")
    click(browser, '#sp-controls [data-action="resume"]')
    wait(browser, lambda d: text(d, "sp-phase") == "通话中")
    wait(browser, lambda d: ev.HOLD_ENDED in types_of(live, call_id))
    # Mute (the server's and the local track's), unmute, a key on the DTMF pad.
    click(browser, '#sp-controls [data-action="mute"]')
    wait(browser, lambda d: shown(d, "sp-muted"))
    assert "mute" in browser.execute_script("return window.ccFakeUa.calls")
    click(browser, '#sp-controls [data-action="unmute"]')
    wait(browser, lambda d: not shown(d, "sp-muted"))
    click(browser, '#sp-keypad button[data-digit="1"]')
    wait(browser, lambda d: "已发送按键 1" in text(d, "sp-message"))
    assert {"control.mute", "control.unmute", "control.dtmf"} <= set(types_of(live, call_id))
    # The microphone picker lists the browser's microphones (the fake one here) once access was granted.
    assert len(browser.find_elements(By.CSS_SELECTOR, "#sp-mic option")) >= 2

    # Consult a number that answers: the second leg shows, then the agent returns to the caller.
    live.run(_add_customer(live, SimCustomer("13900001111", answer_at_ring=1)))
    browser.find_element(By.CSS_SELECTOR, '#sp-kind option[value="number"]').click()
    target = browser.find_element(By.ID, "sp-target")
    target.clear()
    target.send_keys("13900001111")
    click(browser, '#sp-transfer [data-action="consult"]')
    wait(browser, lambda d: shown(d, "sp-leg") and text(d, "sp-leg-status") == "已接通")
    assert state(browser) == "consulting"
    assert "13900001111" in text(browser, "sp-leg-target")
    shot(browser, "softphone-consult.png")
    click(browser, '#sp-leg [data-action="consult_return"]')
    wait(browser, lambda d: state(d) == "in_call" and not shown(d, "sp-leg"))

    # A blind transfer to a number that is busy: the caller comes back to this agent, and the panel says so.
    live.run(_add_customer(live, SimCustomer("13900002222", busy=True)))
    target = browser.find_element(By.ID, "sp-target")
    target.clear()
    target.send_keys("13900002222")
    click(browser, '#sp-transfer [data-action="transfer"]')
    wait(browser, lambda d: "客户已回到您的通话" in text(d, "sp-message"))
    assert state(browser) == "in_call"
    assert ev.TRANSFER_FAILED in types_of(live, call_id)

    # The caller hangs up: Asterisk's BYE ends the softphone's call.
    live.run(_hang_up(live, call_id))
    wait(browser, lambda d: state(d) == "registered")
    assert "上一通" in text(browser, "sp-last")


async def _add_customer(live: LiveService, customer: SimCustomer) -> None:
    live.sim.add_customer(customer)


async def _hang_up(live: LiveService, call_id: str) -> None:
    live.sim.caller_hangs_up(call_id)


def test_a_second_tab_takes_the_seat_and_the_first_says_so(browser: object, live: LiveService) -> None:
    sign_in(browser, live, "phone1")
    wait(browser, lambda d: text(d, "sp-reg") == "已注册")
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": FAKE_UA})  # per tab
    browser.get(f"{live.url}/agent")
    wait(browser, lambda d: text(d, "sp-reg") == "已注册")
    second_tab = browser.execute_script("return window.ccSoftphone.tab")
    browser.switch_to.window(first)
    wait(browser, lambda d: state(d) == "taken_over")
    assert "另一个标签页" in text(browser, "sp-message")
    assert shown(browser, "sp-reclaim")
    assert browser.execute_script("return window.ccFakeUa.calls").count("stop") == 1
    assert live.service.web.extras["softphone_holders"]["phone1"] == second_tab
    # Taking it back here: the other tab lets go in turn.
    click(browser, "#sp-reclaim")
    wait(browser, lambda d: text(d, "sp-reg") == "已注册")
    browser.switch_to.window(browser.window_handles[-1])
    wait(browser, lambda d: state(d) == "taken_over")
    browser.close()
    browser.switch_to.window(first)
    # Another browser of the same agent (no BroadcastChannel between them) claims the seat through the server:
    # the panel's next refresh names the new holder, and this tab lets go too.
    browser.execute_script(
        "return window.ccLive.api('/api/agent/softphone/claim', {tab: 'otherbrowser0000000000000000001'})")
    click(browser, '#state-buttons button[data-state="not_ready"]')  # any refresh of the panel
    wait(browser, lambda d: state(d) == "taken_over")
    assert "另一个浏览器" in text(browser, "sp-message")


def test_a_refused_microphone_is_said_plainly_and_nothing_registers(live: LiveService) -> None:
    with chromium(("--deny-permission-prompts",)) as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": FAKE_UA})
        sign_in(driver, live, "phone1")
        wait(driver, lambda d: state(d) == "failed")
        assert "麦克风" in text(driver, "sp-message")
        assert shown(driver, "sp-reconnect")
        assert driver.execute_script("return window.ccFakeUa") is None  # no user agent was made


def test_the_real_bundle_loads_and_a_closed_websocket_re_registers_by_itself(live: LiveService) -> None:
    if not softphone_pages.bundle_present():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {softphone_pages.BUNDLE} is missing (./run test copies it)")
        pytest.skip(f"{softphone_pages.BUNDLE} is missing: ./run test installs JsSIP and copies it")
    with chromium(FAKE_MEDIA) as driver:  # no stand-in: JsSIP itself, from the service's static files
        sign_in(driver, live, "phone1")
        wait(driver, lambda d: d.execute_script("return typeof window.JsSIP") == "object")
        assert driver.execute_script("return JsSIP.version")
        # Nobody listens on the seat's websocket port (as during an Asterisk restart): the panel says so and
        # retries by itself.
        wait(driver, lambda d: state(d) == "reregistering")
        assert "自动重新注册" in text(driver, "sp-message")
        assert text(driver, "sp-reg") == "重新注册中…"


def test_a_missing_bundle_is_said_plainly(live: LiveService, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(softphone_pages, "BUNDLE", tmp_path / "absent" / "jssip.min.js")
    with chromium(FAKE_MEDIA) as driver:
        sign_in(driver, live, "phone1")
        wait(driver, lambda d: shown(d, "sp-message") and "软电话组件未安装" in text(d, "sp-message"))
        assert driver.find_element(By.ID, "softphone").get_attribute("data-state") == "failed"


def test_a_desk_seat_keeps_answering_on_its_desk_phone(browser: object, live: LiveService) -> None:
    sign_in(browser, live, "agent1")
    wait(browser, lambda d: text(d, "agent-state") != "—")
    wait(browser, lambda d: d.execute_script("return document.readyState") == "complete")
    assert not shown(browser, "softphone")
    assert browser.execute_script("return window.ccSoftphone === undefined")
    assert browser.execute_script("return document.body.dataset.seat === undefined")
