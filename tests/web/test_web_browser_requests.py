"""Access requests in a real headless Chromium against the live service (R-111, R-114): a reviewer without the
grant asks for a confidential recording, a supervisor approves it in the queue, the reviewer plays it.

With ``CALLCENTER_SCREENSHOT_DIR`` set, the approval queue is also saved there as ``access-requests.png`` (how
docs/access-requests.png is made: ``CALLCENTER_SCREENSHOT_DIR=docs pytest tests/web/test_web_browser_requests.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from browsing import browser, click, sign_in, text, wait
from live_service import LiveService
from pydub.generators import Sine, WhiteNoise
from selenium.webdriver.common.by import By
from sqlalchemy import select

from callcenter.recordings.access import Actor
from callcenter.recordings.models import LedgerEntry
from callcenter.recordings.requests import Subject
from callcenter.recordings.service import RecordingService
from callcenter.store import session_scope

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the module's Chromium fixture, shared with the page tests


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, accounts_db: Path) -> Iterator[LiveService]:
    service = LiveService(tmp_path_factory.mktemp("live-requests"), accounts_db)
    yield service
    service.close()


def _wav(folder: Path, name: str, seconds: float = 6.0) -> Path:
    path = folder / f"{name}.wav"
    tone = Sine(440).to_audio_segment(duration=int(seconds * 500), volume=-14)
    audio = (tone + WhiteNoise().to_audio_segment(duration=int(seconds * 500), volume=-40)).set_frame_rate(8000)
    audio.export(path, format="wav").close()
    return path


@pytest.fixture(scope="module")
def recs(live: LiveService, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """A confidential complaint call (hidden from qa1), two more calls, and requests from others in the queue."""
    from callcenter.tickets import service as tickets

    folder = tmp_path_factory.mktemp("wavs")
    service = RecordingService(live.settings)
    start = datetime.now(UTC) - timedelta(minutes=30)
    ids: dict[str, int] = {}
    for n, (call_id, caller) in enumerate((("complaint-7", "13812345678"), ("billing-3", "13987654321"),
                                           ("repair-5", "13700001111"))):
        at = start + timedelta(minutes=5 * n)
        ids[call_id] = service.import_recording(_wav(folder, call_id), call_id=call_id, started_at=at,
                                                agent="agent1", caller=caller, disposition="normal").id
    with session_scope(live.settings.database.url) as s:
        order = tickets.create_order_for_call(s, live.settings, "complaint-7", category="complaint",
                                              summary="涉及个人隐私的投诉", accepted_at=start, actor="agent1",
                                              confidential=True)
    service.link_call("complaint-7", order.number, by="tickets")
    # Others' requests waiting too, as a supervisor's queue usually looks.
    service.requests.file(Actor("qa_secret", "qa", True), action="export", purpose="移交公安机关 (R-113) 调取",
                          recording_ids=[ids["billing-3"], ids["repair-5"]])
    service.requests.file(Actor("qa_secret", "qa", True), action="play", call_id="billing-3",
                          purpose="客户本人来电要求听取通话录音 (R-114)",
                          subject=Subject("customer", "李女士", "13987654321", "回拨登记号码并核对工单号"))
    return ids


def _ledger(live: LiveService) -> list[LedgerEntry]:
    with session_scope(live.settings.database.url) as s:
        return list(s.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)))


def test_request_approve_and_play_a_confidential_recording(browser: object, live: LiveService,
                                                           recs: dict[str, int]) -> None:
    secret = recs["complaint-7"]
    sign_in(browser, live, "qa1")
    browser.get(f"{live.url}/qa/{secret}")
    assert "无权访问" in browser.page_source
    browser.find_element(By.ID, "request-purpose").send_keys("客户投诉 complaint-7 复核服务态度")
    browser.find_element(By.ID, "request-submit").click()
    wait(browser, lambda d: d.find_elements(By.ID, "filed"))
    request_id = int(text(browser, "filed").split("#", 1)[1].split()[0])
    assert "待审批" in text(browser, "my-requests")

    sign_in(browser, live, "boss")
    browser.find_element(By.ID, "nav-approvals").click()
    row = f'#approval-queue tr[data-id="{request_id}"]'
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, row))
    assert "客户投诉 complaint-7 复核服务态度" in browser.find_element(By.CSS_SELECTOR, row).text
    shots = os.environ.get("CALLCENTER_SCREENSHOT_DIR")
    if shots:
        browser.set_window_size(1440, 900)
        browser.save_screenshot(str(Path(shots) / "access-requests.png"))
    browser.find_element(By.CSS_SELECTOR, f"{row} input.reason").send_keys("投诉处理需要,限本次复核")
    hours = browser.find_element(By.CSS_SELECTOR, f"{row} input.hours")
    hours.clear()
    hours.send_keys("4")
    click(browser, f"{row} button.approve")
    wait(browser, lambda d: "已批准" in text(d, "decided"))

    sign_in(browser, live, "qa1")
    browser.get(f"{live.url}/requests")
    assert "已批准" in text(browser, "my-requests")
    click(browser, f'a.open-approved[href="/qa/{secret}?approval={request_id}"]')
    wait(browser, lambda d: d.find_elements(By.ID, "timeline"))
    assert f"依据审批 #{request_id}" in browser.page_source
    before = len(_ledger(live))
    click(browser, "#play")
    wait(browser, lambda d: len(_ledger(live)) == before + 1)
    wait(browser, lambda d: d.execute_script("return document.getElementById('audio').currentTime") > 0.2)
    last = _ledger(live)[-1]
    assert (last.actor, last.action, last.allowed, last.recording_id) == ("qa1", "play", True, secret)
    assert f"approval #{request_id}" in last.detail
    assert RecordingService(live.settings).verify_ledger().ok
