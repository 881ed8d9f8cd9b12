"""The three pages in a real headless Chromium against the live service (web app + ARI app + simulator).

One browser and one service for the module; calls run on an accelerated clock (scale 0.1: a 5-second ring
period takes 0.5 s), so nothing here sleeps for a timing of the standards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browsing import browser, click, sign_in, text, wait
from live_service import PROMPT_SECONDS, LiveService
from selenium.webdriver.common.by import By
from sqlalchemy import func, select

from callcenter.calls import events as ev
from callcenter.recordings.models import LedgerEntry
from callcenter.sim.ari_parties import SimCaller
from callcenter.store import session_scope

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the Chromium fixture of browsing.py, one per module

LATE = 1.0  # call seconds a timer may run late on a busy machine (never early)



@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, accounts_db: Path) -> Iterator[LiveService]:
    service = LiveService(tmp_path_factory.mktemp("live"), accounts_db)
    yield service
    service.close()


def ledger_size(live: LiveService) -> int:
    with session_scope(live.settings.database.url) as s:
        return s.scalar(select(func.count()).select_from(LedgerEntry)) or 0


def of_type(events: list, kind: str) -> list:
    return [e for e in events if e.type == kind]


@pytest.mark.parametrize(("name", "path", "heading"), [
    ("agent1", "/agent", "话术卡"), ("qa1", "/qa", "录音质检"), ("boss", "/wallboard", "坐席状态"),
])
def test_each_role_signs_in_to_its_page(browser: object, live: LiveService, name: str, path: str,
                                        heading: str) -> None:
    sign_in(browser, live, name)
    assert browser.current_url.endswith(path)
    assert heading in browser.page_source


def test_agent_takes_a_call_runs_the_silent_button_and_opens_a_work_order(browser: object,
                                                                          live: LiveService) -> None:
    sign_in(browser, live, "agent1")
    live.ready()
    wait(browser, lambda d: text(d, "agent-state") == "就绪")
    # The caller talks during the welcome and once after the greeting, then says nothing more.
    call_id = live.place_call(SimCaller(args=("hotline",), speech=((5.0, 1.0), (30.0, 1.0)), hangup_at=400.0))
    seen: set[str] = set()

    def ringing_then_greeting(d: object) -> bool:
        seen.add(text(d, "ring-count"))
        return text(d, "call-phase") == "通话中" and "客服代表8001号很高兴为您服务" in text(d, "script-card")

    wait(browser, ringing_then_greeting)
    assert {"第 1 声 / 3", "第 2 声 / 3"} & seen, seen  # the live ring count with the three-ring limit
    assert "响 3 声接听" in text(browser, "ring-count")
    # Wait until the greeting's own silent sequence is over (the caller spoke at 30 s), then press the button.
    wait(browser, lambda d: any(e.offset > 25.0 for e in of_type(live.events(call_id), ev.SPEECH_STOPPED)))
    click(browser, 'button[data-script="silent_call"]')
    wait(browser, lambda d: "无声电话" in text(d, "script-where"))
    try:
        wait(browser, lambda d: "通话已结束" in text(d, "call-ended"), seconds=30)
    except Exception:
        print([(round(e.offset, 1), e.type, e.data) for e in live.events(call_id) if e.type != "command"])
        raise
    assert "系统挂机" in text(browser, "call-ended") and "silent" in text(browser, "call-ended")
    events = live.events(call_id)
    requested = of_type(events, ev.SCRIPT_REQUESTED)[-1]
    hangup = of_type(events, ev.HANGUP)[0]
    # three prompts, each followed by its 5-second window, then the hang-up (not a moment before).
    expected = 3 * (PROMPT_SECONDS + 5.0)
    assert expected <= hangup.offset - requested.offset < expected + LATE * 3
    assert [e.data["step"] for e in of_type(events, ev.SILENCE_WINDOW)][-3:] == [1, 2, 3]

    # After-call work: the work order for this call, confidential, with its deadlines.
    browser.find_element(By.ID, "order-category").send_keys("投诉")
    browser.find_element(By.ID, "order-confidential").click()
    browser.find_element(By.ID, "order-summary").send_keys("来电无声,客户事后来信投诉")
    browser.find_element(By.ID, "order-submit").click()
    wait(browser, lambda d: text(d, "order-number").startswith("GD"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#order-deadlines tr.deadline")
    assert rows and all(r.text.strip() for r in rows)
    assert ev.WORK_ORDER_CREATED in [e.type for e in live.events(call_id)]


def _recording_rows(driver: object) -> list:
    return driver.find_elements(By.CSS_SELECTOR, "#recordings tbody tr[data-id]")


def test_reviewer_plays_and_scores_a_recording_and_cannot_open_a_confidential_one(
    browser: object, live: LiveService
) -> None:
    # A plain call that reaches the QA list: the caller talks, then hangs up first.
    plain = live.place_call(SimCaller(args=("hotline",), speech=((5.0, 1.0), (25.0, 2.0)), hangup_at=35.0))
    wait(browser, lambda d: of_type(live.events(plain), ev.RECORDING_FINISHED), seconds=30)
    sign_in(browser, live, "qa1")
    wait(browser, lambda d: d.get(f"{live.url}/qa") or any(r.get_attribute("data-call") == plain
                                                           for r in _recording_rows(d)))
    calls = [r.get_attribute("data-call") for r in _recording_rows(browser)]
    secret = [r for r in live.service.web.board.calls.values() if r.work_orders]
    assert secret, "the previous test opened a confidential work order"
    assert secret[0].call_id not in calls  # hidden from the list

    row = next(r for r in _recording_rows(browser) if r.get_attribute("data-call") == plain)
    row.find_element(By.CSS_SELECTOR, "a.open").click()
    wait(browser, lambda d: d.find_elements(By.ID, "timeline"))
    assert "IVR 接听" in text(browser, "timeline") and "客户挂机" in text(browser, "timeline")
    before = ledger_size(live)
    browser.find_element(By.ID, "play").click()
    wait(browser, lambda d: ledger_size(live) == before + 1)  # every play is ledgered
    browser.find_element(By.ID, "fwd5").click()  # seeking is the same play: no second ledger entry
    wait(browser, lambda d: d.execute_script("return document.getElementById('audio').currentTime") >= 4.9)
    assert ledger_size(live) == before + 1
    # The evidence is pre-filled from the timeline; the reviewer confirms it and saves.
    answered = browser.find_element(By.CSS_SELECTOR, 'fieldset[data-key="answered_within_three_rings"]')
    assert answered.find_element(By.CSS_SELECTOR, 'input[value="true"]').is_selected()
    release = browser.find_element(By.CSS_SELECTOR, 'fieldset[data-key="release_order"]')
    assert "客户先挂机" in release.text
    browser.find_element(By.ID, "save-score").click()
    wait(browser, lambda d: "已保存" in text(d, "score-result"))

    # The confidential recording: refused by page and by API, and each refusal is ledgered too.
    with session_scope(live.settings.database.url) as s:
        from callcenter.recordings.models import Recording

        secret_id = s.scalar(select(Recording.id).where(Recording.call_id == secret[0].call_id))
    browser.get(f"{live.url}/qa/{secret_id}")
    assert "无权访问" in browser.page_source
    status = browser.execute_script(
        "return fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.status)",
        f"{live.url}/api/recordings/{secret_id}")
    assert status == 403


def test_wallboard_updates_while_calls_flow_and_a_dropped_socket_resumes(browser: object,
                                                                        live: LiveService) -> None:
    sign_in(browser, live, "boss")
    wait(browser, lambda d: text(d, "calls_offered") not in ("—", ""))
    offered = int(text(browser, "calls_offered"))
    live.ready()
    first = live.place_call(SimCaller(args=("hotline",), speech=((5.0, 1.0),), hangup_at=25.0))
    wait(browser, lambda d: text(d, "calls_offered") == str(offered + 1))
    wait(browser, lambda d: "<svg" in d.find_element(By.ID, "chart").get_attribute("innerHTML"))
    # Drop the socket mid-call; events keep coming while the page is away; it resumes from its last id.
    browser.execute_script("window.ccLive.drop()")
    second = live.place_call(SimCaller(args=("hotline",), hangup_at=3.0))
    wait(browser, lambda d: of_type(live.events(first), ev.HANGUP) and of_type(live.events(second), ev.HANGUP),
         seconds=30)
    wait(browser, lambda d: text(d, "calls_offered") == str(offered + 2))
    received = browser.execute_script("return window.ccLive.state.received")
    assert len(received) == len(set(received)), "an event was delivered twice"
    durable = [e.id for e in live.service.timeline.since(received[0] - 1, 100_000)]
    last = received[-1]
    assert received == [i for i in durable if i <= last], "an event was lost across the reconnect"
    assert {first, second} <= {e.call_id for e in live.service.timeline.since(received[0] - 1, 100_000)}


