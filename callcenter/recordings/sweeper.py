"""The retention sweeper: purges recordings whose every retention rule has passed, in batches, crash-safe.

One batch is four short transactions, each safe to interrupt:

1. **claim** — one atomic UPDATE stamps up to ``sweep_batch`` due rows with this run's token
   (``SELECT … FOR UPDATE SKIP LOCKED`` inside it on PostgreSQL; SQLite's single writer makes the statement
   atomic). A claim older than ``claim_timeout_seconds`` belongs to a crashed sweeper and may be taken over, so
   two sweepers never work on one row and a dead one's rows are not lost.
2. **decide** — retention rules with fresh work-order facts; rows still held get their next review date and
   lose the claim; rows that may go are marked ``purging`` (the intent, committed before any unlink; a legal
   hold placed meanwhile wins because the mark requires ``legal_hold = false``).
3. **unlink** — the audio files go; a file already gone is fine (a previous run got that far).
4. **finish** — status ``purged``, a tombstone (who, when, why) and a ledger entry, in one transaction.

A crash between 3 and 4 leaves ``purging`` rows with their files gone; a crash between 2 and 3 leaves them with
the files present. Either way the next sweep takes the stale claim over, skips the decision (the intent is
committed) and redoes 3 and 4, which are idempotent. Dry runs read only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Table, and_, bindparam, false, func, insert, or_, select, update
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.logs import get_logger
from callcenter.recordings import layout
from callcenter.recordings.access import DELETE, PURGE, LedgerRecord, append_ledger
from callcenter.recordings.models import PURGED, PURGING, Recording, RecordingTombstone, RecordingWorkOrder
from callcenter.recordings.retention import (
    OPEN_ORDER_REVIEW,
    OrderFactsSource,
    RetentionDecision,
    RetentionPolicy,
    decide,
    normalised,
)
from callcenter.store import session_scope

log = get_logger(__name__)

# Test seam: called with a step name and the row ids at each commit point, so a test can "crash" there.
Checkpoint = Callable[[str, Sequence[int]], None]

_COLUMNS = (
    Recording.id,
    Recording.call_id,
    Recording.path,
    Recording.browser_path,
    Recording.sha256,
    Recording.bytes,
    Recording.status,
    Recording.ended_at,
    Recording.legal_hold,
)


@dataclass
class SweepReport:
    """What one sweep did (or, in a dry run, would do). Items are listed only with ``keep_items``."""

    dry_run: bool
    purged: int = 0
    deferred: int = 0
    errors: int = 0
    batches: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "purged" if not self.dry_run else "would_purge": self.purged,
            "deferred": self.deferred,
            "errors": self.errors,
            "batches": self.batches,
            "items": self.items,
        }


def remove_file(path: Path) -> None:
    """Unlink one stored file; a missing file means an earlier run already removed it."""
    path.unlink(missing_ok=True)


def _utc(at: datetime | None) -> datetime | None:
    if at is None or at.tzinfo is not None:
        return at
    return at.replace(tzinfo=UTC)


def _next_review(decision: RetentionDecision, now: datetime) -> datetime:
    """The deferred row's new retain_until; always after ``now`` unless a legal hold keeps the floor.

    A review date at or before ``now`` would hand the same row out again in this very run; this guard makes
    a run finite even if the database and Python ever disagreed about an instant.
    """
    review = decision.review_at(now)
    if review <= now and decision.held_by != "legal hold":
        return now + OPEN_ORDER_REVIEW
    return review


class Sweeper:
    """Purges due recordings of one database and recordings root; see the module docstring for the protocol."""

    def __init__(
        self,
        settings: Settings,
        order_facts: OrderFactsSource,
        *,
        actor: str = "sweeper",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        unlink: Callable[[Path], None] = remove_file,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.url = settings.database.url
        self.root = settings.recordings.root
        self.batch = settings.recordings.sweep_batch
        self.claim_timeout = timedelta(seconds=settings.recordings.claim_timeout_seconds)
        self.policy = RetentionPolicy.from_settings(settings)
        self.order_facts = order_facts
        self.actor = actor
        # SQLite compares timestamps as text: every instant sent to the database must be in UTC.
        self.clock: Callable[[], datetime] = lambda: clock().astimezone(UTC)
        self.unlink = unlink
        self.checkpoint = checkpoint or (lambda _step, _ids: None)

    # ------------------------------------------------------------------------------------------- public

    def run(self, now: datetime, *, dry_run: bool = False, keep_items: bool = True,
            max_batches: int | None = None) -> SweepReport:
        """Sweep every due recording (retention judged at ``now``); returns counts and, optionally, items."""
        now = now.astimezone(UTC)
        report = SweepReport(dry_run=dry_run)
        if dry_run:
            self._dry_run(now, report, keep_items)
            return report
        token = str(uuid.uuid4())
        # Bounded by what was due at the start (plus slack): every run ends, even if a row kept coming back.
        bound = self._count_due(now) // self.batch + 2
        max_batches = bound if max_batches is None else min(max_batches, bound)
        while report.batches < max_batches:
            ids = self._claim(token, now)
            if not ids:
                break
            report.batches += 1
            self._process(token, ids, now, report, keep_items, why_prefix="retention sweep")
        log.info("recordings sweep done", purged=report.purged, deferred=report.deferred, errors=report.errors)
        return report

    def purge_one(self, recording_id: int, now: datetime, *, actor: str, reason: str) -> RetentionDecision:
        """Purge one recording on an admin's request, under the same rules; returns the decision either way."""
        now = now.astimezone(UTC)
        token = str(uuid.uuid4())
        with session_scope(self.url) as s:
            claimed = cast("CursorResult[Any]", s.execute(
                update(Recording)
                .where(Recording.id == recording_id, Recording.status != PURGED, Recording.legal_hold.is_(False),
                       self._claimable())
                .values(purge_claim=token, purge_claimed_at=self.clock())
            )).rowcount
        report = SweepReport(dry_run=False)
        if not claimed:
            with session_scope(self.url) as s:
                row = s.get(Recording, recording_id)
                hold = bool(row and row.legal_hold)
            return RetentionDecision(None, ("legal hold (R-110)",) if hold else ("not purgeable now",),
                                     "legal hold" if hold else "purged or being purged")
        decisions = self._process(token, [recording_id], now, report, True, why_prefix=f"deleted by {actor}: {reason}",
                                  actor=actor)
        return decisions[recording_id]

    # ------------------------------------------------------------------------------------------ claiming

    def _claimable(self) -> Any:
        return or_(Recording.purge_claim.is_(None), Recording.purge_claimed_at < self.clock() - self.claim_timeout)

    def _due(self, now: datetime) -> Any:
        # "= false" (not "IS false") so PostgreSQL can use ix_recordings_due.
        return and_(Recording.legal_hold == false(), Recording.retain_until <= now)

    def _count_due(self, now: datetime) -> int:
        with session_scope(self.url) as s:
            return s.scalar(select(func.count()).select_from(Recording).where(self._due(now))) or 0

    def _claim(self, token: str, now: datetime) -> list[int]:
        due = and_(self._due(now), self._claimable())
        candidates = (
            select(Recording.id).where(due).order_by(Recording.retain_until).limit(self.batch)
            .with_for_update(skip_locked=True)
        )
        with session_scope(self.url) as s:
            # RETURNING gives exactly the rows this statement claimed: a row of ours left "purging" by a failed
            # unlink earlier in this run keeps its claim and is not handed out again until the claim times out.
            # The outer WHERE names only the claim (not the indexed due columns): SQLite then looks the
            # candidates up by primary key instead of scanning every due row again for each batch.
            ids = sorted(s.execute(
                update(Recording)
                .where(Recording.id.in_(candidates.scalar_subquery()), self._claimable())
                .values(purge_claim=token, purge_claimed_at=self.clock())
                .returning(Recording.id)
                .execution_options(synchronize_session=False)
            ).scalars())
        self.checkpoint("claimed", ids)
        return ids

    # ------------------------------------------------------------------------------------------ deciding

    def _decisions(self, s: Session, rows: Iterable[Any], now: datetime) -> dict[int, RetentionDecision]:
        rows = list(rows)
        links: dict[int, list[str]] = {}
        for rid, number in s.execute(
            select(RecordingWorkOrder.recording_id, RecordingWorkOrder.order_number).where(
                RecordingWorkOrder.recording_id.in_([r.id for r in rows])
            )
        ):
            links.setdefault(rid, []).append(number)
        numbers = sorted({n for ns in links.values() for n in ns})
        facts = {f.number: normalised(f) for f in self.order_facts(s, numbers)} if numbers else {}
        return {
            r.id: decide(
                ended_at=_utc(r.ended_at),
                linked_orders=links.get(r.id, []),
                facts=facts,
                legal_hold=bool(r.legal_hold),
                policy=self.policy,
            )
            for r in rows
        }

    def _process(self, token: str, ids: list[int], now: datetime, report: SweepReport, keep_items: bool,
                 *, why_prefix: str, actor: str | None = None) -> dict[int, RetentionDecision]:
        with session_scope(self.url) as s:
            rows = list(s.execute(select(*_COLUMNS).where(Recording.id.in_(ids), Recording.purge_claim == token)))
            decisions = self._decisions(s, rows, now)
            resumed = {r.id for r in rows if r.status == PURGING}
            go = [r.id for r in rows if r.id in resumed or decisions[r.id].allows(now)]
            stay = [r for r in rows if r.id not in set(go)]
            if stay:
                s.execute(
                    update(cast("Table", Recording.__table__))
                    .where(Recording.__table__.c.id == bindparam("rid"))
                    .values(retain_until=bindparam("review"), purge_claim=None, purge_claimed_at=None),
                    [{"rid": r.id, "review": _next_review(decisions[r.id], now)} for r in stay],
                )
            if go:
                s.execute(
                    update(Recording)
                    .where(Recording.id.in_(go), Recording.purge_claim == token,
                           or_(Recording.legal_hold.is_(False), Recording.status == PURGING))
                    .values(status=PURGING)
                    .execution_options(synchronize_session=False)
                )
            marked = set(s.execute(select(Recording.id).where(Recording.id.in_(go), Recording.status == PURGING,
                                                              Recording.purge_claim == token)).scalars())
        report.deferred += len(stay)
        if keep_items:
            report.items.extend(
                {"id": r.id, "call_id": r.call_id, "action": "kept", "why": decisions[r.id].explain(now)} for r in stay
            )
        self.checkpoint("marked", sorted(marked))
        gone = self._unlink_files([r for r in rows if r.id in marked], report, keep_items)
        self.checkpoint("unlinked", gone)
        self._finish(token, [r for r in rows if r.id in set(gone)], decisions, resumed, report, keep_items,
                     why_prefix=why_prefix, actor=actor or self.actor)
        self.checkpoint("finished", gone)
        return decisions

    # --------------------------------------------------------------------------------- unlinking, finishing

    def _unlink_files(self, rows: list[Any], report: SweepReport, keep_items: bool) -> list[int]:
        gone: list[int] = []
        folders: dict[str, str] = {}
        for r in rows:
            try:
                for rel in {r.path, r.browser_path} - {None}:
                    self.unlink(layout.resolve(self.root, rel, folders=folders))
            except OSError as exc:  # stays "purging" under our claim; a later sweep retries after the timeout
                report.errors += 1
                log.error("recording file not removed", recording_id=r.id, call_id=r.call_id, error=str(exc))
                if keep_items:
                    report.items.append({"id": r.id, "call_id": r.call_id, "action": "error", "why": str(exc)})
                continue
            gone.append(r.id)
        return gone

    def _finish(self, token: str, rows: list[Any], decisions: dict[int, RetentionDecision], resumed: set[int],
                report: SweepReport, keep_items: bool, *, why_prefix: str, actor: str) -> None:
        if not rows:
            return
        at = self.clock()
        why = {
            r.id: f"{why_prefix}{' (resumed after an interrupted sweep)' if r.id in resumed else ''}: "
            f"{decisions[r.id].explain()}"
            for r in rows
        }
        with session_scope(self.url) as s:
            done = set(s.execute(
                update(Recording)
                .where(Recording.id.in_([r.id for r in rows]), Recording.status == PURGING,
                       Recording.purge_claim == token)
                .values(status=PURGED, purged_at=at, retain_until=None, purge_claim=None, purge_claimed_at=None)
                .returning(Recording.id)
            ).scalars())
            finished = [r for r in rows if r.id in done]
            if not finished:
                return
            s.execute(
                insert(RecordingTombstone),
                [{"recording_id": r.id, "call_id": r.call_id, "path": r.path, "sha256": r.sha256, "bytes": r.bytes,
                  "purged_by": actor, "purged_at": at, "reason": why[r.id]} for r in finished],
            )
            # The sweeper's purges are "purge" entries; an admin's single deletion is a "delete" by that admin.
            by_sweeper = actor == self.actor
            append_ledger(s, [LedgerRecord(actor, "system" if by_sweeper else "admin", PURGE if by_sweeper else DELETE,
                                           r.id, True, why[r.id], at) for r in finished])
        report.purged += len(finished)
        if keep_items:
            report.items.extend(
                {"id": r.id, "call_id": r.call_id, "action": "purged", "why": why[r.id]} for r in finished
            )

    # ------------------------------------------------------------------------------------------- dry run

    def _dry_run(self, now: datetime, report: SweepReport, keep_items: bool) -> None:
        # Keyset pages in (retain_until, id) order: each page is a range read of ix_recordings_due.
        after: tuple[datetime, int] | None = None
        while True:
            stmt = select(*_COLUMNS, Recording.retain_until).where(self._due(now), Recording.status != PURGED)
            if after is not None:
                stmt = stmt.where(or_(Recording.retain_until > after[0],
                                      and_(Recording.retain_until == after[0], Recording.id > after[1])))
            with session_scope(self.url) as s:
                rows = list(s.execute(stmt.order_by(Recording.retain_until, Recording.id).limit(self.batch)))
                if not rows:
                    return
                decisions = self._decisions(s, rows, now)
            report.batches += 1
            after = (rows[-1].retain_until, rows[-1].id)
            for r in rows:
                d = decisions[r.id]
                goes = r.status == PURGING or d.allows(now)
                if goes:
                    report.purged += 1
                else:
                    report.deferred += 1
                if keep_items:
                    report.items.append({"id": r.id, "call_id": r.call_id, "path": r.path,
                                         "action": "would purge" if goes else "kept", "why": d.explain(now)})


async def sweep_periodically(
    settings: Settings,
    order_facts: OrderFactsSource,
    *,
    interval_seconds: float | None = None,
    actor: str = "sweeper",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_run: Callable[[datetime, datetime, str | None], object] | None = None,
) -> None:
    """Run a sweep every ``interval_seconds`` (default ``recordings.sweep_interval_seconds``) forever, each in a
    worker thread: a task for ``callcenter serve``; ``on_run(at, next_due, error)`` hears of every round (the
    health board's record, R-119).

    Safe beside other processes doing the same (claims); an error is logged and the next round tries again.
    """
    import asyncio

    interval = settings.recordings.sweep_interval_seconds if interval_seconds is None else interval_seconds

    sweeper = Sweeper(settings, order_facts, actor=actor, clock=clock)
    while True:
        moment: datetime | None = None
        error = None
        try:
            moment = clock()
            await asyncio.to_thread(sweeper.run, moment, keep_items=False)
        except Exception as exc:  # the database may be briefly unreachable; retention only ever waits longer
            error = str(exc) or type(exc).__name__
            log.exception("recordings sweep failed; retrying next round")
        if on_run is not None and moment is not None:
            on_run(moment, moment + timedelta(seconds=interval), error)
        await asyncio.sleep(interval)
