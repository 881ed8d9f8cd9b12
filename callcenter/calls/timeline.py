"""The call timeline: an append-only event log per call, the single source for panel, QA and metrics.

Adapters append events without waiting for the database (a call's path must not stall on a disk write);
:meth:`Timeline.flush` writes the buffered events in one batch, and only then are they published to
subscribers with their database ``id``. That ``id`` is the centre's sequence number the web hub sends with
each message, so a reconnecting page resumes with :meth:`Timeline.since` and sees every event exactly once.
On PostgreSQL every flush takes :data:`FLUSH_LOCK` before it draws ids, so several processes commit their
ids in id order, and announces its ids on :data:`CHANNEL` (:mod:`callcenter.calls.fanout` delivers them to
every process's pages). Events are never updated or deleted here.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.calls import events as ev
from callcenter.logs import get_logger
from callcenter.store import Base, engine_for

log = get_logger(__name__)

# Call ids per verification query: well under any driver's bound-parameter limit.
_IN_CHUNK = 500
# PostgreSQL: the notification channel of flushed ids, and the transaction-level advisory lock every flush
# holds from before it draws ids until it commits (ids then become visible in id order across processes).
CHANNEL = "callcenter_timeline"
FLUSH_LOCK = 0x63616C6C  # "call"


class CallEventRecord(Base):
    __tablename__ = "call_events"
    __table_args__ = (
        UniqueConstraint("call_id", "seq", name="uq_call_events_call_seq"),
        Index("ix_call_events_type_at", "type", "at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(48))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    offset: Mapped[float] = mapped_column(Float)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    call_id: str
    seq: int
    type: str
    at: datetime
    offset: float
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "call_id": self.call_id,
            "seq": self.seq,
            "type": self.type,
            "at": self.at.isoformat(),
            "offset": round(self.offset, 3),
            "data": self.data,
        }


def _renumbered(event: TimelineEvent, base: int) -> TimelineEvent:
    if not base:
        return event
    return TimelineEvent(event.call_id, event.seq + base, event.type, event.at, event.offset, event.data, event.id)


def _stored_counts(conn: Any, call_ids: set[str]) -> dict[str, int]:
    """The last stored seq of each of ``call_ids`` that has stored events (one query for all of them)."""
    counts: dict[str, int] = {}
    ordered = sorted(call_ids)
    for start in range(0, len(ordered), _IN_CHUNK):
        rows = conn.execute(
            select(CallEventRecord.call_id, func.max(CallEventRecord.seq))
            .where(CallEventRecord.call_id.in_(ordered[start:start + _IN_CHUNK]))
            .group_by(CallEventRecord.call_id)
        )
        counts.update({call_id: int(last) for call_id, last in rows if last})
    return counts


def _from_row(row: Any) -> TimelineEvent:
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
    return TimelineEvent(row.call_id, row.seq, row.type, at, row.offset, dict(row.data or {}), row.id)


class Timeline:
    """Buffered writer, reader and publisher of call events for one database URL (None: memory only)."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self._pending: list[TimelineEvent] = []
        self._seqs: dict[str, itertools.count[int]] = {}
        self._memory: list[TimelineEvent] = []
        self._subscribers: set[asyncio.Queue[TimelineEvent]] = set()
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._ended: set[str] = set()
        # Calls announced new (:meth:`expect_new`): numbered from 1 without a database read; the next flush
        # checks that in one query for all of them and renumbers after any stored events.
        self._unverified: set[str] = set()

    # ------------------------------------------------------------------ writing

    def append(
        self,
        call_id: str,
        type: str,
        data: dict[str, Any] | None = None,
        *,
        at: datetime | None = None,
        offset: float = 0.0,
    ) -> TimelineEvent:
        """Queue one event; it is durable after the next :meth:`flush`."""
        if type not in ev.ALL:
            raise ValueError(f"unknown timeline event type {type!r}")
        counter = self._seqs.get(call_id)
        if counter is None:
            counter = self._seqs[call_id] = itertools.count(self._next_seq(call_id))
        # SQLite keeps no offset: store every instant in UTC so a 23:00+08:00 event reads back as 15:00Z.
        if at is None:
            at = datetime.now(UTC)
        elif at.tzinfo is not UTC:  # the adapters' instants are already UTC: no new object for those
            at = at.astimezone(UTC)
        event = TimelineEvent(call_id, next(counter), type, at, offset, data or {})
        self._pending.append(event)
        return event

    @property
    def backlog(self) -> int:
        """Events appended and not yet written (the health board's flusher figure, R-119)."""
        return len(self._pending)

    def expect_new(self, call_id: str) -> None:
        """The adapter is taking a call that should have no events yet (a fresh channel): its events are
        numbered from 1 without reading the database on the event loop at its first :meth:`append` (one
        blocking query per call was the largest cost of a call's start). The next flush verifies it, for every
        such call of the batch in one query, and if the call had stored events after all (a channel that
        re-entered the application) its events are renumbered after them, so no number is ever reused; only
        the seq of events returned by :meth:`append` before that flush is then provisional."""
        if call_id not in self._seqs:
            self._seqs[call_id] = itertools.count(1)
            self._unverified.add(call_id)

    def forget(self, call_id: str) -> None:
        """The call has ended: its sequence counter is dropped after the flush that makes its last events
        durable, so a long-running service keeps no state per past call. Dropping it earlier would let a late
        event restart the sequence from the database and collide with events still in the buffer."""
        self._ended.add(call_id)

    def _release_ended(self) -> None:
        buffered = {e.call_id for e in self._pending}
        for call_id in self._ended - buffered:
            self._seqs.pop(call_id, None)
            self._unverified.discard(call_id)
        self._ended &= buffered

    def _next_seq(self, call_id: str) -> int:
        # A call resumed after a restart (ARI reconcile) continues its own sequence.
        if self.url is None:
            return 1 + sum(1 for e in self._memory if e.call_id == call_id)
        with engine_for(self.url).connect() as conn:
            last = conn.execute(
                select(CallEventRecord.seq)
                .where(CallEventRecord.call_id == call_id)
                .order_by(CallEventRecord.seq.desc())
                .limit(1)
            ).scalar()
        return (last or 0) + 1

    async def flush(self) -> list[TimelineEvent]:
        """Write everything queued so far in one batch, then publish it; returns what was written."""
        async with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return []
            unverified = {e.call_id for e in batch if e.call_id in self._unverified}
            try:
                written, bases = await asyncio.to_thread(self._write, batch, unverified)
            except Exception:
                # Nothing is lost: the batch goes back in front of what arrived meanwhile.
                self._pending[:0] = batch
                log.exception("timeline flush failed; will retry", events=len(batch))
                raise
            self._verified(unverified, bases)
            self._release_ended()
        for event in written:
            for queue in tuple(self._subscribers):
                queue.put_nowait(event)
        return written

    def flush_sync(self) -> list[TimelineEvent]:
        """Synchronous flush for CLI tools and tests that run outside an event loop."""
        batch, self._pending = self._pending, []
        unverified = {e.call_id for e in batch if e.call_id in self._unverified}
        written, bases = self._write(batch, unverified) if batch else ([], {})
        self._verified(unverified, bases)
        self._release_ended()
        return written

    def _verified(self, call_ids: set[str], bases: dict[str, int]) -> None:
        """After a flush checked ``call_ids`` (see :meth:`expect_new`): a call found with ``bases[call_id]``
        stored events goes on after them, and its events buffered meanwhile are renumbered the same way."""
        self._unverified -= call_ids
        if not bases:
            return
        for call_id, base in bases.items():
            counter = self._seqs.get(call_id)
            if counter is not None:
                self._seqs[call_id] = itertools.count(next(counter) + base)
        self._pending = [_renumbered(e, bases.get(e.call_id, 0)) for e in self._pending]

    def _write(self, batch: list[TimelineEvent], unverified: set[str]) -> tuple[list[TimelineEvent], dict[str, int]]:
        """Store ``batch``; returns it with ids, and the stored-event counts found for ``unverified`` calls
        (only the non-zero ones: by those the batch's numbers were shifted)."""
        if self.url is None:
            bases = self._stored_counts_memory(unverified)
            written = [
                TimelineEvent(e.call_id, e.seq + bases.get(e.call_id, 0), e.type, e.at, e.offset, e.data,
                              next(self._ids))
                for e in batch
            ]
            self._memory.extend(written)
            return written, bases
        engine = engine_for(self.url)
        with engine.begin() as conn:
            centre = engine.dialect.name == "postgresql"
            if centre:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FLUSH_LOCK})
            bases = _stored_counts(conn, unverified)
            if bases:
                batch = [_renumbered(e, bases.get(e.call_id, 0)) for e in batch]
            rows = [
                {"call_id": e.call_id, "seq": e.seq, "type": e.type, "at": e.at, "offset": e.offset, "data": e.data}
                for e in batch
            ]
            stmt = insert(CallEventRecord).returning(CallEventRecord.id, sort_by_parameter_order=True)
            result = conn.execute(stmt, rows)
            ids = [r[0] for r in result]
            if centre:  # delivered at the commit, in commit order
                conn.execute(text("SELECT pg_notify(:channel, :ids)"),
                             {"channel": CHANNEL, "ids": f"{min(ids)}-{max(ids)}"})
        written = [
            TimelineEvent(e.call_id, e.seq, e.type, e.at, e.offset, e.data, i) for e, i in zip(batch, ids, strict=True)
        ]
        return written, bases

    def _stored_counts_memory(self, call_ids: set[str]) -> dict[str, int]:
        if not call_ids:
            return {}
        counts: dict[str, int] = {}
        for e in self._memory:
            if e.call_id in call_ids:
                counts[e.call_id] = max(counts.get(e.call_id, 0), e.seq)
        return counts

    async def run_flusher(self, interval: float = 0.05) -> None:
        """Flush forever every ``interval`` seconds; run as a task of ``callcenter serve``."""
        try:
            while True:
                await asyncio.sleep(interval)
                try:
                    await self.flush()
                except Exception:  # logged in flush; the events are kept for the next round
                    await asyncio.sleep(min(5.0, interval * 20))
        finally:
            if self._pending:
                await asyncio.shield(self.flush())

    # ------------------------------------------------------------------ reading

    def events(self, call_id: str) -> list[TimelineEvent]:
        """Every durable event of one call, in order."""
        if self.url is None:
            return [e for e in self._memory if e.call_id == call_id]
        with engine_for(self.url).connect() as conn:
            rows = conn.execute(
                select(CallEventRecord).where(CallEventRecord.call_id == call_id).order_by(CallEventRecord.seq)
            )
            return [_from_row(r) for r in rows]

    def since(self, after_id: int, limit: int = 1000, types: Iterable[str] | None = None) -> list[TimelineEvent]:
        """Durable events with ``id > after_id`` in id order: what a reconnecting subscriber missed."""
        wanted = set(types) if types else None
        if self.url is None:
            out = [e for e in self._memory if e.id is not None and e.id > after_id]
            return [e for e in out if wanted is None or e.type in wanted][:limit]
        stmt = select(CallEventRecord).where(CallEventRecord.id > after_id)
        if wanted:
            stmt = stmt.where(CallEventRecord.type.in_(wanted))
        with engine_for(self.url).connect() as conn:
            rows = conn.execute(stmt.order_by(CallEventRecord.id).limit(limit))
            return [_from_row(r) for r in rows]

    def last_id(self) -> int:
        """The highest durable id (0 for none): where a live follower starts."""
        if self.url is None:
            return max((e.id or 0 for e in self._memory), default=0)
        with engine_for(self.url).connect() as conn:
            return int(conn.execute(select(func.max(CallEventRecord.id))).scalar() or 0)

    def between(self, start: datetime, end: datetime) -> list[TimelineEvent]:
        """Durable events with ``start <= at < end`` in id order (metrics and reports)."""
        if self.url is None:
            return [e for e in self._memory if start <= e.at < end]
        with engine_for(self.url).connect() as conn:
            rows = conn.execute(
                select(CallEventRecord)
                .where(CallEventRecord.at >= start, CallEventRecord.at < end)
                .order_by(CallEventRecord.id)
            )
            return [_from_row(r) for r in rows]

    # ------------------------------------------------------------------ publishing

    def subscribe(self) -> asyncio.Queue[TimelineEvent]:
        queue: asyncio.Queue[TimelineEvent] = asyncio.Queue()
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[TimelineEvent]) -> None:
        self._subscribers.discard(queue)
