"""Callbacks (回访) in a real headless Chromium against the live service and its dialer: an agent calls a customer
from the panel's callback queue (the agent's phone first, then the customer's), and a supervisor reads a survey
campaign's answers on the 回访 page.

With ``CALLCENTER_SCREENSHOT_DIR`` set, the queue and the page are saved there as ``callback-queue.png`` and
``callbacks.png`` (how docs/ gets them:
``CALLCENTER_SCREENSHOT_DIR=docs pytest tests/web/test_web_browser_callbacks.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from browsing import browser, click, sign_in, text, wait
from live_service import LiveService
from selenium.webdriver.common.by import By

from callcenter.callbacks.campaigns import add_campaign
from callcenter.callbacks.models import CallbackTask
from callcenter.callbacks.tasks import new_task
from callcenter.sim.ari_parties import SimCaller, SimCustomer
from callcenter.store import session_scope

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the module's Chromium fixture, shared with the page tests

PREVIEWED = "13700000021"
SURVEYED = {"13700000031": "1", "13700000032": "1", "13700000033": "2", "13700000034": "3"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, accounts_db: Path) -> Iterator[LiveService]:
    service = LiveService(tmp_path_factory.mktemp("live-callbacks"), accounts_db)
    yield service
    service.close()


def _campaign(live: LiveService, name: str, mode: str, script: str, customers: dict[str, str]) -> dict[str, int]:
    settings, now = live.settings, datetime.now(UTC)
    with session_scope(settings.database.url) as session:
        campaign = add_campaign(session, name=name, kind="questionnaire", mode=mode, agent_group="default",
                                script=script, at=now, hours="00:00-24:00", rest_days=True, max_attempts=1)
        ids = {}
        for number, customer in customers.items():
            task, _ = new_task(session, settings, campaign, number=number, dedup_key=f"{name}:{number}", at=now,
                               customer_name=customer)
            session.flush()
            ids[number] = task.id
        return ids


def _status(live: LiveService, task_id: int) -> tuple[str, str | None]:
    with session_scope(live.settings.database.url) as session:
        task = session.get(CallbackTask, task_id)
        assert task is not None
        return task.status, task.satisfaction


def _screenshot(driver: object, name: str) -> None:
    shots = os.environ.get("CALLCENTER_SCREENSHOT_DIR")
    if shots:
        driver.set_window_size(1440, 1000)  # type: ignore[attr-defined]
        driver.save_screenshot(str(Path(shots) / name))  # type: ignore[attr-defined]


def test_an_agent_calls_a_customer_from_the_callback_queue(browser: object, live: LiveService) -> None:
    live.sim.add_customer(SimCustomer(PREVIEWED, answer_at_ring=2,
                                      after_answer=SimCaller(number=PREVIEWED, speech=((1.0, 3.0),), hangup_at=20.0)))
    ids = _campaign(live, "预览回访·浏览器", "preview", "callback_preview", {PREVIEWED: "赵先生"})
    live.ready()
    sign_in(browser, live, "agent1")
    item = f'#callbacks li[data-task="{ids[PREVIEWED]}"]'
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, item))
    shown = browser.find_element(By.CSS_SELECTOR, item).text  # type: ignore[attr-defined]
    assert "赵先生" in shown and "请问是赵先生吗" in shown  # R-105 opening, said by the agent
    assert PREVIEWED not in shown and PREVIEWED[-4:] in shown  # the number is masked
    _screenshot(browser, "callback-queue.png")
    click(browser, f"{item} button.primary")
    wait(browser, lambda d: text(d, "call-phase") == "通话中")  # the agent first, then the customer answered
    wait(browser, lambda d: _status(live, ids[PREVIEWED])[0] == "done", seconds=30)


def test_a_supervisor_reads_a_survey_campaigns_answers(browser: object, live: LiveService) -> None:
    for number, key in SURVEYED.items():
        # The opening (3 s in the simulator) and its 5 s window, the question (3 s): the key in its window.
        live.sim.add_customer(SimCustomer(number, answer_at_ring=1, after_answer=SimCaller(
            number=number, dtmf=((13.0, key),), hangup_at=25.0)))
    ids = _campaign(live, "满意度回访·浏览器", "survey", "callback_survey", dict.fromkeys(SURVEYED, "王先生"))
    wait(browser, lambda d: all(_status(live, t)[0] == "done" for t in ids.values()), seconds=60)
    assert sorted(_status(live, t)[1] or "" for t in ids.values()) == ["不满意", "基本满意", "满意", "满意"]
    sign_in(browser, live, "boss")
    browser.get(f"{live.url}/callbacks")  # type: ignore[attr-defined]
    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-campaign="满意度回访·浏览器"]')  # type: ignore[attr-defined]
    assert "满意 2" in row.text and "基本满意 1" in row.text and "不满意 1" in row.text
    assert "已回访 4" in row.text
    _screenshot(browser, "callbacks.png")
