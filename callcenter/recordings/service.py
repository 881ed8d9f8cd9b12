"""The recordings API the rest of the service calls (telephony adapters, the QA web page, the CLI).

- Telephony: :meth:`RecordingService.register_recording` when a call's recording starts (free-space check,
  row, file path for MixMonitor) and when it finishes (hash, pydub processing, retention floor).
- QA page: :meth:`~RecordingService.list` with filters and paging, :meth:`~RecordingService.get`,
  :meth:`~RecordingService.open_for_playback` (writes the access ledger), holds, deletion, work-order links.
- The pieces: ``intake`` (rows, processing, import copies), ``queries`` (rows to infos, QA filters),
  ``access`` (roles and the ledger), ``retention`` and ``sweeper`` (what may be purged, and purging).
- Every method opens its own short transaction; a refused attempt is written to the ledger in a transaction
  of its own before :class:`AccessDenied` is raised, so a caller's rollback cannot erase it (R-111, R-116).

All times are timezone-aware; the database keeps UTC.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, func, select, update

from callcenter.calls import events as ev
from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.logs import get_logger
from callcenter.recordings import layout, watermark
from callcenter.recordings.access import (
    DELETE,
    DOWNLOAD,
    EXPORT,
    HOLD,
    LIST,
    PLAY,
    Actor,
    LedgerRecord,
    LedgerVerdict,
    append_ledger,
    refusal,
    verify_ledger,
)
from callcenter.recordings.errors import (
    AccessDenied,
    RecordingError,
    RecordingRefused,
    RetentionHold,
)
from callcenter.recordings.intake import copy_without_overwrite, file_sha256, insert_row, process_file, store_result
from callcenter.recordings.models import (
    PURGED,
    PURGING,
    RECORDING,
    Recording,
    RecordingWorkOrder,
)
from callcenter.recordings.processing import ProcessingOptions
from callcenter.recordings.queries import (
    aware,
    filter_conditions,
    get_row,
    get_row_by_call,
    info_of,
    infos_of,
    linked_orders,
    order_facts_of,
)
from callcenter.recordings.requests import AccessRequests, ApprovalRefused
from callcenter.recordings.retention import (
    OrderFactsSource,
    RetentionDecision,
    RetentionPolicy,
    decide,
    default_order_facts,
    purge_allowed_from,
)
from callcenter.recordings.sweeper import Sweeper
from callcenter.recordings.views import (
    FLAGS,
    MEDIA_TYPES,
    SILENT_SHARE,
    Playback,
    RecordingFilter,
    RecordingInfo,
    RecordingPage,
    as_utc,
)
from callcenter.store import session_scope

log = get_logger(__name__)

__all__ = [
    "FLAGS",
    "MAX_PER_PAGE",
    "SILENT_SHARE",
    "Playback",
    "RecordingFilter",
    "RecordingInfo",
    "RecordingPage",
    "RecordingService",
    "file_sha256",
]

MAX_PER_PAGE = 200
ORDER_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


class RecordingService:
    """Recordings of one deployment (database + recordings root); see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        order_facts: OrderFactsSource | None = None,
        timeline: Timeline | None = None,
        disk_usage: Callable[[Path], Any] = shutil.disk_usage,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.url = settings.database.url
        self.root = settings.recordings.root
        self.order_facts = order_facts or default_order_facts()
        self.timeline = timeline
        self.disk_usage = disk_usage
        # SQLite compares timestamps as text: every instant sent to the database must be in UTC.
        self.clock: Callable[[], datetime] = lambda: clock().astimezone(UTC)
        self.policy = RetentionPolicy.from_settings(settings)
        self.requests = AccessRequests(self.url, clock)
        r = settings.recordings
        self.options = ProcessingOptions(
            browser_format=r.browser_format, browser_bitrate=r.browser_bitrate, compressed_format=r.compressed_format,
            silence_threshold_dbfs=r.silence_threshold_dbfs, silence_min_ms=r.silence_min_ms,
            waveform_points=r.waveform_points,
        )

    # ============================================================================ telephony: start / finish

    def register_recording(
        self,
        *,
        call_id: str,
        event: Literal["started", "finished"],
        at: datetime,
        format: str | None = None,
        agent: str | None = None,
        caller: str | None = None,
        disposition: str | None = None,
    ) -> RecordingInfo:
        """The telephony adapters' one entry point, called on ``recording.started`` and ``recording.finished``.

        ``started``: refuses (:class:`RecordingRefused` + a ``recording.refused`` alert event) when the disk is
        below ``recordings.min_free_bytes``; else creates the row and returns it with ``file``, the absolute
        path to record into. ``finished``: hashes and processes the file and sets the retention floor.
        """
        if event == "started":
            return self.start_recording(call_id, at, format=format, agent=agent, caller=caller)
        if event == "finished":
            return self.finish_recording(call_id, at, disposition=disposition, agent=agent)
        raise RecordingError(f"recording event {event!r}: expected 'started' or 'finished'")

    def start_recording(
        self, call_id: str, started_at: datetime, *, format: str | None = None, agent: str | None = None,
        caller: str | None = None,
    ) -> RecordingInfo:
        """Create the row of a recording about to be written; see :meth:`register_recording`."""
        layout.check_call_id(call_id)
        fmt = layout.check_extension(format or self.settings.recordings.format)
        started_at = aware(started_at, "started_at")
        self.ensure_space(call_id)
        rel = layout.relative_path(call_id, started_at, fmt, self.policy.tz)
        target = layout.resolve(self.root, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        with session_scope(self.url) as s:
            row = insert_row(s, call_id, started_at, fmt, str(rel), agent, caller, created_at=self.clock(),
                             policy=self.policy)
            info = info_of(s, row, self.order_facts)
        log.info("recording started", call_id=call_id, path=str(rel))
        return _with_file(info, target)

    def finish_recording(
        self, call_id: str, ended_at: datetime | None, *, disposition: str | None = None, agent: str | None = None
    ) -> RecordingInfo:
        """Hash and process a finished recording (never raises for bad audio: status corrupt/empty + reason).
        ``agent``: who took the call, when it was not known as the recording started (the IVR records from the
        answer, before any agent); QA filters recordings by it."""
        ended_at = aware(ended_at, "ended_at") if ended_at is not None else None
        with session_scope(self.url) as s:
            row = get_row_by_call(s, call_id)
            if row.status != RECORDING:  # finished twice (adapter retry): the first result stands
                return info_of(s, row, self.order_facts)
            row_id, rel, fmt, started_at = row.id, row.path, row.format, as_utc(row.started_at)
        source = layout.resolve(self.root, rel)
        result, browser_rel, compressed_rel = process_file(source, rel, fmt, self.options, self.root,
                                                        room_for_copies=self._space_for_copies())
        end = ended_at
        if end is None:
            seconds = result.analysis.duration_seconds if result.analysis else 0.0
            end = started_at + timedelta(seconds=seconds)
        original = source.stat().st_size if source.exists() else None
        with session_scope(self.url) as s:
            row = s.get_one(Recording, row_id)
            store_result(row, result, source, browser_rel, compressed_rel, original, self.options)
            row.ended_at = end
            row.disposition = disposition or row.disposition
            row.agent = row.agent or agent
            row.retain_until = purge_allowed_from(end, self.policy.retention_days, self.policy.tz)
            s.flush()
            info = info_of(s, row, self.order_facts)
        if compressed_rel is not None and result.compressed_path is not None:
            source.unlink(missing_ok=True)  # the row points at the verified compressed copy now
        log.info("recording finished", call_id=call_id, status=info.status, reason=info.status_reason,
                 seconds=info.duration_seconds)
        return _with_file(info, layout.resolve(self.root, info.path))

    def import_recording(
        self,
        source: Path,
        *,
        call_id: str,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
        order_numbers: Sequence[str] = (),
        agent: str | None = None,
        caller: str | None = None,
        disposition: str | None = None,
        by: str = "import",
    ) -> RecordingInfo:
        """Copy an existing audio file into the store (never overwriting), process it and link work orders."""
        source = Path(source)
        if not source.is_file():
            raise RecordingError(f"{source}: no such audio file")
        layout.check_call_id(call_id)
        fmt = layout.check_extension(source.suffix or "?")
        for number in order_numbers:
            _check_order_number(number)
        started_at = aware(started_at, "--at") if started_at else self.clock()
        self.ensure_space(call_id, need=source.stat().st_size)
        rel = layout.relative_path(call_id, started_at, fmt, self.policy.tz)
        target = layout.resolve(self.root, rel)
        with session_scope(self.url) as s:
            if s.scalar(select(Recording.id).where(Recording.call_id == call_id)) is not None:
                raise RecordingError(f"call {call_id} already has a recording")
        copy_without_overwrite(source, target)
        try:
            with session_scope(self.url) as s:
                insert_row(s, call_id, started_at, fmt, str(rel), agent, caller, created_at=self.clock(),
                           policy=self.policy)
        except RecordingError:
            target.unlink(missing_ok=True)  # our own fresh copy: the row that owns the call id is someone else's
            raise
        info = self.finish_recording(call_id, ended_at, disposition=disposition)
        for number in order_numbers:
            self.link_work_order(info.id, number, by=by)
        if order_numbers:
            with session_scope(self.url) as s:
                info = _with_file(info_of(s, get_row(s, info.id), self.order_facts), info.file or target)
        return info

    def ensure_space(self, call_id: str, need: int = 0) -> None:
        """Refuse a new recording when the recordings volume would drop below ``recordings.min_free_bytes``.

        Nothing stored is touched to make room (R-107 minimum retention; R-119 alarm): the refusal is an
        ERROR log line plus a ``recording.refused`` timeline event the supervisors' wallboard shows.
        """
        floor = self.settings.recordings.min_free_bytes
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            free = int(self.disk_usage(self.root).free)
        except OSError as exc:
            free, reason = 0, f"recordings root {self.root} is not usable: {exc.strerror or exc}"
        else:
            if free - need >= floor:
                return
            reason = f"{free} bytes free on {self.root}, below recordings.min_free_bytes ({floor} + {need} needed)"
        data = {"reason": reason, "free_bytes": free, "min_free_bytes": floor, "root": str(self.root)}
        if self.timeline is not None:
            self.timeline.append(call_id, ev.RECORDING_REFUSED, data, at=self.clock())
        log.error("ALERT recording refused", call_id=call_id, **data)
        raise RecordingRefused(f"recording of call {call_id} refused: {reason}")

    # ============================================================================ QA: list, get, play

    def list(self, actor: Actor, filters: RecordingFilter | None = None, *, page: int = 1,
             per_page: int = 50) -> RecordingPage:
        """Recordings the actor may see, newest call first, ``per_page`` (≤ 200) at a time."""
        filters = filters or RecordingFilter()
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise RecordingError(f"page must be 1 or more and per_page 1 to {MAX_PER_PAGE}")
        unknown = set(filters.flags) - set(FLAGS)
        if unknown:
            raise RecordingError(f"unknown flag(s) {', '.join(sorted(unknown))}; expected {', '.join(FLAGS)}")
        conditions = filter_conditions(actor, filters)
        with session_scope(self.url) as s:
            total = s.scalar(select(func.count()).select_from(Recording).where(*conditions)) or 0
            rows = list(s.scalars(
                select(Recording).where(*conditions).order_by(Recording.started_at.desc(), Recording.id.desc())
                .offset((page - 1) * per_page).limit(per_page)
            ))
            infos = infos_of(s, rows, self.order_facts)
        # The cached flag may lag a work order that became confidential: the live facts decide.
        visible = tuple(i for i in infos if actor.sees_confidential or not i.confidential)
        return RecordingPage(visible, total - (len(infos) - len(visible)), page, per_page)

    def get(self, actor: Actor, recording_id: int, *, approval_id: int | None = None) -> RecordingInfo:
        """One recording's metadata and analysis; a refusal is ledgered and raised as :class:`AccessDenied`.
        An approval covering the recording (any action) lets its requester see it too."""
        with session_scope(self.url) as s:
            info = info_of(s, get_row(s, recording_id), self.order_facts)
        self._check(actor, LIST, info, approval_id)
        return info

    def get_by_call(self, actor: Actor, call_id: str) -> RecordingInfo:
        """Like :meth:`get`, by call id."""
        with session_scope(self.url) as s:
            recording_id = get_row_by_call(s, call_id).id
        return self.get(actor, recording_id)

    def open_for_playback(self, actor: Actor, recording_id: int, *, purpose: str, download: bool = False,
                          action: str | None = None, approval_id: int | None = None) -> Playback:
        """Authorise one play (browser copy), download (stored file) or export (WAV), ledgered with its purpose.

        What the role does not allow needs ``approval_id``, an approved request (R-111, R-112; see
        :mod:`~callcenter.recordings.requests`), checked here at every use. A download or an export is a new
        copy watermarked with the taker, the time and the approval (R-112), in a temporary folder the caller
        removes. Raises :class:`AccessDenied` (ledgered) when refused, and :class:`RecordingError` when the
        recording is purged or its file is missing (also ledgered).
        """
        action = action or (DOWNLOAD if download else PLAY)
        if action not in (PLAY, DOWNLOAD, EXPORT):
            raise RecordingError(f"action {action!r}: expected play, download or export")
        if not purpose or not purpose.strip():
            raise RecordingError("a purpose is required to play or download a recording (R-111)")
        with session_scope(self.url) as s:
            info = info_of(s, get_row(s, recording_id), self.order_facts)
        via = self._check(actor, action, info, approval_id)
        rel = info.path if action != PLAY or not info.browser_format else self._browser_rel(recording_id)
        path = layout.resolve(self.root, rel)
        if info.status in (PURGED, PURGING) or not path.is_file():
            why = f"purged on {info.purged_at:%Y-%m-%d}" if info.purged_at else "its audio file is missing"
            self._ledger(actor, action, recording_id, False, f"purpose: {purpose.strip()}; unavailable: {why}")
            raise RecordingError(f"recording {recording_id} (call {info.call_id}) cannot be played: {why}")
        mark = None
        if action != PLAY:
            mark = watermark.watermark_text(actor.name, self.clock(), approval_id or 0)
            path = watermark.stamp(path, mark, export=action == EXPORT, call_id=info.call_id)
            log.warning("recording copy handed out", recording_id=recording_id, by=actor.name, action=action,
                        watermark=mark)
        marked = f"; watermark: {mark}" if mark else ""
        seq = self._ledger(actor, action, recording_id, True, f"purpose: {purpose.strip()}{via}{marked}")
        ext = path.suffix.lstrip(".")
        return Playback(info, path, MEDIA_TYPES.get(ext, "application/octet-stream"), action != PLAY, seq, mark)

    # ============================================================================ holds, deletion, links

    def place_hold(self, actor: Actor, recording_id: int, *, reason: str) -> RecordingInfo:
        """Put a legal hold on a recording (R-110): no purge of any kind until it is released."""
        return self._set_hold(actor, recording_id, True, reason)

    def release_hold(self, actor: Actor, recording_id: int, *, reason: str) -> RecordingInfo:
        """Lift a legal hold; the retention rules apply again from then on."""
        return self._set_hold(actor, recording_id, False, reason)

    def delete(self, actor: Actor, recording_id: int, *, reason: str, now: datetime | None = None) -> RetentionDecision:
        """An admin's deletion of one recording: allowed only when every retention rule has passed (R-116)."""
        if not reason or not reason.strip():
            raise RecordingError("a reason is required to delete a recording")
        with session_scope(self.url) as s:
            info = info_of(s, get_row(s, recording_id), self.order_facts)
        self._check(actor, DELETE, info)
        if info.status in (PURGING, PURGED):
            raise RecordingError(f"recording {recording_id} (call {info.call_id}) is already purged")
        now = now or self.clock()
        sweeper = Sweeper(self.settings, self.order_facts, clock=self.clock)
        decision = sweeper.purge_one(recording_id, now, actor=actor.name, reason=reason.strip())
        if not decision.allows(now):
            self._ledger(actor, DELETE, recording_id, False, f"refused by retention: {decision.explain(now)}")
            raise RetentionHold(f"recording {recording_id} (call {info.call_id}) is kept: {decision.explain(now)}")
        return decision

    def link_work_order(self, recording_id: int, order_number: str, *, by: str) -> RecordingInfo:
        """Link a recording to a work order by number (idempotent); its confidentiality follows the order's."""
        _check_order_number(order_number)
        with session_scope(self.url) as s:
            row = get_row(s, recording_id)
            exists = s.scalar(select(RecordingWorkOrder.id).where(
                RecordingWorkOrder.recording_id == row.id, RecordingWorkOrder.order_number == order_number))
            if exists is None:
                s.add(RecordingWorkOrder(recording_id=row.id, order_number=order_number, linked_at=self.clock(),
                                         linked_by=by[:64]))
                s.flush()
            info = info_of(s, row, self.order_facts)
        log.info("recording linked to work order", recording_id=recording_id, order=order_number)
        return info

    def link_call(self, call_id: str, order_number: str, *, by: str) -> RecordingInfo:
        """:meth:`link_work_order` by call id (what the tickets side knows when it opens an order from a call)."""
        with session_scope(self.url) as s:
            recording_id = get_row_by_call(s, call_id).id
        return self.link_work_order(recording_id, order_number, by=by)

    def retention(self, recording_id: int) -> RetentionDecision:
        """Every retention rule applied to one recording with today's work-order facts (``show``, QA page)."""
        with session_scope(self.url) as s:
            row = get_row(s, recording_id)
            numbers = linked_orders(s, [row.id]).get(row.id, [])
            facts = order_facts_of(s, numbers, self.order_facts)
            return decide(ended_at=as_utc(row.ended_at), linked_orders=numbers, facts=facts,
                          legal_hold=row.legal_hold, policy=self.policy)

    def verify_ledger(self) -> LedgerVerdict:
        """Recompute the access ledger's hash chain; names the first edited, removed or moved entry."""
        with session_scope(self.url) as s:
            return verify_ledger(s)

    # ============================================================================ internals

    def _space_for_copies(self) -> bool:
        try:
            return int(self.disk_usage(self.root).free) >= self.settings.recordings.min_free_bytes
        except OSError:
            return False

    def _set_hold(self, actor: Actor, recording_id: int, hold: bool, reason: str) -> RecordingInfo:
        if not reason or not reason.strip():
            raise RecordingError("a reason is required to place or release a legal hold")
        with session_scope(self.url) as s:
            info = info_of(s, get_row(s, recording_id), self.order_facts)
        self._check(actor, HOLD, info)
        verb = "hold" if hold else "release"
        with session_scope(self.url) as s:
            # Guarded: the sweeper marks "purging" only without a hold, and a hold never lands on a purge in
            # progress, so exactly one of the two wins on a race.
            changed = cast("CursorResult[Any]", s.execute(
                update(Recording)
                .where(Recording.id == recording_id, Recording.status.not_in((PURGING, PURGED)))
                .values(legal_hold=hold, hold_reason=reason.strip() if hold else None,
                        hold_by=actor.name if hold else None, hold_at=self.clock() if hold else None)
            )).rowcount
            if changed:
                append_ledger(s, [LedgerRecord(actor.name, actor.role, HOLD, recording_id, True,
                                               f"{verb}: {reason.strip()}", self.clock())])
        if not changed:
            self._ledger(actor, HOLD, recording_id, False, f"{verb} refused: recording is purged or being purged")
            raise RecordingError(f"recording {recording_id} (call {info.call_id}) is purged or being purged")
        log.warning("recording legal hold " + ("placed" if hold else "released"), recording_id=recording_id,
                    by=actor.name, reason=reason.strip())
        with session_scope(self.url) as s:
            return info_of(s, get_row(s, recording_id), self.order_facts)

    def _check(self, actor: Actor, action: str, info: RecordingInfo, approval_id: int | None = None) -> str:
        """Raise (ledgered) unless the role or ``approval_id`` allows it; the ledger suffix naming the approval."""
        why = refusal(actor, action, agent=info.agent, confidential=info.confidential)
        if approval_id is not None:  # checked whenever given, so a forged or stale id never passes silently
            why = self.requests.refusal(actor, approval_id, info.id, None if action == LIST else action)
            if why is None:
                return f"; approval #{approval_id}"
        if why is not None:
            self._ledger(actor, action, info.id, False, f"denied: {why}")
            log.warning("recording access denied", recording_id=info.id, actor=actor.name, action=action, why=why)
            if approval_id is not None:
                raise ApprovalRefused(why)
            raise AccessDenied(f"{actor.name} may not {action} recording {info.id}: {why}; "
                               "an approved access request (申请调阅) allows it")
        return ""

    def _ledger(self, actor: Actor, action: str, recording_id: int | None, allowed: bool, detail: str) -> int:
        with session_scope(self.url) as s:
            return append_ledger(
                s, [LedgerRecord(actor.name, actor.role, action, recording_id, allowed, detail, self.clock())]
            )[0]

    def _browser_rel(self, recording_id: int) -> str:
        with session_scope(self.url) as s:
            row = get_row(s, recording_id)
            return row.browser_path or row.path


def _with_file(info: RecordingInfo, file: Path) -> RecordingInfo:
    from dataclasses import replace

    return replace(info, file=file)


def _check_order_number(number: str) -> str:
    if not isinstance(number, str) or not ORDER_NUMBER.match(number):
        raise RecordingError(f"work order number {number!r} is not valid (letters, digits, - and _, ≤ 32)")
    return number
