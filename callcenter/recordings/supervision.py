"""Live monitoring in the access ledger (R-111, R-112, R-118): a supervisor listening in is an access like a
play, so each start, switch and end is one hash-chained entry naming the supervisor, the mode and the purpose.

The entry points at the call's recording when it has one (a live call's recording row exists from its
``recording.started``); its detail always names the call, so QA finds the entries on the call's review page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select

from callcenter.recordings.access import LedgerRecord, append_ledger
from callcenter.recordings.models import LedgerEntry, Recording
from callcenter.store import session_scope

MONITOR = "monitor"


def _call_tag(call_id: str) -> str:
    return f"call {call_id};"


def ledger_supervision(url: str, *, supervisor: str, role: str, call_id: str, event: str, mode: str,
                       purpose: str, at: datetime) -> int:
    """Append one monitoring entry (``event``: started, switched, ended); returns its sequence number."""
    detail = f"{event} {mode} {_call_tag(call_id)} purpose: {purpose}"
    with session_scope(url) as s:
        recording_id = s.scalar(select(Recording.id).where(Recording.call_id == call_id))
        return append_ledger(s, [LedgerRecord(supervisor, role, MONITOR, recording_id, True, detail, at)])[0]


def supervision_entries(url: str, call_id: str) -> list[dict[str, Any]]:
    """The monitoring entries of one call, oldest first, for its review page."""
    with session_scope(url) as s:
        recording_id = s.scalar(select(Recording.id).where(Recording.call_id == call_id))
        rows = s.scalars(select(LedgerEntry).where(
            LedgerEntry.action == MONITOR,
            or_(LedgerEntry.recording_id == recording_id, LedgerEntry.detail.contains(_call_tag(call_id))),
        ).order_by(LedgerEntry.seq)).all()
        return [{"seq": r.seq, "at": _iso(r.at), "actor": r.actor, "role": r.role, "detail": r.detail} for r in rows]


def _iso(at: datetime) -> str:
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).isoformat()  # SQLite hands back naive UTC
