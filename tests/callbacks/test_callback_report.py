"""The daily report carries the callback figures (R-125, R-126) from the same database, in every format."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from callcenter.callbacks.outcomes import record_attempt
from callcenter.callbacks.queue import claim
from callcenter.callbacks.sources import note_missed_call
from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.metrics.report import build_report, render
from callcenter.metrics.windows import day_window

pytestmark = pytest.mark.postgres


def test_the_daily_report_shows_callback_figures(session: Session, cb_settings: Settings) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    now = date(2026, 12, 7)
    at = datetime(2026, 12, 7, 10, 0, tzinfo=tz)
    for i, result in enumerate(("reached", "busy")):
        view = note_missed_call(session, cb_settings, caller=f"1380013800{i}", at=at, where="queue", call_id=f"c{i}")
        assert view is not None
        claim(session, settings=cb_settings, now=at, holder="d", lease_seconds=60, mode="preview", task_id=view.id)
        record_attempt(session, cb_settings, view.id, result=result, at=at + timedelta(minutes=1), call_id="x",
                       holder="d")
    session.commit()
    report = build_report(cb_settings, Timeline(cb_settings.database.url), day_window(now, tz))
    cb = report["callbacks"]
    assert cb["available"] and cb["attempts"] == 2 and cb["attempts_reached"] == 1
    assert cb["kinds"] == [{"kind": "missed", "owed": 2, "done": 1, "satisfied": 0, "unreached": 0, "skipped": 0,
                            "pending": 1, "cancelled": 0, "completion": 50.0, "satisfaction_rate": 0.0}]
    table = render(report, "table")
    assert "Callbacks dialled" in table and "attempts 2  reached 1" in table
    assert "回访 Callbacks dialled" in render(report, "html")
    assert json.loads(render(report, "json"))["callbacks"]["results"] == {"busy": 1, "reached": 1}


def test_without_the_database_the_section_says_why(settings: Settings) -> None:
    report = build_report(settings, Timeline(None), day_window(date(2026, 12, 7), settings.service.tz),
                          ticket_sources=None)
    assert report["callbacks"]["available"] is False
    assert "Callbacks: not available" in render(report, "html")
    assert "not available: left out of this report" in render(report, "table")
