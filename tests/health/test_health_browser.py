"""The health page and the wallboard's health alert in a real headless Chromium: the board refreshes by itself
and a red daily self-check is a banner on the wallboard (R-119)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from callcenter.calls.timeline import Timeline
from callcenter.cli.serve import serve_web
from callcenter.config import Settings
from callcenter.health.board import HealthBoard
from callcenter.health.selfcheck import SelfCheck
from callcenter.web.app import create_app
from callcenter.web.context import WebContext
from tests.chromium import chromium

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-1"


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


class WebInThread:
    """The web app alone on 127.0.0.1 (port 0) in a loop thread of its own."""

    def __init__(self, ctx: WebContext) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server, self.task, port = self.call(serve_web(create_app(ctx), "127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{port}"

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        async def stop() -> None:
            self.server.should_exit = True
            await self.task

        self.call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def wait(driver: Any, condition: Callable[[Any], Any], seconds: float = 15.0) -> Any:
    return WebDriverWait(driver, seconds, poll_frequency=0.05).until(condition)


def sign_in(driver: Any, url: str, name: str) -> None:
    driver.get(f"{url}/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    wait(driver, lambda d: "/login" not in d.current_url)


def test_a_red_self_check_is_a_wallboard_banner_and_the_page_refreshes(browser: Any, web_settings: Settings) -> None:
    below = replace(web_settings, recordings=replace(web_settings.recordings, min_free_bytes=1 << 50))
    ctx = WebContext(below, Timeline(below.database.url))
    check = SelfCheck(HealthBoard(below, timeline=ctx.timeline, pool=ctx.agents), below)
    ctx.extras.update(health=check.board, health_self_check=check)
    today = datetime.now(UTC).astimezone(below.service.tz).date()
    assert asyncio.run(check.run_once(today)).status.value == "red"
    web = WebInThread(ctx)
    try:
        sign_in(browser, web.url, "boss")
        browser.get(f"{web.url}/wallboard")
        banner = wait(browser, lambda d: d.find_element(By.ID, "health-alert").is_displayed()
                      and d.find_element(By.ID, "health-alert"))
        assert banner.text.startswith(f"运行检查告警 {today.isoformat()}:")
        assert "录音存储 recordings disk" in banner.text
        browser.get(f"{web.url}/health")
        assert browser.find_element(By.ID, "overall").text == "故障"
        # The disk is fine again (the floor lowered): the page turns green at its next refresh, without a reload.
        ctx.extras["health"] = HealthBoard(replace(below, recordings=replace(below.recordings, min_free_bytes=1)),
                                           timeline=ctx.timeline, pool=ctx.agents)
        wait(browser, lambda d: d.find_element(By.ID, "overall").text == "注意")  # no agent seats here: amber
        row = browser.find_element(By.CSS_SELECTOR, '#components tr[data-name="录音存储 recordings disk"]')
        assert row.get_attribute("data-status") == "green"
        register = browser.find_elements(By.CSS_SELECTOR, "#register tr")
        assert len(register) == 1 and register[0].get_attribute("data-status") == "red"
    finally:
        web.close()
