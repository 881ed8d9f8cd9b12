"""What the Chromium page tests share: the module's browser, waiting on a live page, clicking, signing in."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from live_service import LiveService
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.chromium import chromium

PASSWORD = "correct-horse-1"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as driver:
        yield driver


def wait(driver: object, condition: Callable[[object], object], seconds: float = 15.0) -> object:
    # The pages re-render on every event: an element found a moment ago may have been replaced.
    return WebDriverWait(driver, seconds, poll_frequency=0.05,
                         ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def click(driver: object, selector: str, seconds: float = 15.0) -> None:
    """Click the element the selector names now (re-found on each try), once it is shown and enabled."""

    def press(d: object) -> bool:
        element = d.find_element(By.CSS_SELECTOR, selector)
        if not (element.is_displayed() and element.is_enabled()):
            return False
        element.click()
        return True

    wait(driver, press, seconds)


def sign_in(driver: object, live: LiveService, name: str, seconds: float = 15.0) -> None:
    driver.delete_all_cookies()
    driver.get(f"{live.url}/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    wait(driver, lambda d: "/login" not in d.current_url, seconds)


def text(driver: object, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text
