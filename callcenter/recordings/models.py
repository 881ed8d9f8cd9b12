"""The recordings tables: one metadata row per recording, its work-order links, purge tombstones, the ledger.

A recording row is never deleted: a purge removes the audio files and leaves the row (status ``purged``)
plus a :class:`RecordingTombstone` saying who purged it, when and why (R-116: deletions only by the retention
job, audited). The access ledger is append-only and hash-chained; :class:`LedgerHead` holds the chain's last
sequence number and hash so that appends from several processes serialise on one row and so that removing the
newest entries is detected too (see :mod:`callcenter.recordings.access`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store import Base

BigId = BigInteger().with_variant(Integer, "sqlite")

# Life of a recording row. "purging" is the sweeper's intent mark, committed before any file is unlinked, so a
# crash between unlink and row update leaves a state the next sweep recognises and finishes.
RECORDING = "recording"
READY = "ready"
CORRUPT = "corrupt"
EMPTY = "empty"
PURGING = "purging"
PURGED = "purged"
STATUSES = (RECORDING, READY, CORRUPT, EMPTY, PURGING, PURGED)


class Recording(Base):
    __tablename__ = "recordings"
    # The sweeper's query (legal_hold = false AND retain_until <= now ORDER BY retain_until) is one range scan
    # of this index: held rows and rows not yet due are never read, whatever their number.
    __table_args__ = (Index("ix_recordings_due", "legal_hold", "retain_until"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(64), unique=True)
    agent: Mapped[str | None] = mapped_column(String(64), index=True)
    caller: Mapped[str | None] = mapped_column(String(32))
    disposition: Mapped[str | None] = mapped_column(String(32), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    format: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(255))
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    # Size before the optional compressed storage format replaced the recorded file (the measured saving).
    original_bytes: Mapped[int | None] = mapped_column(BigInteger)
    browser_path: Mapped[str | None] = mapped_column(String(255))
    browser_format: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Loudness per channel, silence segments, waveform peaks (see processing.AudioAnalysis.as_dict).
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    silence_ratio: Mapped[float | None] = mapped_column(Float)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    # Not before this instant may the sweeper purge; NULL once purged. A lower bound, re-checked at sweep time.
    retain_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    hold_by: Mapped[str | None] = mapped_column(String(64))
    hold_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    purge_claim: Mapped[str | None] = mapped_column(String(36))
    purge_claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RecordingWorkOrder(Base):
    """A recording belongs to the work orders opened from its call (R-107), by order number."""

    __tablename__ = "recording_work_orders"
    __table_args__ = (UniqueConstraint("recording_id", "order_number", name="uq_recording_work_orders_pair"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    recording_id: Mapped[int] = mapped_column(BigId, ForeignKey("recordings.id", ondelete="CASCADE"), index=True)
    order_number: Mapped[str] = mapped_column(String(32), index=True)
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    linked_by: Mapped[str] = mapped_column(String(64))


class RecordingTombstone(Base):
    """Who purged a recording, when and why; one per purged recording (unique: a retried purge adds none)."""

    __tablename__ = "recording_tombstones"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    recording_id: Mapped[int] = mapped_column(BigId, ForeignKey("recordings.id"), unique=True)
    call_id: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(String(64))
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    purged_by: Mapped[str] = mapped_column(String(64))
    purged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text)


class LedgerEntry(Base):
    """One access-ledger entry; ``hash`` = sha256 over ``prev_hash`` and this entry's fields (R-111, R-116)."""

    __tablename__ = "recording_access_ledger"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    recording_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    allowed: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class LedgerHead(Base):
    """The single row (id 1) holding the ledger's last seq and hash; appends lock it, verify compares to it."""

    __tablename__ = "recording_ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class AccessRequest(Base):
    """A request to play, download or export recordings, and its decision (R-111, R-112, R-114).

    ``recording_ids`` is the bounded set the request covers (one recording, a list, or one call's recordings
    resolved when it is filed). A subject-access request (R-114, ``kind = "subject"``) also names the customer
    or employee it is for and how their identity was verified. Rows are never deleted; a decision or a
    revocation updates the row and is written to the access ledger.
    """

    __tablename__ = "recording_access_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    requester: Mapped[str] = mapped_column(String(64), index=True)
    requester_role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    recording_ids: Mapped[list[int]] = mapped_column(JSON)
    call_id: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(Text)
    subject_kind: Mapped[str | None] = mapped_column(String(16))
    subject_name: Mapped[str | None] = mapped_column(String(64))
    subject_contact: Mapped[str | None] = mapped_column(String(32))
    subject_verification: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoke_reason: Mapped[str | None] = mapped_column(Text)
