"""R-130's schedule on an injected clock: each report once, after its period, named and filed as R-130 says."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hand_timeline import HandCall

from callcenter.calls import events as ev
from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.metrics.schedule import (
    ReportPeriod,
    latest_periods,
    next_check,
    produce_due_reports,
    run_report_scheduler,
)

SH = ZoneInfo("Asia/Shanghai")


def _names(paths: list[Path], root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in paths)


def test_the_latest_periods_of_each_kind() -> None:
    daily, monthly, quarterly = latest_periods(date(2026, 1, 1))
    assert (daily.first_day, daily.last_day) == (date(2025, 12, 31), date(2025, 12, 31))
    assert (monthly.first_day, monthly.last_day) == (date(2025, 12, 1), date(2025, 12, 31))
    assert (quarterly.first_day, quarterly.last_day) == (date(2025, 10, 1), date(2025, 12, 31))
    assert latest_periods(date(2026, 5, 15))[2] == ReportPeriod("quarterly", date(2026, 1, 1), date(2026, 3, 31))


def test_names_and_deadlines_follow_r130() -> None:
    day = ReportPeriod("daily", date(2026, 11, 22), date(2026, 11, 22))
    month = ReportPeriod("monthly", date(2026, 11, 1), date(2026, 11, 30))
    quarter = ReportPeriod("quarterly", date(2026, 7, 1), date(2026, 9, 30))
    assert day.name == "20261122话务日报"
    assert (month.name, quarter.name) == ("20261101-1130话务月报", "20260701-0930话务季报")
    assert day.deadline(SH) == datetime(2026, 11, 23, 9, 0, tzinfo=SH)
    assert month.deadline(SH) == datetime(2026, 12, 10, tzinfo=SH)
    assert quarter.deadline(SH) == datetime(2026, 10, 10, tzinfo=SH)
    assert day.path(Path("/r"), "html") == Path("/r/daily/2026/20261122话务日报.html")


def test_each_report_is_written_once_after_its_period_ends(settings: Settings) -> None:
    root = settings.metrics.reports_directory
    tl = Timeline(None)
    HandCall(tl, "c1", datetime(2026, 11, 30, 10, 0, tzinfo=SH)).offered().ivr().at(5, ev.HANGUP, by="caller")
    tl.flush_sync()
    # 00:20 on 1 December: November and its last day wait for the 30-minute delay (calls that crossed
    # midnight end first); the third quarter's report, never written, is caught up at once (and logged late).
    written = produce_due_reports(settings, tl, datetime(2026, 12, 1, 0, 20, tzinfo=SH), ticket_sources=None)
    assert _names(written, root) == [
        "quarterly/2026/20260701-0930话务季报.csv", "quarterly/2026/20260701-0930话务季报.html",
        "quarterly/2026/20260701-0930话务季报.json",
    ]
    written = produce_due_reports(settings, tl, datetime(2026, 12, 1, 0, 31, tzinfo=SH), ticket_sources=None)
    assert _names(written, root) == [
        "daily/2026/20261130话务日报.csv", "daily/2026/20261130话务日报.html", "daily/2026/20261130话务日报.json",
        "monthly/2026/20261101-1130话务月报.csv", "monthly/2026/20261101-1130话务月报.html",
        "monthly/2026/20261101-1130话务月报.json",
    ]
    daily = json.loads((root / "daily/2026/20261130话务日报.json").read_text(encoding="utf-8"))
    assert (daily["kind"], daily["total"]["calls_offered"], daily["total"]["abandoned_in_ivr"]) == ("daily", 1, 1)
    # Later checks the same day, and a restarted scheduler, produce nothing twice.
    assert produce_due_reports(settings, tl, datetime(2026, 12, 1, 8, 0, tzinfo=SH), ticket_sources=None) == []
    written = produce_due_reports(settings, tl, datetime(2026, 12, 2, 0, 45, tzinfo=SH), ticket_sources=None)
    assert _names(written, root) == ["daily/2026/20261201话务日报.csv", "daily/2026/20261201话务日报.html",
                                     "daily/2026/20261201话务日报.json"]


def test_a_report_another_process_is_writing_is_left_to_it(settings: Settings) -> None:
    period = ReportPeriod("daily", date(2026, 11, 22), date(2026, 11, 22))
    lock = period.path(settings.metrics.reports_directory, "lock")
    lock.parent.mkdir(parents=True)
    lock.touch()
    written = produce_due_reports(settings, Timeline(None), datetime(2026, 11, 23, 1, 0, tzinfo=SH),
                                  ticket_sources=None)
    assert not any("daily" in str(p) for p in written)
    assert lock.exists()


def test_the_scheduler_sleeps_until_the_next_period_end() -> None:
    from callcenter.config import load_settings

    settings = load_settings(environ={})
    assert next_check(datetime(2026, 11, 23, 0, 10, tzinfo=SH), settings, 3600) == 20 * 60
    assert next_check(datetime(2026, 11, 23, 23, 50, tzinfo=SH), settings, 3600) == 40 * 60
    assert next_check(datetime(2026, 11, 23, 12, 0, tzinfo=SH), settings, 300) == 300


async def test_the_scheduler_task_runs_on_an_injected_clock(settings: Settings) -> None:
    clock = [datetime(2026, 11, 22, 23, 0, tzinfo=SH)]
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += timedelta(seconds=seconds)
        if len(sleeps) == 6:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await run_report_scheduler(settings, Timeline(None), lambda: clock[0], sleep=fake_sleep,
                                   ticket_sources=None, check_every=3600)
    folder = settings.metrics.reports_directory / "daily" / "2026"
    # The 21st was missing at start-up and is caught up at once; the 22nd is written when due, once.
    assert sorted(p.name for p in folder.iterdir()) == [
        "20261121话务日报.csv", "20261121话务日报.html", "20261121话务日报.json",
        "20261122话务日报.csv", "20261122话务日报.html", "20261122话务日报.json",
    ]
    day22 = json.loads((folder / "20261122话务日报.json").read_text(encoding="utf-8"))
    assert day22["generated_at"] == "2026-11-23T00:30:00+08:00"
    assert sleeps[:2] == [3600, 1800]  # 23:00 → 00:00 → 00:30, when the day's report is due
