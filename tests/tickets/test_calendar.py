"""The working-day calendar: statutory data, site days, and the explicit fallback outside the known years."""

from __future__ import annotations

import warnings
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from callcenter.tickets.calendar import WorkingCalendar, parse_site_days
from callcenter.tickets.deadlines import SlaEngine, iso
from callcenter.tickets.errors import CalendarCoverageError, CalendarCoverageWarning, SLAConfigError
from callcenter.tickets.policies import policy

TZ = ZoneInfo("Asia/Shanghai")


def test_statutory_holidays_and_make_up_days() -> None:
    cal = WorkingCalendar()
    assert not cal.is_working_day(date(2026, 2, 16))  # 除夕, a holiday although a Monday
    assert cal.is_working_day(date(2026, 2, 14))  # Saturday worked (调休)
    assert cal.is_working_day(date(2026, 1, 4))  # Sunday worked (调休)
    assert cal.is_working_day(date(2026, 10, 8))  # Thu Oct 8: back to work
    assert cal.knows(date(2026, 12, 31)) and not cal.knows(date(2027, 1, 4))


def test_unknown_year_warns_once_falls_back_to_weekdays_and_marks_deadlines_provisional() -> None:
    eng = SlaEngine(policy("call_center_003"), WorkingCalendar(), TZ)
    with warnings.catch_warnings(record=True) as caught, capture_logs() as logs:
        warnings.simplefilter("always")
        # Thu Dec 30 2027 → Fri Dec 31 WD1, Mon Jan 3 2028 WD2 under the Mon-Fri fallback.
        first = eng.deadlines("complaint", False, datetime(2027, 12, 30, 10, 0, tzinfo=TZ))
        eng.deadlines("complaint", False, datetime(2027, 12, 30, 11, 0, tzinfo=TZ))
    reply = next(d for d in first if d.name == "reply")
    assert iso(reply.due_at, TZ) == "2028-01-03T23:59:59+08:00" and reply.provisional
    assert not next(d for d in first if d.name == "first_contact").provisional  # wall clock needs no calendar
    coverage = [w for w in caught if issubclass(w.category, CalendarCoverageWarning)]
    assert {str(w.message).split(":")[0] for w in coverage} == {
        "the statutory calendar has no data for 2027",
        "the statutory calendar has no data for 2028",
    }
    assert len(coverage) == 2  # once per year, not per deadline or per order
    assert [e["year"] for e in logs if e["event"] == "calendar.year_unknown"] == [2027, 2028]


def test_deadline_inside_known_years_is_not_provisional_even_near_the_edge() -> None:
    eng = SlaEngine(policy("call_center_003"), WorkingCalendar(), TZ)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning may be issued
        got = eng.deadlines("complaint", False, datetime(2026, 12, 24, 10, 0, tzinfo=TZ))
    assert not any(d.provisional for d in got)


def test_a_period_running_into_an_unknown_year_is_provisional() -> None:
    eng = SlaEngine(policy("call_center_003"), WorkingCalendar(), TZ)
    with pytest.warns(CalendarCoverageWarning):
        # Tue Dec 29 2026: WD1 Wed Dec 30, WD2 Thu Dec 31 (reply, known), close needs Jan 2027 (unknown).
        got = {d.name: d for d in eng.deadlines("complaint", False, datetime(2026, 12, 29, 10, 0, tzinfo=TZ))}
    assert not got["reply"].provisional
    assert got["close"].provisional


def test_site_configured_days_make_an_unknown_year_known() -> None:
    cal = WorkingCalendar(extra_holidays=frozenset({date(2027, 1, 1)}))
    assert cal.knows(date(2027, 1, 1)) and not cal.is_working_day(date(2027, 1, 1))


def test_error_mode_refuses_unknown_years() -> None:
    eng = SlaEngine(policy("call_center_003"), WorkingCalendar(unknown_year="error"), TZ)
    with pytest.raises(CalendarCoverageError, match="no data for 2027"):
        eng.deadlines("complaint", False, datetime(2027, 3, 1, 10, 0, tzinfo=TZ))


def test_bad_site_configuration_is_refused() -> None:
    with pytest.raises(SLAConfigError, match=r"tickets\.extra_holidays: '2026-13-01' is not an ISO date"):
        parse_site_days(["2026-13-01"], "tickets.extra_holidays")
    with pytest.raises(SLAConfigError, match="both list 2026-11-23"):
        WorkingCalendar(extra_holidays=frozenset({date(2026, 11, 23)}), extra_workdays=frozenset({date(2026, 11, 23)}))
    with pytest.raises(SLAConfigError, match=r"tickets\.unknown_year"):
        WorkingCalendar(unknown_year="guess")
    with pytest.raises(SLAConfigError, match=r"tickets\.policy: unknown SLA policy 'fast'"):
        policy("fast")
