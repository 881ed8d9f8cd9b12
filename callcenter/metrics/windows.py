"""Windows over the calls: any interval, per hour, per day, per agent group, per agent, working days.

A call belongs to the window in which it was offered (a call that starts at 23:59 and is answered after
midnight counts on the day it started), so every call is counted once whatever the cut. Hours and days are
local to ``service.timezone``; R-130 asks for hourly breakdowns ("分时") and daily reports 00:00-24:00.

:func:`breakdown` makes all the cuts in one pass over the summaries: each call is added to the tally of its
whole window, its hour, its day, its group and each agent its call rang.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, TypeVar

from callcenter.errors import CallcenterError
from callcenter.metrics.figures import Tally
from callcenter.metrics.summary import CallSummary, collector_paused

K = TypeVar("K")


class WindowError(CallcenterError):
    """A report window that cannot be computed (empty, reversed, or without a time zone)."""


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open interval ``[start, end)`` of aware datetimes."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise WindowError(f"window {self.start} – {self.end}: times need a UTC offset or time zone")
        if self.end <= self.start:
            raise WindowError(f"window ends ({self.end.isoformat()}) before it starts ({self.start.isoformat()})")

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def label(self) -> str:
        return f"{self.start.isoformat()} – {self.end.isoformat()}"


def day_window(day: date, tz: tzinfo) -> Window:
    """00:00 to 24:00 local time of ``day`` (R-130: the daily report's period)."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    return Window(start, datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz))


@dataclass(frozen=True, slots=True)
class Selection:
    """Which calls of a window a report covers.

    ``working_days_only`` keeps calls offered on working days of the work-order calendar (Chinese statutory
    calendar with 调休 plus the site's days, ``callcenter.tickets.calendar``); ``working_hours`` (local
    start, end) further keeps calls offered in those hours of a working day.
    """

    group: str | None = None
    agent: str | None = None
    working_days_only: bool = False
    working_hours: tuple[time, time] | None = None

    def __post_init__(self) -> None:
        if self.working_hours is not None and not self.working_hours[0] < self.working_hours[1]:
            start, end = (t.isoformat("minutes") for t in self.working_hours)
            raise WindowError(f"working hours {start}-{end}: the end must be after the start")

    def matches(self, s: CallSummary, is_working_day: Callable[[date], bool] | None, tz: tzinfo) -> bool:
        if self.group is not None and s.group != self.group:
            return False
        if self.agent is not None and self.agent not in s.agents_rung:
            return False
        if (self.working_days_only or self.working_hours) and s.offered_at is not None:
            local = s.offered_at.astimezone(tz)
            if is_working_day is not None and not is_working_day(local.date()):
                return False
            if self.working_hours is not None:
                return self.working_hours[0] <= local.time() < self.working_hours[1]
        return True


ALL_CALLS = Selection()


@dataclass(slots=True)
class Breakdown:
    """Tallies of one window: the whole, per local hour, per local day, per group, per agent."""

    total: Tally
    hours: dict[datetime, Tally] = field(default_factory=dict)
    days: dict[date, Tally] = field(default_factory=dict)
    groups: dict[str, Tally] = field(default_factory=dict)
    agents: dict[str, Tally] = field(default_factory=dict)

    def as_dict(self, is_working_day: Callable[[date], bool] | None = None) -> dict[str, Any]:
        return {
            "total": self.total.figures(),
            "hours": [{"hour": h.isoformat(), **t.figures()} for h, t in sorted(self.hours.items())],
            "days": [
                {
                    "day": d.isoformat(),
                    "working_day": None if is_working_day is None else is_working_day(d),
                    **t.figures(),
                }
                for d, t in sorted(self.days.items())
            ],
            "groups": [{"group": g, **t.figures()} for g, t in sorted(self.groups.items())],
            "agents": [{"agent": a, **t.figures()} for a, t in sorted(self.agents.items())],
        }


def breakdown(
    summaries: Iterable[CallSummary],
    window: Window,
    tz: tzinfo,
    service_level_seconds: float,
    service_level_target: float,
    selection: Selection = ALL_CALLS,
    is_working_day: Callable[[date], bool] | None = None,
) -> Breakdown:
    """Tally the calls offered in ``window`` that match ``selection``, cut every way, in one pass.

    Each call is added once to the tally of its (local hour, group) cell and once per agent it rang; the
    hour, day, group and whole-window tallies are then sums of cells, so the cost grows with the calls and
    not with the number of cuts.
    """
    with collector_paused():
        return _breakdown(summaries, window, tz, service_level_seconds, service_level_target, selection,
                          is_working_day)


def _breakdown(
    summaries: Iterable[CallSummary],
    window: Window,
    tz: tzinfo,
    service_level_seconds: float,
    service_level_target: float,
    selection: Selection,
    is_working_day: Callable[[date], bool] | None,
) -> Breakdown:
    sl, target, focus = service_level_seconds, service_level_target, selection.agent
    cells: dict[tuple[datetime, str], Tally] = {}
    agents: dict[str, Tally] = {}
    start, end = window.start, window.end
    plain = selection == ALL_CALLS
    hour_of: dict[int, datetime] = {}  # UTC quarter-hour → local hour (few time-zone lookups a day)
    for s in summaries:
        offered = s.offered_at
        if offered is None or not start <= offered < end:
            continue
        if not plain and not selection.matches(s, is_working_day, tz):
            continue
        quarter = int(offered.timestamp()) // 900
        hour = hour_of.get(quarter)
        if hour is None:
            hour = hour_of[quarter] = _local_hour(offered, tz)
        key = (hour, s.group or "-")
        tally = cells.get(key)
        if tally is None:
            tally = cells[key] = Tally(sl, target, focus)
        tally.add(s)
        rung = s.agents_rung
        for agent in rung if len(rung) < 2 else dict.fromkeys(rung):  # an agent rung twice counts once
            if focus is not None and agent != focus:
                continue
            tally = agents.get(agent)
            if tally is None:
                tally = agents[agent] = Tally(sl, target, agent)
            tally.add(s)
    return _assemble(cells, agents, Tally(sl, target, focus))


def _local_hour(moment: datetime, tz: tzinfo) -> datetime:
    # Every zone's offset (and DST switch) is a whole number of quarter hours, so a UTC quarter hour lies
    # inside one local hour.
    return moment.astimezone(tz).replace(minute=0, second=0, microsecond=0)


def _tally_in(table: dict[K, Tally], key: K, like: Tally) -> Tally:
    tally = table.get(key)
    if tally is None:
        tally = table[key] = Tally(like.service_level_seconds, like.service_level_target, like.agent)
    return tally


def _assemble(cells: dict[tuple[datetime, str], Tally], agents: dict[str, Tally], total: Tally) -> Breakdown:
    result = Breakdown(total, agents=agents)
    for (hour, group), cell in sorted(cells.items()):
        total.merge(cell)
        _tally_in(result.hours, hour, total).merge(cell)
        _tally_in(result.days, hour.date(), total).merge(cell)
        _tally_in(result.groups, group, total).merge(cell)
    return result
