"""Reading recording rows: by id or by call, the work orders linked to them, rows turned into
:class:`~callcenter.recordings.views.RecordingInfo` (a linked confidential order makes a recording confidential,
R-82), and the QA page's filters as SQL conditions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.recordings.access import Actor
from callcenter.recordings.errors import RecordingError, RecordingNotFound
from callcenter.recordings.models import CORRUPT, EMPTY, PURGED, PURGING, RECORDING, Recording, RecordingWorkOrder
from callcenter.recordings.retention import OrderFactsLike, OrderFactsSource, normalised
from callcenter.recordings.views import SILENT_SHARE, RecordingFilter, RecordingInfo, info_from_row


def aware(at: datetime, what: str) -> datetime:
    """``at`` in UTC; a naive time is refused (SQLite compares timestamps as text: every instant sent to the
    database must be in UTC)."""
    if at.tzinfo is None:
        raise RecordingError(f"{what} must carry a time zone (got {at.isoformat()})")
    return at.astimezone(UTC)


def get_row(s: Session, recording_id: int) -> Recording:
    row = s.get(Recording, recording_id)
    if row is None:
        raise RecordingNotFound(f"no recording with id {recording_id}")
    return row


def get_row_by_call(s: Session, call_id: str) -> Recording:
    row = s.scalar(select(Recording).where(Recording.call_id == call_id))
    if row is None:
        raise RecordingNotFound(f"no recording for call {call_id!r}")
    return row


def linked_orders(s: Session, ids: Iterable[int]) -> dict[int, list[str]]:
    """The work-order numbers linked to each recording, in the order they were linked."""
    out: dict[int, list[str]] = {}
    for rid, number in s.execute(select(RecordingWorkOrder.recording_id, RecordingWorkOrder.order_number)
                                 .where(RecordingWorkOrder.recording_id.in_(list(ids)))
                                 .order_by(RecordingWorkOrder.id)):
        out.setdefault(rid, []).append(number)
    return out


def order_facts_of(s: Session, numbers: Sequence[str], source: OrderFactsSource) -> dict[str, OrderFactsLike]:
    """The tickets side's facts of these orders (``source``: the service's order-facts source)."""
    if not numbers:
        return {}
    return {f.number: normalised(f) for f in source(s, sorted(set(numbers)))}


def info_of(s: Session, row: Recording, source: OrderFactsSource) -> RecordingInfo:
    return infos_of(s, [row], source)[0]


def infos_of(s: Session, rows: Sequence[Recording], source: OrderFactsSource) -> list[RecordingInfo]:
    """Rows to infos; a linked confidential order makes the recording confidential, cached on the row."""
    orders = linked_orders(s, [r.id for r in rows])
    facts = order_facts_of(s, [n for ns in orders.values() for n in ns], source)
    out = []
    for r in rows:
        numbers = tuple(orders.get(r.id, ()))
        confidential = bool(r.confidential) or any(facts[n].confidential for n in numbers if n in facts)
        if confidential and not r.confidential:
            r.confidential = True  # once confidential, the listing filter must hide it too
        out.append(info_from_row(r, numbers, confidential))
    return out


def filter_conditions(actor: Actor, f: RecordingFilter) -> list[Any]:
    """The QA page's filters as SQL conditions, after what the actor may see at all (own calls, R-82)."""
    c: list[Any] = []
    if actor.own_calls_only:
        c.append(Recording.agent.in_(actor.agent_names))
    if not actor.sees_confidential:
        c.append(Recording.confidential.is_(False))
    if f.agent is not None:
        c.append(Recording.agent == f.agent)
    if f.since is not None:
        c.append(Recording.started_at >= aware(f.since, "since"))
    if f.until is not None:
        c.append(Recording.started_at < aware(f.until, "until"))
    if f.disposition is not None:
        c.append(Recording.disposition == f.disposition)
    if f.work_order is not None:
        c.append(Recording.id.in_(select(RecordingWorkOrder.recording_id)
                                  .where(RecordingWorkOrder.order_number == f.work_order)))
    if not f.include_purged:
        c.append(Recording.status.not_in((PURGING, PURGED)))
    flag_conditions = {
        "held": Recording.legal_hold.is_(True),
        "confidential": Recording.confidential.is_(True),
        "corrupt": Recording.status == CORRUPT,
        "empty": Recording.status == EMPTY,
        "silent": Recording.silence_ratio >= SILENT_SHARE,
        "unprocessed": Recording.status == RECORDING,
    }
    c.extend(flag_conditions[flag] for flag in sorted(f.flags))
    return c
