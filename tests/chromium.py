"""Debian's headless Chromium for the browser tests, one way for every suite that drives a page."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@contextmanager
def chromium(flags: tuple[str, ...] = ()) -> Iterator[Any]:
    """A headless Chromium with a profile of its own, and ``flags`` beside the usual ones (the softphone tests'
    fake microphone). Without Debian's chromium and chromium-driver: a failure under CI=true (./run test
    installs them), otherwise the test is not run, with that reason."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but Debian's chromium and chromium-driver are not installed")
        pytest.skip("Debian's chromium and chromium-driver are not installed (./run test installs them)")
    profile = tempfile.mkdtemp(prefix="cc-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1440,1000",
                 "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={profile}", *flags):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
