"""What callers of the recordings service get back: filters, infos, pages, playback tickets (plain data).

Kept apart from :mod:`callcenter.recordings.service` so the web layer can type against these without the
service's machinery; ``service`` re-exports every name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, overload

from callcenter.recordings.models import CORRUPT, EMPTY, RECORDING, Recording

# QA flags a list can be filtered by (any combination; all must hold).
FLAGS = ("held", "confidential", "corrupt", "empty", "silent", "unprocessed")
# A recording that is silent for at least this share of its length is flagged "silent" (R-15 silent calls).
SILENT_SHARE = 0.9
MEDIA_TYPES = {
    "mp3": "audio/mpeg", "webm": "audio/webm", "wav": "audio/wav", "ogg": "audio/ogg", "opus": "audio/ogg",
    "flac": "audio/flac", "gsm": "audio/x-gsm", "ulaw": "audio/basic", "alaw": "audio/x-alaw-basic",
    "sln": "application/octet-stream",
}


@dataclass(frozen=True)
class RecordingFilter:
    """QA list filters; ``since``/``until`` bound the call start (``since <= started_at < until``)."""

    agent: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    disposition: str | None = None
    work_order: str | None = None
    flags: frozenset[str] = frozenset()
    include_purged: bool = False


@dataclass(frozen=True)
class RecordingInfo:
    """One recording as callers see it; ``file`` (absolute path) is for the telephony side, not for JSON."""

    id: int
    call_id: str
    agent: str | None
    caller: str | None
    disposition: str | None
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: float | None
    format: str
    path: str
    bytes: int | None
    sha256: str | None
    original_bytes: int | None
    browser_format: str | None
    status: str
    status_reason: str | None
    analysis: dict[str, Any] | None
    silence_ratio: float | None
    confidential: bool
    retain_until: datetime | None
    legal_hold: bool
    hold_reason: str | None
    purged_at: datetime | None
    work_orders: tuple[str, ...] = ()
    file: Path | None = field(default=None, compare=False)

    @property
    def saving(self) -> float | None:
        """Share of the recorded size saved by the compressed storage format, when one is used."""
        if not self.original_bytes or self.bytes is None:
            return None
        return round(1 - self.bytes / self.original_bytes, 4)

    @property
    def flags(self) -> tuple[str, ...]:
        """The QA flags that apply (see :data:`FLAGS`)."""
        out = []
        if self.legal_hold:
            out.append("held")
        if self.confidential:
            out.append("confidential")
        if self.status in (CORRUPT, EMPTY):
            out.append(self.status)
        if self.silence_ratio is not None and self.silence_ratio >= SILENT_SHARE:
            out.append("silent")
        if self.status == RECORDING:
            out.append("unprocessed")
        return tuple(out)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the web API and ``callcenter recordings show --json``."""

        def iso(at: datetime | None) -> str | None:
            return at.isoformat() if at else None

        return {
            "id": self.id, "call_id": self.call_id, "agent": self.agent, "caller": self.caller,
            "disposition": self.disposition, "started_at": iso(self.started_at), "ended_at": iso(self.ended_at),
            "duration_seconds": self.duration_seconds, "format": self.format, "path": self.path,
            "bytes": self.bytes, "sha256": self.sha256, "original_bytes": self.original_bytes,
            "saving": self.saving, "browser_format": self.browser_format, "status": self.status,
            "status_reason": self.status_reason, "analysis": self.analysis, "confidential": self.confidential,
            "retain_until": iso(self.retain_until), "legal_hold": self.legal_hold, "hold_reason": self.hold_reason,
            "purged_at": iso(self.purged_at), "work_orders": list(self.work_orders), "flags": list(self.flags),
        }


@dataclass(frozen=True)
class RecordingPage:
    """One page of :meth:`RecordingService.list`; ``total`` counts every match the actor may see."""

    items: tuple[RecordingInfo, ...]
    total: int
    page: int
    per_page: int

    def as_dict(self) -> dict[str, Any]:
        return {"items": [i.as_dict() for i in self.items], "total": self.total, "page": self.page,
                "per_page": self.per_page}


@dataclass(frozen=True)
class Playback:
    """What to stream (``path``, ``media_type``) after the access was written to the ledger (``ledger_seq``)."""

    recording: RecordingInfo
    path: Path
    media_type: str
    download: bool
    ledger_seq: int
    # The tag a downloaded or exported copy carries; ``path`` is then that copy, the caller's to remove.
    watermark: str | None = None


@overload
def as_utc(at: datetime) -> datetime: ...
@overload
def as_utc(at: None) -> None: ...
def as_utc(at: datetime | None) -> datetime | None:
    """UTC-aware (SQLite hands timestamps back naive; they were written as UTC)."""
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def info_from_row(r: Recording, orders: tuple[str, ...], confidential: bool) -> RecordingInfo:
    """A metadata row as callers see it; ``confidential`` is the effective flag (row or linked order)."""
    return RecordingInfo(
        id=r.id, call_id=r.call_id, agent=r.agent, caller=r.caller, disposition=r.disposition,
        started_at=as_utc(r.started_at) or r.started_at, ended_at=as_utc(r.ended_at),
        duration_seconds=r.duration_seconds, format=r.format, path=r.path, bytes=r.bytes, sha256=r.sha256,
        original_bytes=r.original_bytes, browser_format=r.browser_format, status=r.status,
        status_reason=r.status_reason, analysis=r.analysis, silence_ratio=r.silence_ratio, confidential=confidential,
        retain_until=as_utc(r.retain_until), legal_hold=bool(r.legal_hold), hold_reason=r.hold_reason,
        purged_at=as_utc(r.purged_at), work_orders=orders,
    )
