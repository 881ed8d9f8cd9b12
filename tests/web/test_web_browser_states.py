"""Issue 15 in Chromium: the agent picks a not-ready reason on the panel; the badge and the seat say it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browsing import browser, click, sign_in, text, wait
from live_service import LiveService
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from callcenter.calls.agents import AgentState

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the Chromium fixture of browsing.py, one per module


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, accounts_db: Path) -> Iterator[LiveService]:
    service = LiveService(tmp_path_factory.mktemp("live-states"), accounts_db)
    yield service
    service.close()


def test_the_agent_goes_not_ready_for_a_meal_and_ready_again(browser: object, live: LiveService) -> None:
    sign_in(browser, live, "agent1")
    live.ready()
    wait(browser, lambda d: text(d, "agent-state") == "就绪")
    Select(browser.find_element(By.ID, "not-ready-reason")).select_by_visible_text("用餐")
    click(browser, '#state-buttons button[data-state="not_ready"]')
    wait(browser, lambda d: text(d, "agent-state") == "未就绪·用餐")
    seat = live.service.pool.get("agent1")
    assert (seat.state, seat.reason) == (AgentState.NOT_READY, "meal")
    click(browser, '#state-buttons button[data-state="ready"]')
    wait(browser, lambda d: text(d, "agent-state") == "就绪")
