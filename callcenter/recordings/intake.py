"""Putting a recording into the store: its row before the file is written, a finished file processed into
its replay and compressed copies (only while the disk stays above its floor: they can be rebuilt), its hash
(R-116), and an imported file copied in without ever overwriting a stored one."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.recordings import layout
from callcenter.recordings.errors import RecordingError
from callcenter.recordings.models import READY, RECORDING, Recording
from callcenter.recordings.processing import ProcessingOptions, ProcessingResult, extension_for, process_recording
from callcenter.recordings.retention import RetentionPolicy, purge_allowed_from


def file_sha256(path: Path) -> str:
    """sha256 of a stored file, read in 1 MiB blocks (R-116: the checksum that shows tampering)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def insert_row(s: Session, call_id: str, started_at: datetime, fmt: str, rel: str, agent: str | None,
               caller: str | None, *, created_at: datetime, policy: RetentionPolicy) -> Recording:
    """The row of a recording about to be written; one recording per call (a second is refused)."""
    row = Recording(
        call_id=call_id, agent=agent, caller=caller, started_at=started_at, format=fmt, path=rel,
        status=RECORDING, confidential=False, legal_hold=False, created_at=created_at,
        # A lower bound until the call ends; a row never finished is re-reviewed, never purged (no end time).
        retain_until=purge_allowed_from(started_at, policy.retention_days, policy.tz),
    )
    s.add(row)
    try:
        s.flush()
    except IntegrityError:
        raise RecordingError(f"call {call_id} already has a recording") from None
    return row


def process_file(source: Path, rel: str, fmt: str, options: ProcessingOptions, root: Path, *,
                 room_for_copies: bool) -> tuple[ProcessingResult, str | None, str | None]:
    """Run processing; derived copies only while the disk stays above its floor (they can be rebuilt)."""
    browser_ext = extension_for(options.browser_format)
    wants_copies = room_for_copies
    browser_rel = None
    if browser_ext == fmt:
        browser_rel = rel
    elif wants_copies:
        browser_rel = str(layout.with_extension(rel, browser_ext))
    compressed_rel = None
    if options.compressed_format and wants_copies:
        ext = extension_for(options.compressed_format)
        compressed_rel = None if ext == fmt else str(layout.with_extension(rel, ext))
    result = process_recording(
        source,
        options,
        browser_target=layout.resolve(root, browser_rel) if browser_rel and browser_rel != rel else None,
        compressed_target=layout.resolve(root, compressed_rel) if compressed_rel else None,
    )
    if not wants_copies and result.status == READY:
        result = with_warning(result, "replay copy not written: disk below recordings.min_free_bytes")
    return result, browser_rel, compressed_rel


def store_result(row: Recording, result: ProcessingResult, source: Path, browser_rel: str | None,
                 compressed_rel: str | None, original: int | None, options: ProcessingOptions) -> None:
    """What processing found, onto the row: status, analysis, the replay copy, the stored file and its hash."""
    row.status = result.status
    row.status_reason = result.reason or ("; ".join(result.warnings) or None)
    if result.analysis is not None:
        row.analysis = result.analysis.as_dict()
        row.duration_seconds = result.analysis.duration_seconds
        row.silence_ratio = result.analysis.silence_ratio
    if browser_rel is not None and (browser_rel == row.path or result.browser_path is not None):
        row.browser_path, row.browser_format = browser_rel, options.browser_format
    if compressed_rel is not None and result.compressed_path is not None:
        row.path, row.format = compressed_rel, extension_for(options.compressed_format)
        row.original_bytes = original
        row.bytes, row.sha256 = result.compressed_bytes, file_sha256(result.compressed_path)
    elif source.exists():
        row.bytes, row.sha256 = original, file_sha256(source)


def with_warning(result: ProcessingResult, warning: str) -> ProcessingResult:
    from dataclasses import replace

    return replace(result, warnings=(*result.warnings, warning))


def copy_without_overwrite(source: Path, target: Path) -> None:
    """Copy via a temporary file and a hard link: an existing recording at ``target`` is never replaced."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        shutil.copyfile(source, tmp)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        try:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise
            except OSError:  # a volume without hard links: an exclusive create gives the same guarantee
                with tmp.open("rb") as src, target.open("xb") as out:
                    shutil.copyfileobj(src, out)
        except FileExistsError:
            raise RecordingError(f"{target.name} already exists in the recordings store; not overwritten") from None
    finally:
        tmp.unlink(missing_ok=True)
