"""The do-not-call list: numbers the centre never dials back (R-103 「不打扰客户」), who added them and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.callbacks.errors import CallbackError
from callcenter.callbacks.models import DoNotCall
from callcenter.callbacks.numbers import check_dialable, normalise


@dataclass(frozen=True)
class DncEntry:
    number: str
    reason: str
    added_by: str
    added_at: datetime


def add_number(session: Session, number: str, *, reason: str, by: str, at: datetime) -> DncEntry:
    value = check_dialable(number)
    reason = reason.strip()
    if not 1 <= len(reason) <= 200:
        raise CallbackError("do-not-call reason: 1 to 200 characters (why the customer is not to be called)")
    if not by.strip():
        raise CallbackError("do-not-call: say who adds the number")
    if session.get(DoNotCall, value) is not None:
        raise CallbackError(f"{value} is already on the do-not-call list")
    row = DoNotCall(number=value, reason=reason, added_by=by.strip(), added_at=at)
    session.add(row)
    session.flush()
    return DncEntry(row.number, row.reason, row.added_by, row.added_at)


def remove_number(session: Session, number: str) -> None:
    row = session.get(DoNotCall, normalise(number))
    if row is None:
        raise CallbackError(f"{normalise(number)!r} is not on the do-not-call list")
    session.delete(row)
    session.flush()


def list_numbers(session: Session) -> list[DncEntry]:
    rows = session.scalars(select(DoNotCall).order_by(DoNotCall.added_at, DoNotCall.number))
    return [DncEntry(r.number, r.reason, r.added_by, r.added_at) for r in rows]


def blocked(session: Session, number: str) -> str | None:
    """The reason ``number`` is on the list, or None."""
    row = session.get(DoNotCall, normalise(number))
    return None if row is None else row.reason
