"""Which days are working days in the centre: the Chinese statutory calendar plus the site's own days.

Statutory holidays and the make-up working days (调休) come from the ``chinese_calendar`` package
(distribution ``chinesecalendar``), which only knows the years the State Council has published (2004-2026 in
1.11). Site-configured days (``tickets.extra_holidays`` / ``tickets.extra_workdays``, ISO dates) override it.

A date in a year the package does not know is never answered silently. With ``tickets.unknown_year =
"weekends"`` (the default) the documented fallback applies — Monday to Friday are working days, Saturday and
Sunday are rest days, site-configured days still override — a :class:`CalendarCoverageWarning` is issued and
logged once per year, and every deadline computed through such a day is marked ``provisional`` so a person
sees it may move when the year's schedule is published (add the days to the site lists, or upgrade the
package). With ``tickets.unknown_year = "error"`` such a date raises :class:`CalendarCoverageError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import chinese_calendar

from callcenter.logs import get_logger
from callcenter.tickets.errors import CalendarCoverageError, CalendarCoverageWarning, SLAConfigError

log = get_logger(__name__)

UNKNOWN_YEAR_MODES = ("weekends", "error")
# Longest run of rest days we accept before calling the calendar broken (the longest statutory break is 9 days).
MAX_REST_RUN = 60


def parse_site_days(values: Iterable[str], key: str) -> frozenset[date]:
    days = set()
    for value in values:
        try:
            days.add(date.fromisoformat(value.strip()))
        except ValueError:
            raise SLAConfigError(f"{key}: {value!r} is not an ISO date (YYYY-MM-DD)") from None
    return frozenset(days)


@dataclass
class WorkingCalendar:
    """Answers "is this a working day?" and counts working days, remembering any year it had to guess."""

    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    unknown_year: str = "weekends"
    _warned_years: set[int] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        if self.unknown_year not in UNKNOWN_YEAR_MODES:
            modes = " or ".join(UNKNOWN_YEAR_MODES)
            raise SLAConfigError(f"tickets.unknown_year: expected {modes}, got {self.unknown_year!r}")
        both = self.extra_holidays & self.extra_workdays
        if both:
            day = min(both).isoformat()
            raise SLAConfigError(f"tickets.extra_holidays and tickets.extra_workdays both list {day}")

    @classmethod
    def from_settings(cls, tickets: object) -> WorkingCalendar:
        return cls(
            extra_holidays=parse_site_days(getattr(tickets, "extra_holidays", ()), "tickets.extra_holidays"),
            extra_workdays=parse_site_days(getattr(tickets, "extra_workdays", ()), "tickets.extra_workdays"),
            unknown_year=getattr(tickets, "unknown_year", "weekends"),
        )

    def knows(self, day: date) -> bool:
        """True when the answer for ``day`` is authoritative (statutory data or a site-configured day)."""
        if day in self.extra_holidays or day in self.extra_workdays:
            return True
        return _statutory_is_workday(day) is not None

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_holidays:
            return False
        if day in self.extra_workdays:
            return True
        statutory = _statutory_is_workday(day)
        if statutory is not None:
            return statutory
        self._unknown(day)
        return day.weekday() < 5

    def nth_working_day_after(self, day: date, n: int) -> tuple[date, bool]:
        """The n-th working day after ``day`` (``day`` itself not counted, Civil Code art. 201).

        Returns the day and whether any day looked at was outside the known calendar (provisional).
        """
        provisional = False
        current = day
        counted = 0
        rest_run = 0
        while counted < n:
            current += timedelta(days=1)
            provisional |= not self.knows(current)
            if self.is_working_day(current):
                counted += 1
                rest_run = 0
            else:
                rest_run += 1
                if rest_run > MAX_REST_RUN:
                    raise SLAConfigError(f"tickets.extra_holidays: no working day for {MAX_REST_RUN} days after {day}")
        return current, provisional

    def working_day_on_or_after(self, day: date) -> tuple[date, bool]:
        """``day`` if it is a working day, else the next working day (Civil Code art. 203)."""
        provisional = not self.knows(day)
        if self.is_working_day(day):
            return day, provisional
        nxt, later = self.nth_working_day_after(day, 1)
        return nxt, provisional or later

    def _unknown(self, day: date) -> None:
        if self.unknown_year == "error":
            raise CalendarCoverageError(
                f"{day.isoformat()}: the statutory calendar has no data for {day.year} and tickets.unknown_year "
                f"is 'error'; list the year's days in tickets.extra_holidays/extra_workdays or upgrade chinesecalendar"
            )
        if day.year in self._warned_years:
            return
        self._warned_years.add(day.year)
        message = (
            f"the statutory calendar has no data for {day.year}: counting Monday-Friday as working days "
            f"(plus site-configured days); deadlines in {day.year} are provisional"
        )
        log.warning("calendar.year_unknown", year=day.year, fallback="weekends")
        warnings.warn(message, CalendarCoverageWarning, stacklevel=3)


def _statutory_is_workday(day: date) -> bool | None:
    """The package's answer, or None when it has no data for that year."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None
