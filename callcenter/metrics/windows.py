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


@dataclass(slots=True)
class Cells:
    """Tallies per (local hour, group) and per (local hour, agent): the pieces every cut is a sum of.

    A report adds a window's calls to one ``Cells`` and assembles it; the wallboard keeps the ended calls of
    the day in one (they no longer change) and assembles it with the few calls still in progress.
    """

    tz: tzinfo
    service_level_seconds: float
    service_level_target: float
    agent: str | None = None
    groups: dict[tuple[datetime, str], Tally] = field(default_factory=dict)
    agents: dict[tuple[datetime, str], Tally] = field(default_factory=dict)
    _hour_of: dict[int, datetime] = field(default_factory=dict)  # UTC quarter hour → local hour

    def hour(self, moment: datetime) -> datetime:
        """The local hour ``moment`` falls in; one time-zone lookup per quarter hour of the day."""
        # Every zone's offset (and DST switch) is a whole number of quarter hours, so a UTC quarter hour
        # lies inside one local hour.
        quarter = int(moment.timestamp()) // 900
        hour = self._hour_of.get(quarter)
        if hour is None:
            hour = self._hour_of[quarter] = moment.astimezone(self.tz).replace(minute=0, second=0, microsecond=0)
        return hour

    def _tally(self, table: dict[tuple[datetime, str], Tally], key: tuple[datetime, str], agent: str | None) -> Tally:
        tally = table.get(key)
        if tally is None:
            tally = table[key] = Tally(self.service_level_seconds, self.service_level_target, agent)
        return tally

    def add(self, s: CallSummary) -> None:
        """Count a call (it must have an offered time) in its hour's group cell and each agent it rang."""
        hour = self.hour(s.offered_at)  # type: ignore[arg-type]
        self._tally(self.groups, (hour, s.group or "-"), self.agent).add(s)
        rung = s.agents_rung
        if len(rung) == 1 and self.agent is None:  # most calls: one agent, no focus (the fast path)
            self._tally(self.agents, (hour, rung[0]), rung[0]).add(s)
        elif rung:
            for agent in self._agents_of(s):
                self._tally(self.agents, (hour, agent), agent).add(s)

    def remove(self, s: CallSummary) -> None:
        """Take back a call counted earlier with exactly this summary (``add`` in reverse)."""
        hour = self.hour(s.offered_at)  # type: ignore[arg-type]
        sl, target = self.service_level_seconds, self.service_level_target
        one = Tally(sl, target, self.agent).add_all([s])
        self._tally(self.groups, (hour, s.group or "-"), self.agent).merge(one, -1)
        for agent in self._agents_of(s):
            self._tally(self.agents, (hour, agent), agent).merge(Tally(sl, target, agent).add_all([s]), -1)

    def _agents_of(self, s: CallSummary) -> Iterable[str]:
        rung = s.agents_rung
        agents = rung if len(rung) < 2 else dict.fromkeys(rung)  # an agent rung twice counts once
        return agents if self.agent is None else [a for a in agents if a == self.agent]


def assemble(parts: Iterable[Cells], like: Cells, hours: Window | None = None) -> Breakdown:
    """Sum cells into the whole, per hour, per day, per group and per agent (only ``hours`` if given)."""
    total = Tally(like.service_level_seconds, like.service_level_target, like.agent)
    result = Breakdown(total)
    for part in parts:
        for (hour, group), cell in part.groups.items():
            if hours is None or hour in hours:
                total.merge(cell)
                _tally_in(result.hours, hour, total).merge(cell)
                _tally_in(result.days, hour.date(), total).merge(cell)
                _tally_in(result.groups, group, total).merge(cell)
        for (hour, agent), cell in part.agents.items():
            if hours is None or hour in hours:
                into = result.agents.get(agent)
                if into is None:
                    into = result.agents[agent] = Tally(total.service_level_seconds, total.service_level_target, agent)
                into.merge(cell)
    return result


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
    hour, day, group, agent and whole-window tallies are then sums of cells, so the cost grows with the
    calls and not with the number of cuts.
    """
    cells = Cells(tz, service_level_seconds, service_level_target, selection.agent)
    start, end = window.start, window.end
    plain = selection == ALL_CALLS
    with collector_paused():
        for s in summaries:
            offered = s.offered_at
            if offered is None or not start <= offered < end:
                continue
            if plain or selection.matches(s, is_working_day, tz):
                cells.add(s)
    return assemble((cells,), cells)


def _tally_in(table: dict[K, Tally], key: K, like: Tally) -> Tally:
    tally = table.get(key)
    if tally is None:
        tally = table[key] = Tally(like.service_level_seconds, like.service_level_target, like.agent)
    return tally
