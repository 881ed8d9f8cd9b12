"""Live monitoring (R-118) in a real headless Chromium against the live service: a supervisor picks a live call on
the wallboard, names a purpose, listens (their desk phone rings and answers), switches to whisper and ends it.

With ``CALLCENTER_SCREENSHOT_DIR`` set, the wallboard's monitoring controls are saved there as ``monitoring.png``
(how docs/ gets it: ``CALLCENTER_SCREENSHOT_DIR=docs pytest tests/web/test_web_browser_monitoring.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from browsing import browser, click, sign_in, wait
from conftest import PASSWORD
from live_service import LiveService
from selenium.webdriver.common.by import By

from callcenter.sim.ari_parties import SimAgent, SimCaller
from callcenter.web.users import add_user

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the module's Chromium fixture, shared with the page tests

CHATTY = tuple((2.0 * k, 0.5) for k in range(1, 400))  # keeps the silent-call sequence away


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, accounts_db: Path) -> Iterator[LiveService]:
    service = LiveService(tmp_path_factory.mktemp("live-monitoring-browser"), accounts_db)
    add_user(service.settings.database.url, "lead", "supervisor", PASSWORD, work_number="9001",
             display_name="王班长")

    async def seat() -> None:
        service.sim.add_agent(SimAgent("PJSIP/9001", answer_at_ring=1))

    service.run(seat())
    yield service
    service.close()


def test_a_supervisor_listens_then_whispers_from_the_wallboard(browser: object, live: LiveService) -> None:
    live.ready()
    call_id = live.place_call(SimCaller(args=("hotline",), speech=CHATTY))
    sign_in(browser, live, "lead")
    browser.get(f"{live.url}/wallboard")  # type: ignore[attr-defined]
    row = f'#live-calls tr[data-call="{call_id}"]'
    listen = f'{row} button[data-mode="listen"]'
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, listen), seconds=30)  # the agent is on the line
    click(browser, listen)
    wait(browser, lambda d: "purpose is required" in d.find_element(By.ID, "monitor-error").text)
    browser.find_element(By.ID, "monitor-purpose").send_keys("新员工辅导")  # type: ignore[attr-defined]
    click(browser, listen)
    state = f"{row} td.monitor-state"
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, state).text == "lead · 监听", seconds=30)
    click(browser, f'{row} button[data-mode="whisper"]')
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, state).text == "lead · 耳语", seconds=30)
    shots = os.environ.get("CALLCENTER_SCREENSHOT_DIR")
    if shots:
        browser.set_window_size(1440, 1100)  # type: ignore[attr-defined]
        browser.find_element(By.ID, "monitor").location_once_scrolled_into_view  # type: ignore[attr-defined]  # noqa: B018
        browser.save_screenshot(str(Path(shots) / "monitoring.png"))  # type: ignore[attr-defined]
    click(browser, f"{row} button.stop")
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, state).text == "—", seconds=30)
    kinds = [e.type for e in live.events(call_id) if e.type.startswith("supervision.")]
    assert kinds == ["supervision.started", "supervision.switched", "supervision.ended"]
    assert not [e for e in live.events(call_id) if e.type == "call.hangup"]  # the call went on
