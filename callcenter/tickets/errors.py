"""Typed errors of the work-order store and its SLA engine; each reads as one sentence naming the place."""

from __future__ import annotations

from callcenter.errors import CallcenterError


class TicketError(CallcenterError):
    """Any bad input or state of a work order."""


class UnknownCategoryError(TicketError):
    """A category or sub-category that section 4.2 (R-71, R-72) does not define."""


class NaiveTimestampError(TicketError):
    """A time without a UTC offset: work-order clocks need an instant, not a wall-clock reading."""


class InvalidPeriodError(TicketError):
    """A time range whose end is before its start."""


class UnknownOrderError(TicketError):
    """No work order with that number is visible to the asking role (confidential ones look absent, R-82)."""


class StaleOrderError(TicketError):
    """Someone else changed the order since it was read (optimistic version check); re-read and retry."""


class InvalidTransitionError(TicketError):
    """A status change the lifecycle of R-85 does not allow, or an action the order's state forbids."""


class SLAConfigError(TicketError):
    """An SLA policy, a site calendar entry or a ticket setting is wrong; the message names the key."""


class CalendarCoverageError(SLAConfigError):
    """A date outside the statutory calendar's years while ``tickets.unknown_year = "error"``."""


class CalendarCoverageWarning(UserWarning):
    """A deadline was computed for a year the statutory calendar does not know (documented fallback used)."""
