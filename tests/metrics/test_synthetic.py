"""The synthetic day behind the benchmark and the docs screenshot, and the screenshot helper's errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callcenter.calls.rings import cadence
from callcenter.config import ConfigError, Settings, load_settings
from callcenter.metrics.figures import figures
from callcenter.metrics.report import ReportError
from callcenter.metrics.screenshot import screenshot_html
from callcenter.metrics.summary import summarise
from callcenter.metrics.synthetic import synthetic_events, synthetic_report_html

CN = cadence("cn")
SH = ZoneInfo("Asia/Shanghai")


def test_a_synthetic_day_is_reproducible_and_has_every_kind_of_call() -> None:
    events = synthetic_events(date(2026, 11, 20), 400, SH, CN, seed=7)
    assert events == synthetic_events(date(2026, 11, 20), 400, SH, CN, seed=7)
    f = figures(summarise(events, CN), 20, 80)
    assert f["calls_offered"] == 400
    for key in ("overflows", "abandoned_in_ivr", "abandoned_in_queue", "abandoned_while_ringing", "silent_calls",
                "holds", "agent_released_first"):
        assert f[key] > 0, key
    assert 0 < f["within_three_rings"] < 100


def test_the_synthetic_report_renders_to_one_file(settings: Settings, tmp_path: Path) -> None:
    path = synthetic_report_html(settings, date(2026, 11, 20), 200, tmp_path / "day.html")
    html = path.read_text(encoding="utf-8")
    assert "20261120话务日报 (synthetic day)" in html and html.count("<svg") == 6


def test_the_screenshot_helper_refuses_a_missing_report(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no HTML report at"):
        screenshot_html(tmp_path / "missing.html", tmp_path / "out.png")


def test_the_report_delay_must_leave_the_daily_report_out_by_nine() -> None:
    with pytest.raises(ConfigError, match=r"metrics\.report_delay_minutes"):
        load_settings(environ={"CALLCENTER_METRICS__REPORT_DELAY_MINUTES": "600"})
    assert load_settings(environ={"CALLCENTER_METRICS__REPORT_DELAY_MINUTES": "0"}).metrics.report_delay_minutes == 0
