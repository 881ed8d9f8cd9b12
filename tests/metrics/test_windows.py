"""Windows: a call counts once, in the window it was offered in, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hand_timeline import CN, HandCall

from callcenter.calls import events as ev
from callcenter.calls.timeline import Timeline
from callcenter.metrics.load import TimelineReadError, load_summaries
from callcenter.metrics.windows import Selection, Window, WindowError, breakdown, day_window
from callcenter.tickets.calendar import WorkingCalendar

SH = ZoneInfo("Asia/Shanghai")


def _answered(tl: Timeline, call_id: str, start: datetime, agent: str = "A01", group: str = "default") -> None:
    HandCall(tl, call_id, start).offered(group).ivr().at(8, ev.QUEUE_ENTERED, group=group).rings(8, agent, 1).at(
        12, ev.AGENT_ANSWERED, agent=agent, group=group, seconds=4.0, wait=4.0
    ).at(100, ev.HANGUP, by="caller", disposition="normal")


def test_a_call_across_midnight_counts_on_the_day_it_was_offered(db_url: str) -> None:
    tl = Timeline(db_url)
    # Offered 23:59:50 on 22 November (Shanghai); answered at 00:00:05 and ended at 00:05 on the 23rd.
    start = datetime(2026, 11, 22, 23, 59, 50, tzinfo=SH)
    HandCall(tl, "midnight", start).offered().ivr().at(8, ev.QUEUE_ENTERED).rings(8, "A01", 2).at(
        15, ev.AGENT_ANSWERED, agent="A01", group="default", seconds=7.0, wait=7.0
    ).at(310, ev.HANGUP, by="caller", disposition="normal")
    _answered(tl, "next-morning", datetime(2026, 11, 23, 9, 0, tzinfo=SH))
    tl.flush_sync()
    day22, day23 = day_window(date(2026, 11, 22), SH), day_window(date(2026, 11, 23), SH)
    (s,) = load_summaries(tl, day22, CN)
    assert s.call_id == "midnight" and s.answered_at is not None and s.ended  # read whole, past midnight
    b22 = breakdown([s], day22, SH, 20, 80)
    assert b22.total.figures()["answered_by_agents"] == 1
    assert [h.isoformat() for h in b22.hours] == ["2026-11-22T23:00:00+08:00"]
    assert list(b22.days) == [date(2026, 11, 22)]
    later = load_summaries(tl, day23, CN)
    assert [x.call_id for x in later] == ["next-morning"]
    assert breakdown(later, day23, SH, 20, 80).total.figures()["calls_offered"] == 1


def test_the_memory_timeline_reads_calls_whole_too() -> None:
    tl = Timeline(None)
    start = datetime(2026, 11, 22, 23, 59, 50, tzinfo=SH)
    HandCall(tl, "midnight", start).offered().at(30, ev.HANGUP, by="caller")
    _answered(tl, "before", datetime(2026, 11, 22, 10, 0, tzinfo=SH) - timedelta(days=1))
    tl.flush_sync()
    (s,) = load_summaries(tl, day_window(date(2026, 11, 22), SH), CN)
    assert s.call_id == "midnight" and s.ended_at == start + timedelta(seconds=30)


def test_cuts_per_hour_day_group_and_agent_in_one_pass() -> None:
    tl = Timeline(None)
    _answered(tl, "a", datetime(2026, 11, 20, 9, 10, tzinfo=SH), "A01", "default")
    _answered(tl, "b", datetime(2026, 11, 20, 9, 50, tzinfo=SH), "B01", "billing")
    _answered(tl, "c", datetime(2026, 11, 20, 14, 5, tzinfo=SH), "A01", "default")
    _answered(tl, "d", datetime(2026, 11, 21, 8, 0, tzinfo=SH), "A01", "default")
    tl.flush_sync()
    window = Window(datetime(2026, 11, 20, tzinfo=SH), datetime(2026, 11, 22, tzinfo=SH))
    summaries = load_summaries(tl, window, CN)
    b = breakdown(summaries, window, SH, 20, 80)
    assert {h.strftime("%d %H"): t.offered for h, t in b.hours.items()} == {"20 09": 2, "20 14": 1, "21 08": 1}
    assert {d.day: t.offered for d, t in b.days.items()} == {20: 3, 21: 1}
    assert {g: t.offered for g, t in b.groups.items()} == {"default": 3, "billing": 1}
    assert {a: t.answered for a, t in b.agents.items()} == {"A01": 3, "B01": 1}
    assert b.total.offered == 4
    only_billing = breakdown(summaries, window, SH, 20, 80, Selection(group="billing")).total.figures()
    assert (only_billing["calls_offered"], only_billing["answered_by_agents"]) == (1, 1)
    only_a01 = breakdown(summaries, window, SH, 20, 80, Selection(agent="A01"))
    assert only_a01.total.offered == 3 and list(only_a01.agents) == ["A01"]


def test_working_days_follow_the_work_order_calendar() -> None:
    tl = Timeline(None)
    _answered(tl, "national-day", datetime(2026, 10, 1, 10, 0, tzinfo=SH))  # Thursday, statutory holiday
    _answered(tl, "make-up-saturday", datetime(2026, 10, 10, 10, 0, tzinfo=SH))  # 调休 working Saturday
    _answered(tl, "sunday", datetime(2026, 10, 11, 10, 0, tzinfo=SH))
    tl.flush_sync()
    window = Window(datetime(2026, 10, 1, tzinfo=SH), datetime(2026, 10, 12, tzinfo=SH))
    summaries = load_summaries(tl, window, CN)
    calendar = WorkingCalendar()
    b = breakdown(summaries, window, SH, 20, 80, Selection(working_days_only=True), calendar.is_working_day)
    assert b.total.offered == 1 and list(b.days) == [date(2026, 10, 10)]
    site = WorkingCalendar(extra_workdays=frozenset({date(2026, 10, 11)}))
    b = breakdown(summaries, window, SH, 20, 80, Selection(working_days_only=True), site.is_working_day)
    assert sorted(b.days) == [date(2026, 10, 10), date(2026, 10, 11)]


def test_bad_windows_are_refused_with_the_times_named() -> None:
    with pytest.raises(WindowError, match=r"ends .* before it starts"):
        Window(datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    with pytest.raises(WindowError, match="need a UTC offset"):
        Window(datetime(2026, 11, 1), datetime(2026, 11, 2))


def test_an_unmigrated_database_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    tl = Timeline(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    with pytest.raises(TimelineReadError, match="callcenter db upgrade"):
        load_summaries(tl, day_window(date(2026, 11, 22), SH), CN)


def test_working_hours_keep_calls_in_those_hours_of_working_days() -> None:
    tl = Timeline(None)
    _answered(tl, "early", datetime(2026, 10, 9, 7, 59, tzinfo=SH))  # Friday, before hours
    _answered(tl, "morning", datetime(2026, 10, 9, 8, 0, tzinfo=SH))
    _answered(tl, "closing", datetime(2026, 10, 9, 18, 0, tzinfo=SH))  # the end is excluded
    _answered(tl, "holiday", datetime(2026, 10, 1, 9, 0, tzinfo=SH))
    tl.flush_sync()
    window = Window(datetime(2026, 10, 1, tzinfo=SH), datetime(2026, 10, 12, tzinfo=SH))
    hours = Selection(working_days_only=True, working_hours=(time(8), time(18)))
    b = breakdown(load_summaries(tl, window, CN), window, SH, 20, 80, hours, WorkingCalendar().is_working_day)
    assert b.total.offered == 1
    with pytest.raises(WindowError, match="working hours 18:00-08:00"):
        Selection(working_hours=(time(18), time(8)))
