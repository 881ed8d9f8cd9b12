"""The callback schedule on a virtual clock (pure functions): calling hours, rest days, holidays, retries."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcenter.callbacks.errors import CallbackError
from callcenter.callbacks.results import REACHED, RETRIED, AttemptResult
from callcenter.callbacks.schedule import (
    DEFAULT_HOURS,
    CallingHours,
    next_dial_time,
    parse_hours,
    parse_retry,
    retry_after,
)
from callcenter.tickets.calendar import WorkingCalendar

TZ = ZoneInfo("Asia/Shanghai")
CAL = WorkingCalendar()
HOURS = CallingHours(parse_hours(DEFAULT_HOURS), TZ)


def local(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (local(2026, 12, 4, 11, 50), local(2026, 12, 4, 11, 50)),  # Friday morning: now
        (local(2026, 12, 4, 8, 0), local(2026, 12, 4, 9, 0)),  # before hours
        (local(2026, 12, 4, 12, 30), local(2026, 12, 4, 14, 0)),  # lunch break
        (local(2026, 12, 4, 20, 0), local(2026, 12, 7, 9, 0)),  # Friday evening: Monday (rest days skipped)
        (local(2026, 12, 5, 10, 0), local(2026, 12, 7, 9, 0)),  # Saturday
        (local(2026, 9, 30, 20, 30), local(2026, 10, 8, 9, 0)),  # National Day week: the first working day after
        (local(2026, 10, 10, 9, 30), local(2026, 10, 10, 9, 30)),  # a make-up working Saturday (调休) is called
    ],
)
def test_next_dial_time_stays_in_calling_hours_on_working_days(after: datetime, expected: datetime) -> None:
    assert next_dial_time(HOURS, CAL, after) == expected


def test_rest_days_allowed_and_the_window_ends() -> None:
    weekend = CallingHours(parse_hours(DEFAULT_HOURS), TZ, rest_days=True)
    assert next_dial_time(weekend, CAL, local(2026, 12, 4, 20, 0)) == local(2026, 12, 5, 9, 0)
    short = CallingHours(parse_hours(DEFAULT_HOURS), TZ, first_day=date(2026, 12, 8), last_day=date(2026, 12, 8))
    assert next_dial_time(short, CAL, local(2026, 12, 4, 10, 0)) == local(2026, 12, 8, 9, 0)
    assert next_dial_time(short, CAL, local(2026, 12, 8, 20, 0)) is None  # no calling hours left


def test_retry_interval_grows_across_a_rest_day_and_outside_hours() -> None:
    kw = {"hours": HOURS, "calendar": CAL}
    # 1st attempt Friday 19:45 no answer: +30 min is 20:15, outside hours → Monday 09:00.
    first = retry_after(1, AttemptResult.NO_ANSWER, at=local(2026, 12, 4, 19, 45), **kw)
    assert first == local(2026, 12, 7, 9, 0)
    # 2nd attempt Monday 09:01 busy: +2 h.
    second = retry_after(2, AttemptResult.BUSY, at=local(2026, 12, 7, 9, 1), **kw)
    assert second == local(2026, 12, 7, 11, 1)
    # +2 h from 11:01 would be 13:01, in the lunch break → 14:00.
    assert retry_after(2, AttemptResult.NO_AGENT, at=local(2026, 12, 7, 11, 1), **kw) == local(2026, 12, 7, 14, 0)
    # 3rd of 3: the attempts are used up.
    assert retry_after(3, AttemptResult.NO_ANSWER, at=local(2026, 12, 7, 14, 0), **kw) is None
    # With five attempts the third wait is the next working day (Friday → Monday).
    third = retry_after(3, AttemptResult.NO_ANSWER, at=local(2026, 12, 4, 10, 0), max_attempts=5, **kw)
    assert third == local(2026, 12, 7, 9, 0)


def test_results_that_are_not_retried_and_our_own_failures() -> None:
    kw = {"hours": HOURS, "calendar": CAL, "at": local(2026, 12, 7, 10, 0)}
    for result in REACHED:
        assert retry_after(1, result, **kw) is None
    assert retry_after(1, AttemptResult.HANGUP_OPENING, **kw) is None
    # Congestion or a failed originate is our side: the first interval again, whatever the attempt.
    assert retry_after(2, AttemptResult.CONGESTION, **kw) == local(2026, 12, 7, 10, 30)
    assert retry_after(2, AttemptResult.FAILED, **kw) == local(2026, 12, 7, 10, 30)
    assert set(RETRIED) | set(REACHED) | {AttemptResult.HANGUP_OPENING} == set(AttemptResult)


@pytest.mark.parametrize("text", ["9-12", "12:00-09:00", "09:00-12:00,11:00-13:00", "25:00-26:00", ""])
def test_bad_hours_are_refused(text: str) -> None:
    with pytest.raises(CallbackError):
        parse_hours(text)


def test_hours_and_retries_parse() -> None:
    assert parse_hours("14:00-20:00,09:00-12:00") == ((time(9), time(12)), (time(14), time(20)))
    assert parse_retry("30m,2h,next") == (timedelta(minutes=30), timedelta(hours=2), None)
    for bad in ("30", "0m", "2d", "next,"):
        with pytest.raises(CallbackError):
            parse_retry(bad)


def test_naive_times_are_refused() -> None:
    with pytest.raises(CallbackError):
        next_dial_time(HOURS, CAL, datetime(2026, 12, 4, 10, 0))
