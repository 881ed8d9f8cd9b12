"""The wallboard's live figures: the same summaries and figures as the reports, at an injected ``now``."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hand_timeline import HandCall, summaries_of

from callcenter.calls import events as ev
from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.metrics.live import LiveBoard, LiveBoardError, live_figures

SH = ZoneInfo("Asia/Shanghai")
NINE = datetime(2026, 11, 23, 9, 0, tzinfo=SH)


def _morning(tl: Timeline) -> None:
    # Answered at 09:00 in 2 rings, still talking; answered at 10:00 in 3 rings, ended.
    HandCall(tl, "talking", NINE).offered().ivr().at(8, ev.QUEUE_ENTERED).rings(8, "A01", 2).at(
        14, ev.AGENT_ANSWERED, agent="A01", seconds=6.0, wait=6.0
    )
    HandCall(tl, "done", NINE + timedelta(hours=1)).offered().ivr().at(8, ev.QUEUE_ENTERED).rings(8, "A02", 3).at(
        20, ev.AGENT_ANSWERED, agent="A02", seconds=12.0, wait=12.0
    ).at(80, ev.HANGUP, by="caller", disposition="normal")
    # Waiting since 10:29:00 (one phone ringing), and since 10:29:30 in the queue.
    HandCall(tl, "ringing", NINE + timedelta(minutes=88)).offered().ivr().at(60, ev.QUEUE_ENTERED).rings(
        60, "A03", 1
    )
    HandCall(tl, "queued", NINE + timedelta(minutes=89)).offered().ivr().at(30, ev.QUEUE_ENTERED)
    # A silent call, handled by the IVR.
    HandCall(tl, "silent", NINE + timedelta(minutes=5)).offered().ivr().at(30, ev.HANGUP, by="system",
                                                                          disposition="silent")
    tl.flush_sync()


def test_live_figures_from_the_timeline(settings: Settings) -> None:
    tl = Timeline(None)
    _morning(tl)
    now = datetime(2026, 11, 23, 10, 30, tzinfo=SH)
    live = live_figures(tl, now, settings)
    assert (live["calls_waiting"], live["longest_wait_seconds"], live["calls_ringing"]) == (2, 60.0, 1)
    assert live["calls_in_progress"] == 1
    # The two callers still waiting have no outcome yet: they join the answer rate when answered or gone.
    assert (live["calls_offered"], live["answer_rate"], live["service_level"]) == (5, 100.0, 100.0)
    assert live["figures"]["transferred_to_agents"] == 2
    assert live["within_three_rings"] == 100.0
    assert live["silent_call_rate"] == 20.0  # 1 of the 5 answered calls (the IVR answered all five)
    assert live["ring_to_answer_by_hour"] == [
        {"hour": "09:00", "answered": 1, "average_seconds_to_answer": 6.0, "within_three_rings": 100.0},
        {"hour": "10:00", "answered": 1, "average_seconds_to_answer": 12.0, "within_three_rings": 100.0},
    ]
    assert live["day"] == "2026-11-23" and live["now"] == "2026-11-23T10:30:00+08:00"


def test_a_board_fed_event_by_event_gives_the_same_figures(settings: Settings) -> None:
    tl = Timeline(None)
    _morning(tl)
    board = LiveBoard(settings)
    for event in tl.since(0):
        board.feed(event)
    now = datetime(2026, 11, 23, 10, 30, tzinfo=SH)
    assert live_figures(board, now, settings) == live_figures(tl, now, settings)
    assert live_figures(summaries_of(tl), now, settings) == live_figures(tl, now, settings)
    # At the day change yesterday's ended calls are dropped; live calls stay.
    assert board.prune(datetime(2026, 11, 24, tzinfo=SH)) == 2
    assert {s.call_id for s in board.summaries()} == {"talking", "ringing", "queued"}


def test_bad_sources_and_naive_times_are_refused(settings: Settings) -> None:
    with pytest.raises(LiveBoardError, match="needs a Timeline"):
        live_figures(42, datetime(2026, 11, 23, tzinfo=SH), settings)  # type: ignore[arg-type]
    with pytest.raises(LiveBoardError, match="time zone"):
        live_figures([], datetime(2026, 11, 23), settings)


def test_the_board_counts_ended_calls_once_and_recounts_a_late_change(settings: Settings) -> None:
    tl = Timeline(None)
    _morning(tl)
    board = LiveBoard(settings)
    for event in tl.since(0):
        board.feed(event)
    assert set(board.open) == {"talking", "ringing", "queued"}
    # After-call work: a work order opened from the "done" call after its hang-up; "talking" ends.
    HandCall(tl, "done", NINE + timedelta(hours=1)).at(200, ev.WORK_ORDER_CREATED, number="GD7")
    HandCall(tl, "talking", NINE).at(600, ev.HOLD_STARTED).at(630, ev.HOLD_ENDED, seconds=30.0).at(
        700, ev.HANGUP, by="agent", disposition="normal"
    )
    for event in tl.flush_sync():
        board.feed(event)
    now = datetime(2026, 11, 23, 10, 30, tzinfo=SH)
    fresh = live_figures(summaries_of(tl), now, settings)
    assert live_figures(board, now, settings) == fresh
    assert fresh["figures"]["work_orders_opened"] == 1 and fresh["figures"]["agent_released_first"] == 1
    assert set(board.open) == {"ringing", "queued"}
    # The next day: yesterday's ended calls drop out of the figures, the open ones still wait.
    tomorrow = datetime(2026, 11, 24, 9, 0, tzinfo=SH)
    assert live_figures(board, tomorrow, settings)["calls_offered"] == 0
    assert board.prune(datetime(2026, 11, 24, tzinfo=SH)) == 3
    assert board.prune(datetime(2026, 11, 24, tzinfo=SH)) == 0
    assert live_figures(board, tomorrow, settings)["figures"]["calls_offered"] == 0
