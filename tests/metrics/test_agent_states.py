"""Time in each state per agent and day (issue 15), folded from the seats' agent.state events."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from callcenter.calls import events as ev
from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.metrics.agent_states import agent_states_section, state_events, time_in_states
from callcenter.metrics.report import build_report, render
from callcenter.metrics.windows import Window

SH = ZoneInfo("Asia/Shanghai")
DAY = Window(datetime(2026, 12, 7, tzinfo=SH), datetime(2026, 12, 8, tzinfo=SH))


def _state(tl: Timeline, at: datetime, agent: str, state: str, reason: str | None = None, by: str = "agent") -> None:
    tl.expect_new(f"seats@{agent}")
    tl.append(f"seats@{agent}", ev.AGENT_STATE, {"agent": agent, "state": state, "reason": reason, "by": by,
                                                 "from": ""}, at=at)


def _day(tl: Timeline, month: int = 12) -> Timeline:
    t = lambda h, m=0, d=7: datetime(2026, month, d, h, m, tzinfo=SH)  # noqa: E731
    _state(tl, t(8, 30, d=6), "8001", "not_ready", "training")  # the evening before: the state at midnight
    _state(tl, t(9), "8001", "ready")
    _state(tl, t(10), "8001", "ringing", by="router")
    _state(tl, t(10, 0) + timedelta(seconds=12), "8001", "on_call", by="router")
    _state(tl, t(10, 5) + timedelta(seconds=12), "8001", "after_call", by="router")
    _state(tl, t(10, 7) + timedelta(seconds=12), "8001", "ready", by="wrap_up_max")
    _state(tl, t(11, 50), "8001", "not_ready", "meal")
    _state(tl, t(12, 20), "8001", "ready")
    _state(tl, t(23, 58), "8001", "not_ready", "break")
    _state(tl, t(0, 3, d=8), "8001", "ready")
    tl.flush_sync()
    return tl


def test_seconds_per_state_and_reason_cut_at_midnight() -> None:
    tl = _day(Timeline(None))
    rows = time_in_states(state_events(tl, DAY), DAY, SH)
    (row,) = rows
    assert (row["agent"], row["day"]) == ("8001", "2026-12-07")
    s = row["seconds"]
    assert s["not_ready:training"] == 9 * 3600  # from midnight (the evening's state) to 09:00
    assert s["ringing"] == 12 and s["on_call"] == 300 and s["after_call"] == 120
    assert s["not_ready:meal"] == 30 * 60
    assert s["not_ready:break"] == 2 * 60  # 23:58 to midnight; the 3 minutes after count on the 8th
    assert row["total"] == 24 * 3600
    assert list(s)[:3] == ["ready", "ringing", "on_call"]  # the report's column order


def test_a_state_still_running_counts_up_to_now() -> None:
    tl = _day(Timeline(None))
    now = datetime(2026, 12, 7, 12, 0, tzinfo=SH)
    (row,) = time_in_states(state_events(tl, DAY), DAY, SH, now=now)
    assert row["seconds"]["not_ready:meal"] == 10 * 60 and row["total"] == 12 * 3600


def test_the_report_has_the_section_and_a_csv(settings: Settings, db_url: str) -> None:
    from dataclasses import replace

    settings = replace(settings, database=replace(settings.database, url=db_url))
    tl = _day(Timeline(db_url))
    report = build_report(settings, tl, DAY, ticket_sources=None, generated_at=datetime(2026, 12, 9, tzinfo=SH))
    section = report["agent_states"]
    assert section == agent_states_section(tl, DAY, SH)
    assert section["labels"]["not_ready:meal"] == "未就绪·用餐" and section["labels"]["after_call"] == "话后处理"
    lines = list(csv.reader(io.StringIO(render(report, "csv"))))
    assert lines[0] == ["agent", "day", "state", "reason", "label", "seconds"]
    assert ["8001", "2026-12-07", "not_ready", "meal", "未就绪·用餐", "1800.0"] in lines
    html = render(report, "html")
    assert "坐席状态时长" in html and "未就绪·用餐" in html
    assert "未就绪·用餐 1,800" in render(report, "table")


def test_the_report_command_prints_the_csv(sqlite_url: str, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import structlog

    from callcenter.cli import main

    monkeypatch.setenv("CALLCENTER_DATABASE__URL", sqlite_url)
    monkeypatch.setenv("CALLCENTER_SERVICE__LOG_LEVEL", "warning")
    _day(Timeline(sqlite_url), month=11)  # a past day: the command counts up to now
    try:
        assert main(["report", "--from", "2026-11-07", "--to", "2026-11-08", "--format", "csv"]) == 0
    finally:
        structlog.reset_defaults()
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["agent", "day", "state", "reason", "label", "seconds"]
    assert ["8001", "2026-11-07", "after_call", "", "话后处理", "120.0"] in rows
