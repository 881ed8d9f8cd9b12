"""A PNG of an HTML report, taken with headless Chromium (for the docs and for checking a report by eye)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from callcenter.metrics.report import ReportError

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def screenshot_html(html: Path, png: Path, *, width: int = 1280, height: int = 2000, timeout: float = 60.0) -> Path:
    """Render ``html`` in headless Chromium at ``width`` × ``height`` and save it as ``png``."""
    browser = next((found for name in BROWSERS if (found := shutil.which(name))), None)
    if browser is None:
        raise ReportError(f"no headless browser found (tried {', '.join(BROWSERS)}); install chromium")
    if not html.is_file():
        raise ReportError(f"no HTML report at {html}")
    png.parent.mkdir(parents=True, exist_ok=True)
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        f"--screenshot={png.resolve()}", f"--window-size={width},{height}", html.resolve().as_uri(),
    ]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise ReportError(f"chromium could not render {html}: {exc}") from None
    if not png.is_file():
        raise ReportError(f"chromium wrote no screenshot to {png}")
    return png
