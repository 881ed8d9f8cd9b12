"""Deadlines across real 2026 calendar cases, each expected date worked out by hand from the State Council's
2026 holiday notice (the data chinese_calendar 1.11 carries):

    New Year     Jan 1-3 off, Sun Jan 4 worked
    Spring Fest. Feb 15-23 off (Feb 16 = New Year's Eve 除夕), Sat Feb 14 and Sat Feb 28 worked
    Mid-Autumn   Sep 25-27 off;  National Day Oct 1-7 off, Sun Sep 20 and Sat Oct 10 worked

Policy call_center_003 (R-78, R-79, R-101): first contact 45 min (wall clock), reply 2 working days, close 5
working days, callback 2 working days after closing, major complaint closed within 10 (calendar) days.
Counting (docs/design.md, Civil Code 201-203): the acceptance day is not counted; a period ends at 24:00 of its last
day (printed 23:59:59); a calendar-day period ending on a rest day moves to the end of the next working day.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from callcenter.tickets.calendar import WorkingCalendar
from callcenter.tickets.deadlines import SlaEngine, iso
from callcenter.tickets.errors import InvalidTransitionError, NaiveTimestampError, UnknownCategoryError
from callcenter.tickets.policies import PRESETS, policy

TZ = ZoneInfo("Asia/Shanghai")


def engine(name: str = "call_center_003", **calendar: object) -> SlaEngine:
    return SlaEngine(policy(name), WorkingCalendar(**calendar), TZ)  # type: ignore[arg-type]


def due(category: str, accepted: str, *, major: bool = False, closed: str | None = None,
        eng: SlaEngine | None = None) -> dict[str, str | None]:
    eng = eng or engine()
    closed_at = datetime.fromisoformat(closed) if closed else None
    return {d.name: iso(d.due_at, TZ) for d in eng.deadlines(category, major, datetime.fromisoformat(accepted),
                                                              closed_at)}


def test_afternoon_before_national_day() -> None:
    # Wed Sep 30 15:00. Oct 1-7 are holidays; Oct 8 (Thu) = WD1, Oct 9 (Fri) = WD2, Sat Oct 10 is a make-up
    # working day = WD3, Sun Oct 11 rest, Mon Oct 12 = WD4, Tue Oct 13 = WD5. First contact: 15:45 the same day.
    got = due("complaint", "2026-09-30T15:00+08:00")
    assert got == {
        "first_contact": "2026-09-30T15:45:00+08:00",
        "reply": "2026-10-09T23:59:59+08:00",
        "close": "2026-10-13T23:59:59+08:00",
        "callback": None,  # anchored on closing: unknown until the order is closed
    }


def test_on_a_make_up_saturday() -> None:
    # Sat Oct 10 2026 is a working day (调休) but the acceptance day is never counted: Mon Oct 12 = WD1,
    # Tue Oct 13 = WD2 (reply), Wed 14 WD3, Thu 15 WD4, Fri Oct 16 = WD5 (close).
    got = due("complaint", "2026-10-10T10:30+08:00")
    assert got["reply"] == "2026-10-13T23:59:59+08:00"
    assert got["close"] == "2026-10-16T23:59:59+08:00"


def test_a_make_up_saturday_counts_as_a_working_day_inside_the_period() -> None:
    # Accepted Sat Feb 14 2026 (make-up day). Feb 15-23 off. Tue Feb 24 = WD1, Wed 25 = WD2 (reply),
    # Thu 26 WD3, Fri 27 WD4, Sat Feb 28 (make-up) = WD5 → the close deadline falls on a Saturday.
    got = due("complaint", "2026-02-14T09:00+08:00")
    assert got["reply"] == "2026-02-25T23:59:59+08:00"
    assert got["close"] == "2026-02-28T23:59:59+08:00"


def test_on_chinese_new_years_eve() -> None:
    # Mon Feb 16 2026 20:00 (除夕, a holiday). The 45-minute clock is wall clock: 20:45 the same evening.
    # Working days resume Tue Feb 24 (WD1); reply Wed Feb 25 (WD2); close Sat Feb 28 (WD5, make-up day).
    got = due("complaint", "2026-02-16T20:00+08:00")
    assert got["first_contact"] == "2026-02-16T20:45:00+08:00"
    assert got["reply"] == "2026-02-25T23:59:59+08:00"
    assert got["close"] == "2026-02-28T23:59:59+08:00"


def test_on_a_friday_evening() -> None:
    # Fri Nov 20 2026 23:30: first contact crosses midnight to Sat 00:15 (wall clock). Friday not counted;
    # Mon Nov 23 WD1, Tue Nov 24 WD2 (reply), ... Fri Nov 27 WD5 (close).
    got = due("complaint", "2026-11-20T23:30+08:00")
    assert got["first_contact"] == "2026-11-21T00:15:00+08:00"
    assert got["reply"] == "2026-11-24T23:59:59+08:00"
    assert got["close"] == "2026-11-27T23:59:59+08:00"


def test_friday_evening_in_utc_is_still_friday_in_the_centre() -> None:
    # 2026-11-20T14:00Z is Fri 22:00 in Shanghai: the local day decides, not the UTC one.
    got = due("complaint", "2026-11-20T14:00+00:00")
    assert got["reply"] == "2026-11-24T23:59:59+08:00"


def test_major_complaint_across_the_spring_festival() -> None:
    # Thu Feb 12 2026: 10 calendar days → Sun Feb 22, inside the Feb 15-23 holiday (a rest day), so the period
    # ends with the next working day, Tue Feb 24 (Civil Code art. 203). Reply stays 2 WD: Fri 13 WD1, Sat 14
    # (make-up) WD2.
    got = due("complaint", "2026-02-12T10:00+08:00", major=True)
    assert got["close"] == "2026-02-24T23:59:59+08:00"
    assert got["reply"] == "2026-02-14T23:59:59+08:00"


def test_major_complaint_across_national_day() -> None:
    # Thu Sep 24 2026: +10 days = Sun Oct 4 (holiday) → next working day Thu Oct 8.
    assert due("complaint", "2026-09-24T11:00+08:00", major=True)["close"] == "2026-10-08T23:59:59+08:00"


def test_major_complaint_ending_on_a_working_day_does_not_move() -> None:
    # Mon Nov 2 2026 + 10 days = Thu Nov 12, a working day.
    assert due("complaint", "2026-11-02T09:00+08:00", major=True)["close"] == "2026-11-12T23:59:59+08:00"


def test_callback_counts_from_closing() -> None:
    # Closed Tue Sep 29 2026 → Wed Sep 30 WD1, then Oct 1-7 off, Thu Oct 8 WD2.
    got = due("complaint", "2026-09-21T09:00+08:00", closed="2026-09-29T16:00+08:00")
    assert got["callback"] == "2026-10-08T23:59:59+08:00"


def test_opinions_get_one_working_day_for_contact() -> None:
    # 003:163: opinion-box items → contact within 1 working day. Fri Sep 18 → Sun Sep 20 is a make-up working
    # day (National Day 调休), so WD1 is Sunday Sep 20.
    assert due("opinion", "2026-09-18T10:00+08:00")["first_contact"] == "2026-09-20T23:59:59+08:00"


def test_site_holiday_and_site_workday_override_the_statutory_calendar() -> None:
    # Site closes Mon Nov 23 2026 and works Sat Nov 28: Fri Nov 20 → Tue 24 WD1, Wed 25 WD2 (reply),
    # Thu 26 WD3, Fri 27 WD4, Sat 28 WD5 (close).
    from datetime import date

    eng = engine(extra_holidays=frozenset({date(2026, 11, 23)}), extra_workdays=frozenset({date(2026, 11, 28)}))
    got = due("complaint", "2026-11-20T18:00+08:00", eng=eng)
    assert got["reply"] == "2026-11-25T23:59:59+08:00"
    assert got["close"] == "2026-11-28T23:59:59+08:00"


def test_presets_use_wall_clock_hours_where_the_source_says_hours() -> None:
    # management_002: reply within 24 h (002:181) — wall clock, straight through the National Day holiday.
    got = due("complaint", "2026-09-30T15:00+08:00", eng=engine("management_002"))
    assert got["reply"] == "2026-10-01T15:00:00+08:00"
    # 3 working days (002:205): Oct 8, 9, 10 (make-up Saturday).
    assert got["close"] == "2026-10-10T23:59:59+08:00"


def test_same_day_preset_ends_with_the_acceptance_day() -> None:
    got = due("complaint", "2026-11-20T09:00+08:00", eng=engine("same_day_002"))
    assert got["close"] == "2026-11-20T23:59:59+08:00"


def test_every_limit_states_its_clock() -> None:
    for p in PRESETS.values():
        for limit in p.limits:
            assert limit.clock in {"wall clock", "working days", "calendar days"}, (p.name, limit.name)


def test_other_offsets_are_accepted_and_printed_in_centre_time() -> None:
    accepted = datetime(2026, 9, 30, 7, 0, tzinfo=timezone(timedelta(hours=0)))  # 15:00 in Shanghai
    d = engine().deadlines("complaint", False, accepted)
    assert iso(d[0].due_at, TZ) == "2026-09-30T15:45:00+08:00"


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(NaiveTimestampError, match="no UTC offset"):
        engine().deadlines("complaint", False, datetime(2026, 9, 30, 15, 0))
    with pytest.raises(UnknownCategoryError, match="unknown category 'billing'"):
        engine().deadlines("billing", False, datetime(2026, 9, 30, 15, 0, tzinfo=TZ))
    with pytest.raises(InvalidTransitionError, match="cannot be major"):
        engine().deadlines("consultation", True, datetime(2026, 9, 30, 15, 0, tzinfo=TZ))


def test_a_malformed_policy_is_refused_with_its_name() -> None:
    from callcenter.tickets.errors import SLAConfigError
    from callcenter.tickets.policies import Limit, SlaPolicy, _check

    with pytest.raises(SLAConfigError, match="policy site, limit reply: unknown unit 'weeks'"):
        _check(SlaPolicy("site", "x", (Limit("reply", "答复", 1, "weeks"),)))
    with pytest.raises(SLAConfigError, match="limit close: two limits named close apply to"):
        _check(SlaPolicy("site", "x", (Limit("close", "a", 5, "working_days"), Limit("close", "b", 3, "days"))))
