"""When a callback may be dialled: calling hours, the campaign's window and the growing retry interval.

Pure functions, no I/O: the clock is an argument and the calendar is anything with ``is_working_day(date)``
(the work-order calendar, callcenter/tickets/calendar.py). Defaults (R-103 「时间…的预约要充分考虑客户的时间安排,
不打扰客户」): 09:00-12:00 and 14:00-20:00 on working days in the centre's time zone; after an unreached
attempt (R-96 「再安排时间回访」) 30 minutes, then 2 hours, then the next working day.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from itertools import pairwise
from typing import Protocol

from callcenter.callbacks.errors import CallbackError
from callcenter.callbacks.results import FINAL_UNREACHED, OUR_FAULT, REACHED, AttemptResult

DEFAULT_HOURS = "09:00-12:00,14:00-20:00"
DEFAULT_RETRY = "30m,2h,next"
NEXT_WORKING_DAY = None  # an interval that means "the first calling hour of the next allowed day"
Interval = timedelta | None
# Looking further ahead than this for a calling hour means the campaign's hours can never be met.
HORIZON_DAYS = 400

_WINDOW = re.compile(r"^([0-2][0-9]):([0-5][0-9])-([0-2][0-9]):([0-5][0-9])$")
_INTERVAL = re.compile(r"^([1-9][0-9]{0,3})(m|h)$")


class Calendar(Protocol):
    def is_working_day(self, day: date) -> bool: ...


@dataclass(frozen=True)
class CallingHours:
    """A campaign's calling hours: local windows, on working days only (unless ``rest_days``), in its window."""

    windows: tuple[tuple[time, time], ...]
    tz: tzinfo
    rest_days: bool = False
    first_day: date | None = None
    last_day: date | None = None

    def allows_day(self, day: date, calendar: Calendar) -> bool:
        if self.first_day is not None and day < self.first_day:
            return False
        if self.last_day is not None and day > self.last_day:
            return False
        return self.rest_days or calendar.is_working_day(day)

    def contains(self, at: datetime, calendar: Calendar) -> bool:
        local = at.astimezone(self.tz)
        if not self.allows_day(local.date(), calendar):
            return False
        clock = local.time().replace(tzinfo=None)
        return any(start <= clock < end for start, end in self.windows)


def parse_hours(text: str) -> tuple[tuple[time, time], ...]:
    """``"09:00-12:00,14:00-20:00"`` → the windows, sorted; refuses overlaps, empty and backwards windows."""
    windows = []
    for part in (p.strip() for p in text.split(",")):
        m = _WINDOW.match(part)
        if not m:
            raise CallbackError(f"calling hours {text!r}: expected windows like 09:00-12:00,14:00-20:00")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or h2 > 24 or (h2 == 24 and m2) or (h1, m1) >= (h2, m2):
            raise CallbackError(f"calling hours {part!r}: the start must come before the end, within one day")
        end = time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2)
        windows.append((time(h1, m1), end))
    windows.sort()
    for (_, end), (start, _) in pairwise(windows):
        if start < end:
            raise CallbackError(f"calling hours {text!r}: windows overlap")
    return tuple(windows)


def parse_retry(text: str) -> tuple[Interval, ...]:
    """``"30m,2h,next"`` → the waits after the 1st, 2nd, 3rd… unreached attempt (the last repeats)."""
    intervals: list[Interval] = []
    for part in (p.strip() for p in text.split(",")):
        if part == "next":
            intervals.append(NEXT_WORKING_DAY)
            continue
        m = _INTERVAL.match(part)
        if not m:
            raise CallbackError(f"retry intervals {text!r}: expected e.g. 30m,2h,next (minutes, hours, next day)")
        amount = int(m.group(1))
        intervals.append(timedelta(minutes=amount) if m.group(2) == "m" else timedelta(hours=amount))
    return tuple(intervals)


def next_dial_time(campaign_hours: CallingHours, calendar: Calendar, after: datetime) -> datetime | None:
    """The first instant at or after ``after`` inside the calling hours; None when none is left in the window."""
    if after.tzinfo is None:
        raise CallbackError(f"naive datetime {after.isoformat()}: give a time zone")
    local = after.astimezone(campaign_hours.tz)
    day = local.date()
    for offset in range(HORIZON_DAYS):
        current = day + timedelta(days=offset)
        if campaign_hours.last_day is not None and current > campaign_hours.last_day:
            return None
        if not campaign_hours.allows_day(current, calendar):
            continue
        for start, end in campaign_hours.windows:
            opens = datetime.combine(current, start, tzinfo=campaign_hours.tz)
            closes = datetime.combine(current, end, tzinfo=campaign_hours.tz)
            if after < closes:
                return max(after, opens)
    return None


def first_hour_of_next_day(campaign_hours: CallingHours, calendar: Calendar, after: datetime) -> datetime | None:
    local = after.astimezone(campaign_hours.tz)
    tomorrow = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=campaign_hours.tz)
    return next_dial_time(campaign_hours, calendar, tomorrow)


def retry_after(
    attempt_number: int,
    result: AttemptResult,
    *,
    at: datetime,
    hours: CallingHours,
    calendar: Calendar,
    intervals: Sequence[Interval] = parse_retry(DEFAULT_RETRY),
    max_attempts: int = 3,
) -> datetime | None:
    """When to dial again after the ``attempt_number``-th attempt (1 = the first) ended ``at`` with ``result``.

    None: not dialled again — reached, a final result (hang-up on the opening), the attempts used up, or no
    calling hours left in the campaign's window.
    """
    if attempt_number < 1:
        raise CallbackError(f"attempt number {attempt_number}: counts from 1")
    if result in REACHED or result in FINAL_UNREACHED or attempt_number >= max_attempts:
        return None
    if not intervals:
        raise CallbackError("retry intervals: at least one is needed")
    index = 0 if result in OUR_FAULT else min(attempt_number - 1, len(intervals) - 1)
    wait = intervals[index]
    if wait is NEXT_WORKING_DAY:
        return first_hour_of_next_day(hours, calendar, at)
    return next_dial_time(hours, calendar, at + wait)
