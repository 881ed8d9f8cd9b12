"""The SLA engine: from a policy, a category, the major flag and an instant, the order's deadlines.

Counting follows docs/design.md (PRC Civil Code art. 201-203): a period in days starts the day after the anchor
day and ends at 24:00 of its last day; "N working days" ends with the N-th working day after the anchor day;
"N days" ends with the N-th calendar day after it, moved to the next working day when that is a rest day;
minutes and hours run on the wall clock from the anchor instant. Days are the centre's local days
(``service.timezone``). A day's end is stored as 23:59:59.999999 local time and printed as 23:59:59+08:00.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from callcenter.tickets.calendar import WorkingCalendar
from callcenter.tickets.categories import category as lookup_category
from callcenter.tickets.errors import InvalidTransitionError, NaiveTimestampError
from callcenter.tickets.policies import Limit, SlaPolicy
from callcenter.tickets.policies import policy as lookup_policy

END_OF_DAY = time(23, 59, 59, 999999)


@dataclass(frozen=True)
class Deadline:
    name: str
    title: str
    limit: str
    clock: str
    anchor: str
    due_at: datetime | None  # None: anchored on closing and the order is not closed yet
    provisional: bool  # computed through a year the statutory calendar does not know
    source: str

    def as_json(self, tz: ZoneInfo) -> dict[str, object]:
        return {
            "name": self.name,
            "title": self.title,
            "limit": self.limit,
            "clock": self.clock,
            "anchor": self.anchor,
            "due_at": iso(self.due_at, tz),
            "provisional": self.provisional,
            "source": self.source,
        }


def iso(moment: datetime | None, tz: ZoneInfo) -> str | None:
    """ISO 8601 in the centre's time zone, to the second (a day's end prints as 23:59:59)."""
    return None if moment is None else moment.astimezone(tz).isoformat(timespec="seconds")


def require_aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveTimestampError(f"{what}: {moment.isoformat()} has no UTC offset (use e.g. 2026-09-30T15:00+08:00)")
    return moment


def parse_instant(text: str, what: str) -> datetime:
    """Parse an ISO 8601 instant that must carry its offset."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise NaiveTimestampError(f"{what}: {text!r} is not an ISO 8601 time (e.g. 2026-09-30T15:00+08:00)") from None
    return require_aware(moment, what)


@dataclass
class SlaEngine:
    policy: SlaPolicy
    calendar: WorkingCalendar
    tz: ZoneInfo

    @classmethod
    def from_settings(cls, settings: object) -> SlaEngine:
        tickets = settings.tickets  # type: ignore[attr-defined]
        return cls(
            policy=lookup_policy(tickets.policy),
            calendar=WorkingCalendar.from_settings(tickets),
            tz=settings.service.tz,  # type: ignore[attr-defined]
        )

    def deadlines(
        self, category: str, major: bool, accepted_at: datetime, closed_at: datetime | None = None
    ) -> list[Deadline]:
        """Every deadline the policy gives this order; closing-anchored ones stay open until it is closed."""
        cat = lookup_category(category)
        if major and not cat.is_complaint:
            raise InvalidTransitionError(
                f"category {category!r} cannot be major: only complaints and reports are (R-76, R-79)"
            )
        require_aware(accepted_at, "accepted_at")
        if closed_at is not None:
            require_aware(closed_at, "closed_at")
        out = []
        for limit in self.policy.limits_for(category, major):
            anchor = accepted_at if limit.anchor == "accepted" else closed_at
            due, provisional = (None, False) if anchor is None else self.due(limit, anchor)
            out.append(
                Deadline(limit.name, limit.title, limit.text, limit.clock, limit.anchor, due, provisional, limit.source)
            )
        return out

    def due(self, limit: Limit, anchor: datetime) -> tuple[datetime, bool]:
        """One limit counted from one anchor instant; returns (due instant, provisional)."""
        if limit.unit == "minutes":
            return anchor + timedelta(minutes=limit.amount), False
        if limit.unit == "hours":
            return anchor + timedelta(hours=limit.amount), False
        anchor_day = anchor.astimezone(self.tz).date()
        if limit.unit == "working_days":
            last, provisional = self.calendar.nth_working_day_after(anchor_day, limit.amount)
        elif limit.amount == 0:
            # "The same day" is not a period (Civil Code 201 does not apply): it ends with the anchor day.
            last, provisional = anchor_day, not self.calendar.knows(anchor_day)
        else:
            last, provisional = self.calendar.working_day_on_or_after(anchor_day + timedelta(days=limit.amount))
        return self.end_of_day(last), provisional

    def end_of_day(self, day: date) -> datetime:
        return datetime.combine(day, END_OF_DAY, tzinfo=self.tz)
