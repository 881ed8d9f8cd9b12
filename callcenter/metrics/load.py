"""Reading the calls of a window from the timeline, whole: every event of every call offered in it.

``Timeline.between`` cuts by event time, which would split a call that crosses the end of the window (a call
offered at 23:59 and answered after midnight). Here a call is selected by its ``call.offered`` time and then
read with all its events, later ones included, so the call is summarised exactly once and completely.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from callcenter.calls import events as ev
from callcenter.calls.rings import RingCadence
from callcenter.calls.timeline import CallEventRecord, Timeline, TimelineEvent
from callcenter.errors import CallcenterError
from callcenter.metrics.summary import FOLDED_TYPES, CallSummary, summarise
from callcenter.metrics.windows import Window
from callcenter.store import engine_for

# How long after the window's end a call that started inside it may still write events (an in-memory
# timeline is read by time; a database one by call id and needs no horizon).
CALL_HORIZON = timedelta(hours=12)


class TimelineReadError(CallcenterError):
    """The call timeline's database cannot be read (unreachable, or not migrated)."""


def _event(row: Any) -> TimelineEvent:
    # SQLite hands back naive datetimes; the timeline stores UTC.
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
    return TimelineEvent(row.call_id, row.seq, row.type, at, row.offset, dict(row.data or {}), row.id)


def window_events(timeline: Timeline, window: Window) -> list[TimelineEvent]:
    """Every event the fold reads of every call offered in ``window``, each call's events in order."""
    if timeline.url is None:
        events = timeline.between(window.start, window.end + CALL_HORIZON)
        offered = {e.call_id for e in events if e.type == ev.CALL_OFFERED and e.at in window}
        return [e for e in events if e.call_id in offered]
    # SQLite keeps datetimes without their offset: compare in UTC, the timeline's own zone.
    start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
    calls = (
        select(CallEventRecord.call_id)
        .where(CallEventRecord.type == ev.CALL_OFFERED, CallEventRecord.at >= start, CallEventRecord.at < end)
        .scalar_subquery()
    )
    stmt = (
        select(CallEventRecord)
        .where(CallEventRecord.call_id.in_(calls), CallEventRecord.type.in_(sorted(FOLDED_TYPES)))
        .order_by(CallEventRecord.call_id, CallEventRecord.seq)
    )
    try:
        with engine_for(timeline.url).connect() as conn:
            return [_event(r) for r in conn.execute(stmt)]
    except SQLAlchemyError as exc:
        where = timeline.url.split("@")[-1]
        raise TimelineReadError(
            f"cannot read the call timeline at {where} ({type(getattr(exc, 'orig', None) or exc).__name__}); "
            "is the database up and migrated (callcenter db upgrade)?"
        ) from None


def load_summaries(timeline: Timeline, window: Window, cadence: RingCadence) -> list[CallSummary]:
    """The summaries of the calls offered in ``window`` (one read, one pass)."""
    return summarise(window_events(timeline, window), cadence)
