"""The retention floor: when, at the earliest, a recording may be purged (R-107, R-88, R-110; docs/design.md).

A recording may go only when ALL of these have passed:

- ``retention_days`` (≥ 183, the six-month floor) after the day the call ended;
- for every linked work order: ``retention_days`` after the day it was closed; an open order holds it;
- for every linked complaint order: ``complaint_retention_days`` (≥ 366, so at least one calendar year in
  every year, leap or not) after the day it was accepted (R-88: complaint records are kept a year);

and never while a legal hold is on it (R-110). A linked order the tickets service does not know is treated as
open: missing facts keep a recording, they never release it.

Days are counted the PRC Civil Code way, as docs/design.md decides for every period in days: the period starts the
day after the event (local date of the centre) and ends at 24:00 of its last day, so "183 days after a call
that ended on 10 January" keeps the file through 12 July and a purge is allowed from 00:00 on 13 July.

Work-order facts come from a callable (:data:`OrderFactsSource`), the real one being
``callcenter.tickets.service.linked_order_facts``; tests pass fakes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Protocol

from sqlalchemy.orm import Session

from callcenter.config import RETENTION_FLOOR_DAYS, Settings

# An open (or unknown) order is looked at again after this long; its eventual closing date decides then.
OPEN_ORDER_REVIEW = timedelta(days=1)


class OrderFactsLike(Protocol):
    """What retention and access need to know about one work order (``tickets.service.OrderFacts``)."""

    @property
    def number(self) -> str: ...
    @property
    def is_complaint(self) -> bool: ...
    @property
    def accepted_at(self) -> datetime: ...
    @property
    def closed_at(self) -> datetime | None: ...
    @property
    def confidential(self) -> bool: ...


# (session, order numbers) -> facts of the orders it knows; unknown numbers are simply absent.
OrderFactsSource = Callable[[Session, Sequence[str]], Sequence[OrderFactsLike]]


@dataclass(frozen=True)
class OrderFacts:
    """A plain OrderFactsLike, for tests and for callers without the tickets package."""

    number: str
    is_complaint: bool
    accepted_at: datetime
    closed_at: datetime | None = None
    confidential: bool = False


def normalised(order: OrderFactsLike) -> OrderFacts:
    """A copy with UTC-aware times (SQLite hands timestamps back naive; they were written as UTC)."""

    def utc(at: datetime) -> datetime:
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at

    return OrderFacts(
        number=order.number,
        is_complaint=bool(order.is_complaint),
        accepted_at=utc(order.accepted_at),
        closed_at=utc(order.closed_at) if order.closed_at is not None else None,
        confidential=bool(order.confidential),
    )


def default_order_facts() -> OrderFactsSource:
    """The work-order store's facts (:func:`callcenter.tickets.service.linked_order_facts`); tests pass fakes."""
    from callcenter.tickets.service import linked_order_facts

    return linked_order_facts


@dataclass(frozen=True)
class RetentionPolicy:
    """Retention periods in days and the centre's time zone (day boundaries are local)."""

    retention_days: int = RETENTION_FLOOR_DAYS
    complaint_retention_days: int = 366
    tz: tzinfo = UTC

    def __post_init__(self) -> None:
        # config.py refuses these at start-up; this guards programmatic callers too (the floor is not optional).
        if self.retention_days < RETENTION_FLOOR_DAYS:
            raise ValueError(f"retention_days {self.retention_days} is below the floor of {RETENTION_FLOOR_DAYS}")
        if self.complaint_retention_days < 366:
            raise ValueError("complaint_retention_days below one year (366 days)")

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            retention_days=settings.recordings.retention_days,
            complaint_retention_days=settings.recordings.complaint_retention_days,
            tz=settings.service.tz,
        )


def purge_allowed_from(event_at: datetime, days: int, tz: tzinfo) -> datetime:
    """First instant (UTC) after ``days`` whole local days following the day of ``event_at`` (Civil Code count)."""
    if event_at.tzinfo is None:
        raise ValueError("event time must be timezone-aware")
    last_kept_day = event_at.astimezone(tz).date() + timedelta(days=days)
    return datetime.combine(last_kept_day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class RetentionDecision:
    """When a recording may go (``purge_from``; None while something holds it) and why, rule by rule."""

    purge_from: datetime | None
    reasons: tuple[str, ...]
    held_by: str | None = None

    def allows(self, now: datetime) -> bool:
        """True when a purge at ``now`` breaks no rule."""
        return self.held_by is None and self.purge_from is not None and now >= self.purge_from

    def review_at(self, now: datetime) -> datetime:
        """When the sweeper should look again: the floor when it is known, else tomorrow (open order, no end).

        Under a legal hold the floor is kept: the sweeper skips held rows, and once the hold is released the
        recording is due again exactly when the other rules allow.
        """
        if self.purge_from is not None and self.held_by in (None, "legal hold"):
            return self.purge_from
        return max(self.purge_from or now, now + OPEN_ORDER_REVIEW)

    def explain(self, now: datetime | None = None) -> str:
        """One line for a tombstone, a listing or a refusal; with ``now``, says whether the floor has passed."""
        if self.held_by:
            head = f"held: {self.held_by}"
        elif now is not None and self.purge_from is not None and now < self.purge_from:
            head = "not yet: inside the retention floor"
        else:
            head = "all retention rules passed"
        return f"{head}; " + "; ".join(self.reasons)


def decide(
    *,
    ended_at: datetime | None,
    linked_orders: Sequence[str],
    facts: Mapping[str, OrderFactsLike],
    legal_hold: bool,
    policy: RetentionPolicy,
) -> RetentionDecision:
    """Apply every retention rule to one recording; ``facts`` maps order number to what tickets knows."""
    reasons: list[str] = []
    held_by: str | None = None
    if ended_at is None:
        return RetentionDecision(None, ("the call has no end time yet",), "call not ended")
    bounds = [purge_allowed_from(ended_at, policy.retention_days, policy.tz)]
    reasons.append(f"call ended {_day(ended_at, policy)}, kept {policy.retention_days} days")
    for number in sorted(set(linked_orders)):
        order = facts.get(number)
        if order is None:
            held_by = held_by or f"work order {number} is unknown"
            reasons.append(f"order {number}: unknown to tickets, treated as open")
            continue
        if order.closed_at is None:
            held_by = held_by or f"work order {number} is open"
            reasons.append(f"order {number}: open")
        else:
            bounds.append(purge_allowed_from(order.closed_at, policy.retention_days, policy.tz))
            reasons.append(f"order {number}: closed {_day(order.closed_at, policy)}, kept {policy.retention_days} days")
        if order.is_complaint:
            bounds.append(purge_allowed_from(order.accepted_at, policy.complaint_retention_days, policy.tz))
            reasons.append(
                f"complaint {number}: accepted {_day(order.accepted_at, policy)}, "
                f"kept {policy.complaint_retention_days} days"
            )
    if legal_hold:
        held_by = "legal hold"
        reasons.append("legal hold (R-110)")
    purge_from = max(bounds)
    reasons.append(f"earliest purge {purge_from.astimezone(policy.tz).isoformat()}")
    return RetentionDecision(purge_from, tuple(reasons), held_by)


def _day(at: datetime, policy: RetentionPolicy) -> str:
    return at.astimezone(policy.tz).date().isoformat()
